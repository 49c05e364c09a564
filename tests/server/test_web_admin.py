"""The admin area through Flask's test client: admins only; the modeller's validate and deploy
endpoints; instance actions; accounts, reference data, reminder policies and mail templates.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from notifications.models import NotificationTemplate, ReminderPolicy
from tests.server.api.world import world_app
from tests.server.test_web import csrf, login
from workflows.accounts.models import User
from workflows.engine.models import DecisionDefinition, Event, Instance, ProcessDefinition

KEY = "marche_clause_sociale"
PAGES = (
    "/admin/",
    "/admin/modeles",
    f"/admin/modeles/{KEY}/modeler",
    "/admin/modeles/nouveau",
    "/admin/decisions/part_main_oeuvre",
    "/admin/decisions/part_main_oeuvre/editeur",
    "/admin/instances",
    "/admin/instances?etat=running&processus=formulaire",
    "/admin/comptes",
    "/admin/organisations",
    "/admin/territoires",
    "/admin/relances",
    f"/admin/relances?processus={KEY}",
    "/admin/courriels",
    "/admin/courriels/retard",
    "/boite-envoi/",
)


def lifecycle(db) -> tuple[str, int]:
    with db.factory() as s:
        row = s.scalars(
            select(ProcessDefinition)
            .where(ProcessDefinition.key == KEY)
            .order_by(ProcessDefinition.version.desc())
        ).first()
        return row.bpmn_xml, row.version


def post_xml(client, path: str, xml: str, token: str | None):
    headers = {"Content-Type": "application/xml"}
    if token:
        headers["X-CSRF-Token"] = token
    return client.post(path, data=xml.encode(), headers=headers)


def test_the_admin_area_is_for_admins_only(db):
    with world_app(db) as (_app, client, _world):
        login(client, "facilitateur1")
        for path in PAGES[:-1]:
            page = client.get(path)
            assert page.status_code == 403, path
            assert "réservée aux administrateurs" in page.get_data(as_text=True)
        answer = post_xml(client, "/admin/modeles/valider", "<x/>", csrf(client))
        assert answer.status_code == 403
        assert "Administration" not in client.get("/").get_data(as_text=True)
        client.post("/deconnexion", data={"csrf": csrf(client)})

        login(client, "admin1")
        assert 'href="/admin/"' in client.get("/").get_data(as_text=True)
        for path in PAGES:
            page = client.get(path)
            assert page.status_code == 200, (path, page.get_data(as_text=True)[:2000])
        text = client.get("/admin/modeles").get_data(as_text=True)
        assert f"/admin/modeles/{KEY}/versions/1.bpmn" in text
        download = client.get(f"/admin/modeles/{KEY}/versions/1.bpmn")
        assert (
            download.status_code == 200 and "attachment" in download.headers["Content-Disposition"]
        )
        assert b"<bpmn:definitions" in download.data
        table = client.get("/admin/decisions/part_main_oeuvre").get_data(as_text=True)
        assert "<table" in table and "règle d'application : FIRST" in table
        assert client.get("/admin/decisions/inconnue").status_code == 404
        assert client.get(f"/admin/modeles/{KEY}/modeler?version=99").status_code == 404
        english = client.get("/admin/?lang=en").get_data(as_text=True)
        assert "Process models" in english and "Reminder policies" in english
        client.get("/admin/?lang=fr")


def test_validate_marks_the_faulty_elements_and_stores_nothing(db):
    with world_app(db) as (_app, client, _world):
        xml, version = lifecycle(db)
        _check_validation(client, xml)
    assert lifecycle(db)[1] == version


def _check_validation(client, xml: str) -> None:
    broken_condition = xml.replace(
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">',
        '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">__import__("os") and ',
        1,
    )
    missing_table = xml.replace('camunda:decisionRef="', 'camunda:decisionRef="absente_', 1)
    login(client, "admin1")
    token = csrf(client)
    assert post_xml(client, "/admin/modeles/valider", xml, None).status_code == 400
    answer = post_xml(client, "/admin/modeles/valider", xml, token)
    assert answer.status_code == 200 and answer.get_json() == {"ok": True, "problems": []}

    answer = post_xml(client, "/admin/modeles/valider", broken_condition, token).get_json()
    assert answer["ok"] is False
    (problem,) = answer["problems"]
    assert problem["element_ids"] == ["gw_disposition"]
    assert "refusé" in problem["message"]

    answer = post_xml(client, "/admin/modeles/valider", missing_table, token).get_json()
    assert answer["problems"][0]["element_ids"] == ["conseiller_disposition"]

    answer = post_xml(client, "/admin/modeles/valider", "<pas du xml", token).get_json()
    assert answer["ok"] is False and answer["problems"][0]["message"]


def test_deploy_makes_version_n_plus_1_audited_and_refuses_a_broken_diagram(db):
    with world_app(db) as (_app, client, _world):
        xml, version = lifecycle(db)
        changed = xml.replace('name="Marché avec clause sociale"', 'name="Marché (v2)"')
        broken = xml.replace('targetRef="analyse_amont"/>', 'targetRef="nulle_part"/>', 1)
        login(client, "admin1")
        token = csrf(client)
        answer = post_xml(client, "/admin/modeles/deployer", broken, token)
        assert answer.status_code == 422
        body = answer.get_json()
        assert body["ok"] is False and body["problems"][0]["element_ids"]

        answer = post_xml(client, "/admin/modeles/deployer", changed, token)
        assert answer.status_code == 201, answer.get_data(as_text=True)
        body = answer.get_json()
        assert (body["key"], body["version"], body["created"]) == (KEY, version + 1, True)
        assert f"Version {version + 1}" in body["message"]

        again = post_xml(client, "/admin/modeles/deployer", changed, token)
        assert again.status_code == 200 and again.get_json()["created"] is False
    with db.factory() as s:
        row = s.scalars(
            select(ProcessDefinition).where(
                ProcessDefinition.key == KEY, ProcessDefinition.version == version + 1
            )
        ).one()
        assert row.deployed_by == "admin1" and row.source_name == f"{KEY}.bpmn"
        event = s.scalars(
            select(Event).where(Event.kind == "definition.deployed", Event.actor == "admin1")
        ).one()
        assert event.data["version"] == version + 1


def act(client, instance_id: int, word: str, **form):
    return client.post(
        f"/admin/instances/{instance_id}/{word}",
        data={"csrf": csrf(client), **form},
        follow_redirects=True,
    )


def test_instance_actions_and_their_refusals(db):
    with world_app(db) as (_app, client, world):
        login(client, "admin1")
        own = world.own.instance_id
        page = act(client, own, "suspendre")
        assert f"Instance {own} suspendue" in page.get_data(as_text=True)
        refused = act(client, own, "suspendre")
        assert refused.status_code == 200
        assert "action impossible" in refused.get_data(as_text=True)
        assert f"Instance {own} reprise" in act(client, own, "reprendre").get_data(as_text=True)
        text = act(client, own, "relancer").get_data(as_text=True)
        assert "en erreur" in text and "fr-alert--error" in text
        text = act(client, own, "migrer").get_data(as_text=True)
        assert "déjà en version" in text
        text = act(client, own, "annuler", motif="").get_data(as_text=True)
        assert "Motif d&#39;annulation : obligatoire" in text
        stale = act(client, own, "suspendre", version="1")
        assert "périmée" in stale.get_data(as_text=True)
        assert client.post(f"/admin/instances/{own}/suspendre", data={}).status_code == 400
        assert act(client, 999_999, "suspendre").status_code == 404

        with db.factory() as s:  # an instance in error shows its element and message
            instance = s.get(Instance, world.foreign.instance_id)
            instance.status = "error"
            instance.error_message = "division par zéro"
            instance.error_element = "calculer_heures"
            s.commit()
        text = client.get("/admin/instances?etat=error").get_data(as_text=True)
        assert "division par zéro" in text and "calculer_heures" in text
        where = f"/admin/modeles/{KEY}/modeler?instance={world.foreign.instance_id}"
        assert where.replace("&", "&amp;") in text
        modeller = client.get(where).get_data(as_text=True)
        assert '"element_ids": ["calculer_heures"]' in modeller
        assert "division par z\\u00e9ro" in modeller or "division par zéro" in modeller
        text = act(client, own, "annuler", motif="Marché abandonné").get_data(as_text=True)
        assert f"Instance {own} annulée" in text
    with db.factory() as s:
        assert s.get(Instance, own).status == "cancelled"
        kinds = [
            (e.kind, e.actor)
            for e in s.scalars(select(Event).where(Event.instance_id == own).order_by(Event.id))
        ]
        assert ("instance.suspended", "admin1") in kinds
        assert ("instance.resumed", "admin1") in kinds
        assert ("instance.cancelled", "admin1") in kinds


def test_accounts_with_errors_inline_then_created_disabled_and_managed(db):
    with world_app(db) as (_app, client, world):
        login(client, "admin1")
        form = {"csrf": csrf(client), "login": "a b", "role": "acheteur", "email": "pas-une"}
        page = client.post("/admin/comptes", data=form)
        text = page.get_data(as_text=True)
        assert page.status_code == 422
        assert re.search(r'data-champ="email".*?adresse invalide', text, re.S)
        form["email"] = "lea@example.org"
        page = client.post("/admin/comptes", data=form)
        text = page.get_data(as_text=True)
        assert page.status_code == 422
        assert re.search(r'fr-input-group--error" data-champ="login"', text)
        assert "identifiant invalide" in text and "appartient à une organisation" in text
        assert 'value="lea@example.org"' in text  # what was typed is kept
        form.update(login="lea", organisation=str(world.own.buyer_id), password="court")
        page = client.post("/admin/comptes", data=form)
        assert page.status_code == 422 and "au moins 12" in page.get_data(as_text=True)
        form["password"] = "un-mot-de-passe-solide"
        assert client.post("/admin/comptes", data=form).status_code == 302

        with db.factory() as s:
            lea = s.scalars(select(User).where(User.login == "lea")).one()
        answer = client.post(
            f"/admin/comptes/{lea.id}/responsable",
            data={"csrf": csrf(client), "manager": "inconnu"},
            follow_redirects=True,
        )
        assert "Responsable : compte « inconnu » introuvable" in answer.get_data(as_text=True)
        answer = client.post(
            f"/admin/comptes/{lea.id}/responsable",
            data={"csrf": csrf(client), "manager": "acheteur1"},
            follow_redirects=True,
        )
        assert "a pour responsable acheteur1" in answer.get_data(as_text=True)
        answer = client.post(
            f"/admin/comptes/{lea.id}/desactiver",
            data={"csrf": csrf(client)},
            follow_redirects=True,
        )
        assert "désactivé" in answer.get_data(as_text=True)
        with db.factory() as s:
            me = s.scalars(select(User).where(User.login == "admin1")).one()
        answer = client.post(
            f"/admin/comptes/{me.id}/desactiver",
            data={"csrf": csrf(client)},
            follow_redirects=True,
        )
        assert "votre propre compte" in answer.get_data(as_text=True)
    with db.factory() as s:
        lea = s.scalars(select(User).where(User.login == "lea")).one()
        assert not lea.active and lea.manager.login == "acheteur1"
        kinds = {
            e.kind
            for e in s.scalars(select(Event).where(Event.actor == "admin1"))
            if (e.data or {}).get("login") == "lea"
        }
        assert kinds == {"user.created", "user.disabled", "user.manager_changed"}


def test_organisations_and_territories_refuse_bad_input_inline(db):
    with world_app(db) as (_app, client, _world):
        login(client, "admin1")
        form = {"csrf": csrf(client), "kind": "acheteur", "name": "", "siret": "123"}
        page = client.post("/admin/organisations", data=form)
        text = page.get_data(as_text=True)
        assert page.status_code == 422
        assert re.search(r'data-champ="name".*?obligatoire', text, re.S)
        form["name"] = "Ville de Vitry"
        text = client.post("/admin/organisations", data=form).get_data(as_text=True)
        assert re.search(r'data-champ="siret".*?14 chiffres', text, re.S)
        form["siret"] = "21940028000018"
        assert client.post("/admin/organisations", data=form).status_code == 302
        assert "Ville de Vitry" in client.get("/admin/organisations").get_data(as_text=True)

        form = {"csrf": csrf(client), "code": "T1", "name": "Doublon", "departements": "94, x"}
        text = client.post("/admin/territoires", data=form).get_data(as_text=True)
        assert "numéro de département invalide : X" in text
        form["departements"] = "94"
        text = client.post("/admin/territoires", data=form).get_data(as_text=True)
        assert re.search(r'data-champ="code".*?déjà pris', text, re.S)
        form["code"] = "VITRY"
        assert client.post("/admin/territoires", data=form).status_code == 302


def test_reminder_policy_and_mail_templates_refuse_errors_inline(db):
    with world_app(db) as (_app, client, _world):
        login(client, "admin1")
        form = {"csrf": csrf(client), "processus": KEY, "tache": "", "before_days": "deux"}
        page = client.post("/admin/relances", data=form)
        assert page.status_code == 422
        assert re.search(
            r'data-champ="before_days".*?nombre entier', page.get_data(as_text=True), re.S
        )
        form.update(before_days="2", escalate_to="coordinateur", on_due="false")
        assert client.post("/admin/relances", data=form).status_code == 302
        text = client.get(f"/admin/relances?processus={KEY}").get_data(as_text=True)
        assert "réglée" in text

        form = {
            "csrf": csrf(client),
            "subject": "En retard : {% if %}",
            "body_text": "Bonjour {{ name }}",
            "body_html": "<p>{{ task }}</p>",
            "action": "enregistrer",
        }
        page = client.post("/admin/courriels/retard", data=form)
        text = page.get_data(as_text=True)
        assert page.status_code == 422
        assert re.search(r'data-champ="subject".*?fr-error-text', text, re.S)
        form.update(subject="En retard : {{ task }}", action="apercu")
        text = client.post("/admin/courriels/retard", data=form).get_data(as_text=True)
        assert "Bonjour Camille Martin" in text and "En retard : Valider le calibrage" in text
        form["action"] = "enregistrer"
        assert client.post("/admin/courriels/retard", data=form).status_code == 302
        assert client.get("/admin/courriels/inconnu").status_code == 404
    with db.factory() as s:
        row = s.scalars(select(NotificationTemplate)).one()
        assert (row.kind, row.subject, row.updated_by) == (
            "retard",
            "En retard : {{ task }}",
            "admin1",
        )
        policy = s.scalars(select(ReminderPolicy)).one()
        assert (policy.before_days, policy.on_due, policy.escalate_to) == (
            2,
            False,
            "coordinateur",
        )


def test_a_decision_table_is_validated_then_deployed_with_the_processes_using_it(db):
    with world_app(db) as (_app, client, _world):
        _xml, version = lifecycle(db)
        login(client, "admin1")
        token = csrf(client)
        assert client.get("/admin/decisions/part_main_oeuvre/editeur").status_code == 200
        assert client.get("/admin/decisions/inconnue/editeur").status_code == 404
        with db.factory() as s:
            dmn = s.scalars(
                select(DecisionDefinition).where(DecisionDefinition.key == "part_main_oeuvre")
            ).one()
            source = dmn.dmn_xml
        path = "/admin/decisions/part_main_oeuvre"
        broken = source.replace('hitPolicy="FIRST"', 'hitPolicy="AU_HASARD"')
        answer = post_xml(client, f"{path}/valider", broken, token).get_json()
        assert answer["ok"] is False and "hitPolicy" in answer["problems"][0]["message"]
        assert answer["problems"][0]["element_ids"]
        assert post_xml(client, f"{path}/deployer", broken, token).status_code == 422

        changed = source.replace("<text>0.7</text>", "<text>0.72</text>", 1)
        assert changed != source
        answer = post_xml(client, f"{path}/valider", changed, token).get_json()
        assert answer == {"ok": True, "problems": []}
        answer = post_xml(client, f"{path}/deployer", changed, token)
        assert answer.status_code == 201, answer.get_data(as_text=True)
        body = answer.get_json()
        assert (body["key"], body["version"]) == ("part_main_oeuvre", 2)
        assert body["processes"] == [f"{KEY} v{version + 1}"]
        text = client.get(path).get_data(as_text=True)
        assert "0.72" in text
    with db.factory() as s:
        row = s.scalars(
            select(ProcessDefinition).where(
                ProcessDefinition.key == KEY, ProcessDefinition.version == version + 1
            )
        ).one()
        assert "0.72" in row.dmn_xml["part_main_oeuvre.dmn"] and row.deployed_by == "admin1"
