"""An account's manager: checked (exists, active, same organisation, no cycle), audited."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import delete, select

from server.cli import main
from tests.server.test_app import running_app
from workflows.access import SYSTEM
from workflows.accounts import service as accounts
from workflows.accounts.models import User
from workflows.engine.errors import FormInvalid
from workflows.engine.models import Event
from workflows.referentiel import service as referentiel

PASSWORD = "correct horse battery"


def org(session, name: str):
    return referentiel.create_organisation(
        session=session, actor=SYSTEM, kind="acheteur", name=name
    )


def people(session):
    creteil, other = org(session, "Ville de Créteil"), org(session, "Ville d'Alfortville")
    for login, organisation in (("alice", creteil), ("bruno", creteil), ("chef", creteil)):
        accounts.create(
            session=session, login=login, role="acheteur", organisation_id=organisation.id
        )
    accounts.create(session=session, login="autre", role="acheteur", organisation_id=other.id)
    accounts.create(session=session, login="ancien", role="acheteur", organisation_id=creteil.id)
    accounts.disable(session=session, login="ancien")
    return creteil


def refused(session, login, manager) -> str:
    with pytest.raises(FormInvalid) as caught:
        accounts.set_manager(session=session, login=login, manager=manager, actor="admin")
    assert list(caught.value.errors) == ["manager"]
    return caught.value.errors["manager"]


def test_a_manager_is_checked_and_the_change_audited(session):
    people(session)
    accounts.set_manager(session=session, login="alice", manager="bruno", actor="admin")
    accounts.set_manager(session=session, login="bruno", manager="chef", actor="admin")
    assert accounts.get_by_login(session=session, login="alice").manager.login == "bruno"
    assert "introuvable" in refused(session, "alice", "personne")
    assert "désactivé" in refused(session, "alice", "ancien")
    assert "même organisation" in refused(session, "alice", "autre")
    assert "cycle" in refused(session, "chef", "alice")  # alice → bruno → chef → alice
    assert "cycle" in refused(session, "chef", "chef")
    accounts.set_manager(session=session, login="alice", manager=None, actor="admin")
    assert accounts.get_by_login(session=session, login="alice").manager is None
    changes = session.scalars(
        select(Event.data).where(Event.kind == "user.manager_changed").order_by(Event.id)
    ).all()
    assert [(c["login"], c["old"], c["new"]) for c in changes] == [
        ("alice", None, "bruno"),
        ("bruno", None, "chef"),
        ("alice", "bruno", None),
    ]


def test_deleting_the_manager_leaves_the_account_without_one(session):
    people(session)
    accounts.set_manager(session=session, login="alice", manager="chef")
    session.commit()
    session.execute(delete(User).where(User.login == "chef"))
    session.commit()
    session.expire_all()
    alice = accounts.get_by_login(session=session, login="alice")
    assert alice.manager_id is None


def test_cli_user_add_with_a_manager_and_user_manager(db, monkeypatch):
    monkeypatch.setenv("CLAUSIER_DATABASE_URL", db.url)
    with db.factory() as s:
        people(s)
        s.commit()
    runner = CliRunner()

    def run(*args, code=0):
        result = runner.invoke(main, list(args))
        assert result.exit_code == code, result.output
        return result.output

    out = run("user", "add", "dora", "--role", "acheteur", "--org", "Ville de Créteil",
              "--manager", "chef")  # fmt: skip
    assert "responsable chef" in out
    assert "Responsable de alice : bruno." in run("user", "manager", "alice", "bruno")
    out = run("user", "manager", "alice", "autre", code=1)
    assert "manager" in out and "même organisation" in out and "Traceback" not in out
    assert "sans responsable" in run("user", "manager", "alice", "--none")
    run("user", "manager", "alice", code=2)
    with db.factory() as s:
        assert accounts.get_by_login(session=s, login="dora").manager.login == "chef"
        assert accounts.get_by_login(session=s, login="alice").manager is None


def test_api_shows_the_manager_and_lets_admins_set_it(db):
    with running_app(db) as app:
        with db.factory() as s:
            people(s)
            accounts.create(session=s, login="root", role="admin", password=PASSWORD)
            ids = {u.login: u.id for u in s.scalars(select(User))}
            tokens = {n: accounts.create_token(session=s, login=n)[1] for n in ("root", "alice")}
            s.commit()
        client = app.test_client()
        admin = {"Authorization": f"Bearer {tokens['root']}"}
        buyer = {"Authorization": f"Bearer {tokens['alice']}"}
        url = f"/api/v1/users/{ids['alice']}"
        response = client.patch(url, json={"manager": "chef"}, headers=admin)
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["manager"] == "chef"
        assert client.get("/api/v1/users/me", headers=buyer).get_json()["manager"] == "chef"
        listed = {u["login"]: u["manager"] for u in client.get("/api/v1/users", headers=admin).json}
        assert listed["alice"] == "chef" and listed["bruno"] is None
        # buyers may not change it, even their own
        assert client.patch(url, json={"manager": None}, headers=buyer).status_code == 403
        wrong = client.patch(url, json={"manager": "autre"}, headers=admin)
        assert wrong.status_code == 422 and "manager" in str(wrong.get_json())
        assert client.patch(url, json={}, headers=admin).status_code == 422
        assert (
            client.patch("/api/v1/users/999999", json={"manager": None}, headers=admin).status_code
            == 404
        )
        cleared = client.patch(url, json={"manager": None}, headers=admin).get_json()
        assert cleared["manager"] is None
