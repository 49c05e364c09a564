"""Web pages through Flask's test client: login, scoping, inbox actions, the task form.

Every test runs on SQLite and PostgreSQL (the `db` fixture) with the two-sided world: what
belongs to the other organisation or territory is never listed and answers 404 by URL.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from tests.server.api.world import PASSWORD, world_app
from workflows.engine.models import Event, HumanTask


def login(client, user: str):
    page = client.get("/connexion")
    token = re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    return client.post("/connexion", data={"csrf": token, "login": user, "password": PASSWORD})


def csrf(client) -> str:
    text = client.get("/").get_data(as_text=True)
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)


def tab_count(text: str, tab: str) -> int:
    return int(re.search(rf'data-onglet="{tab}"[^<]*<[^>]*data-count="(\d+)"', text, re.S).group(1))


def test_inbox_needs_a_login_and_shows_only_the_users_scope(db):
    with world_app(db) as (_app, client, world):
        assert client.get("/").status_code == 302
        assert login(client, "acheteur1").status_code == 302
        page = client.get("/")
        text = page.get_data(as_text=True)
        assert page.status_code == 200 and 'lang="fr"' in text
        assert "acheteur1 (Acheteur)" in text
        assert f'data-task="{world.own.task_id}"' in text
        assert f'data-task="{world.foreign.task_id}"' not in text
        assert f'data-task="{world.foreign.committee_task_id}"' not in text
        assert world.foreign.marche_ref not in text
        # the other side's task by URL, and any action on it: 404, as if absent
        assert client.get(f"/taches/{world.foreign.task_id}").status_code == 404
        token = csrf(client)
        for path in ("prendre", "rendre"):
            url = f"/taches/{world.foreign.task_id}/{path}"
            assert client.post(url, data={"csrf": token}).status_code == 404
        url = f"/taches/{world.foreign.task_id}"
        answer = client.post(url, data={"csrf": token, "action": "terminer"})
        assert answer.status_code == 404
        # a buyer sees no committee (no marché) at all, even its own territory's
        assert client.get(f"/taches/{world.own.committee_task_id}").status_code == 404


def test_claim_and_give_back_from_the_inbox_are_audited(db):
    with world_app(db) as (_app, client, world):
        login(client, "acheteur1")
        text = client.get("/").get_data(as_text=True)
        assert tab_count(text, "mes-taches") == 0 and tab_count(text, "mes-groupes") == 1
        url = f"/taches/{world.own.task_id}/prendre"
        assert client.post(url, data={}).status_code == 400  # no CSRF token
        answer = client.post(
            url, data={"csrf": csrf(client), "suivant": "https://ailleurs.example/"}
        )
        assert answer.status_code == 302 and answer.headers["Location"] == "/"
        text = client.get("/").get_data(as_text=True)
        assert "prise" in text and tab_count(text, "mes-taches") == 1
        answer = client.post(f"/taches/{world.own.task_id}/rendre", data={"csrf": csrf(client)})
        assert answer.status_code == 302
        assert tab_count(client.get("/").get_data(as_text=True), "mes-taches") == 0
        # a buyer may not assign: refused with a message, nothing changed
        answer = client.post(
            f"/taches/{world.own.task_id}/attribuer",
            data={"csrf": csrf(client), "utilisateur": "acheteur1"},
            follow_redirects=True,
        )
        assert "Réservé aux coordinations" in answer.get_data(as_text=True)
    with db.factory() as s:
        kinds = s.scalars(
            select(Event.kind).where(Event.instance_id == world.own.instance_id).order_by(Event.id)
        ).all()
        assert kinds[-2:] == ["task.claimed", "task.unclaimed"]
        assert s.get(HumanTask, world.own.task_id).assignee is None


def test_a_coordinator_assigns_and_an_unknown_login_is_refused(db):
    with world_app(db) as (_app, client, world):
        login(client, "coordinateur1")
        url = f"/taches/{world.own.task_id}/attribuer"
        answer = client.post(
            url, data={"csrf": csrf(client), "utilisateur": "inconnu"}, follow_redirects=True
        )
        assert "compte « inconnu » inconnu" in answer.get_data(as_text=True)
        answer = client.post(url, data={"csrf": csrf(client), "utilisateur": "acheteur1"})
        assert answer.status_code == 302
    with db.factory() as s:
        assert s.get(HumanTask, world.own.task_id).assignee == "acheteur1"


def test_task_form_errors_inline_values_kept_draft_then_complete(db):
    with world_app(db) as (_app, client, world):
        login(client, "admin1")
        task_url = f"/taches/{world.own.committee_task_id}"
        page = client.get(task_url).get_data(as_text=True)
        version = re.search(r'name="version" value="(\d+)"', page).group(1)
        assert 'id="objet"' in page and 'aria-required="true"' in page
        assert 'type="radio" id="accord_cadre-false"' in page  # booleans as Oui / Non
        assert "Au moins 3 caractères" in page  # constraints shown as hints
        sent = {"csrf": csrf(client), "version": version, "objet": "Ab", "montant": "cher"}
        answer = client.post(task_url, data={**sent, "action": "terminer"})
        text = answer.get_data(as_text=True)
        assert answer.status_code == 200
        objet = re.search(r'<div[^>]*data-champ="objet".*?</div>', text, re.S).group(0)
        assert "fr-input-group--error" in objet and "au moins 3 caractères" in objet
        assert 'value="Ab"' in objet  # what was typed stays
        nature = re.search(r'<div[^>]*data-champ="nature".*?</div>', text, re.S).group(0)
        assert "fr-select-group--error" in nature and "obligatoire" in nature
        # save as draft, find it again
        client.post(task_url, data={**sent, "action": "brouillon"})
        page = client.get(task_url).get_data(as_text=True)
        assert 'value="cher"' in page and "Brouillon enregistré le" in page
        # complete: back to the inbox with a confirmation
        good = {**sent, "objet": "Travaux de voirie", "montant": "1 200,50", "nature": "travaux"}
        answer = client.post(task_url, data={**good, "action": "terminer"})
        assert answer.status_code == 302 and answer.headers["Location"] == "/"
        assert "« Saisir le projet d&#39;achat » terminée" in client.get("/").get_data(as_text=True)
    with db.factory() as s:
        done = s.get(HumanTask, world.own.committee_task_id)
        assert done.state == "completed" and done.completed_by == "admin1"
        event = s.scalar(
            select(Event).where(
                Event.kind == "task.completed", Event.data["task_id"].as_string() == done.id
            )
        )
        assert event.data["data"]["montant"] == 1200.5


def test_a_stale_form_keeps_the_values_and_explains(db):
    with world_app(db) as (_app, client, world):
        login(client, "admin1")
        task_url = f"/taches/{world.own.committee_task_id}"
        page = client.get(task_url).get_data(as_text=True)
        version = int(re.search(r'name="version" value="(\d+)"', page).group(1))
        data = {"csrf": csrf(client), "version": str(version - 1), "action": "terminer"}
        data.update({"objet": "Mon objet", "montant": "10", "nature": "services"})
        answer = client.post(task_url, data=data)
        text = answer.get_data(as_text=True)
        assert answer.status_code == 200
        assert "modifié par quelqu&#39;un d&#39;autre" in text
        assert 'value="Mon objet"' in text
        assert f'name="version" value="{version}"' in text  # a second try may go through
    with db.factory() as s:
        assert s.get(HumanTask, world.own.committee_task_id).state == "open"
        drafts = s.scalars(select(Event).where(Event.kind == "task.draft")).all()
        assert drafts[-1].data["values"]["objet"] == "Mon objet"


def test_pages_in_english_on_request(db):
    with world_app(db) as (_app, client, _world):
        page = client.get("/connexion", headers={"Accept-Language": "en"})
        assert 'lang="en"' in page.get_data(as_text=True)
        assert "Password" in page.get_data(as_text=True)
        login(client, "acheteur1")
        text = client.get("/?lang=en").get_data(as_text=True)
        assert "My tasks" in text and "Sign out" in text
        text = client.get("/").get_data(as_text=True)  # the choice is kept
        assert "My tasks" in text
        assert "Mes tâches" in client.get("/?lang=fr").get_data(as_text=True)
