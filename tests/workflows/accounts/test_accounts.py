"""Accounts: hashed passwords, throttled logins, revocable tokens, the Actor they act as."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from server.cli import main
from workflows.access import SYSTEM
from workflows.accounts import service as accounts
from workflows.accounts.models import ApiToken, User
from workflows.engine import timers
from workflows.engine.errors import FormInvalid
from workflows.referentiel import service as referentiel

PASSWORD = "correct horse battery"


def buyer_org(session):
    return referentiel.create_organisation(
        session=session, actor=SYSTEM, kind="acheteur", name="Ville de Créteil"
    )


def test_password_is_hashed_and_checked(session):
    org = buyer_org(session)
    user = accounts.create(
        session=session,
        login="a.dupont",
        role="acheteur",
        password=PASSWORD,
        organisation_id=org.id,
    )
    assert PASSWORD not in user.password_hash and user.password_hash.startswith("scrypt")
    assert accounts.authenticate(session=session, login="a.dupont", password=PASSWORD) is user
    with pytest.raises(accounts.Unauthorized):
        accounts.authenticate(session=session, login="a.dupont", password="mauvais")
    with pytest.raises(accounts.Unauthorized):
        accounts.authenticate(session=session, login="inconnu", password=PASSWORD)


def test_bad_accounts_are_refused_naming_the_field(session):
    with pytest.raises(FormInvalid) as err:
        accounts.create(session=session, login="x y", role="pirate", password="court")
    assert set(err.value.errors) == {"login", "role"}
    with pytest.raises(FormInvalid) as err:
        accounts.create(session=session, login="b", role="acheteur", password=PASSWORD)
    assert "organisation" in err.value.errors
    with pytest.raises(FormInvalid) as err:
        accounts.create(session=session, login="c", role="admin", password="court")
    assert "password" in err.value.errors


def test_repeated_failures_lock_the_account_for_a_while(session):
    accounts.create(session=session, login="f.martin", role="admin", password=PASSWORD)
    start = datetime(2027, 1, 4, 9, tzinfo=UTC)
    timers.set_clock(lambda: start)
    try:
        for _ in range(accounts.MAX_FAILURES):
            with pytest.raises(accounts.Unauthorized):
                accounts.authenticate(session=session, login="f.martin", password="faux")
        with pytest.raises(accounts.Unauthorized, match="verrouillé"):
            accounts.authenticate(session=session, login="f.martin", password=PASSWORD)
        timers.set_clock(lambda: start + timedelta(minutes=accounts.LOCK_MINUTES + 1))
        assert accounts.authenticate(session=session, login="f.martin", password=PASSWORD)
    finally:
        timers.set_clock(None)


def test_tokens_are_stored_hashed_and_can_be_revoked(session):
    accounts.create(session=session, login="integration", role="admin", password=PASSWORD)
    row, clear = accounts.create_token(session=session, login="integration", name="ERP")
    assert clear.startswith("clz_") and clear not in row.token_hash
    assert accounts.authenticate_token(session=session, token=clear).login == "integration"
    accounts.revoke_token(session=session, token_id=row.id, actor=SYSTEM)
    with pytest.raises(accounts.Unauthorized):
        accounts.authenticate_token(session=session, token=clear)


def test_disabled_account_cannot_log_in_nor_use_tokens(session):
    accounts.create(session=session, login="parti", role="admin", password=PASSWORD)
    _row, clear = accounts.create_token(session=session, login="parti")
    accounts.disable(session=session, login="parti")
    with pytest.raises(accounts.Unauthorized):
        accounts.authenticate(session=session, login="parti", password=PASSWORD)
    with pytest.raises(accounts.Unauthorized):
        accounts.authenticate_token(session=session, token=clear)


def test_actor_carries_role_organisation_and_territories(session):
    territory = referentiel.create_territory(session=session, actor=SYSTEM, code="T94", name="Val")
    other = referentiel.create_territory(session=session, actor=SYSTEM, code="T91", name="Ess")
    user = accounts.create(
        session=session,
        login="cm",
        role="facilitateur",
        password=PASSWORD,
        territory_ids=[territory.id, other.id],
    )
    actor = accounts.actor_of(user)
    assert (actor.login, actor.role, actor.territory_ids) == (
        "cm",
        "facilitateur",
        {territory.id, other.id},
    )
    # a token acts as its account, territories included
    _row, clear = accounts.create_token(session=session, login="cm")
    assert accounts.authenticate_token(session=session, token=clear) == actor
    org = buyer_org(session)
    buyer = accounts.create(
        session=session, login="ba", role="acheteur", password=PASSWORD, organisation_id=org.id
    )
    _row, clear = accounts.create_token(session=session, login="ba")
    assert accounts.authenticate_token(session=session, token=clear) == accounts.actor_of(buyer)


def test_cli_user_add_token_disable(db, monkeypatch):
    monkeypatch.setenv("CLAUSIER_DATABASE_URL", db.url)
    with db.factory() as s:
        buyer_org(s)
        referentiel.create_territory(
            session=s, actor=SYSTEM, code="GPSEA", name="Grand Paris Sud Est"
        )
        s.commit()
    runner = CliRunner()
    out = runner.invoke(
        main,
        [
            "user",
            "add",
            "acheteuse",
            "--role",
            "acheteur",
            "--org",
            "Ville de Créteil",
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
    )
    assert out.exit_code == 0, out.output
    out = runner.invoke(
        main, ["user", "add", "cm", "--role", "facilitateur", "--territory", "GPSEA"]
    )
    assert out.exit_code == 0, out.output
    out = runner.invoke(main, ["user", "add", "x", "--role", "facilitateur", "--territory", "NUL"])
    assert out.exit_code == 1 and "territoire" in out.output
    out = runner.invoke(main, ["user", "token", "acheteuse"])
    assert out.exit_code == 0 and out.output.startswith("clz_")
    assert runner.invoke(main, ["user", "disable", "acheteuse"]).exit_code == 0
    with db.factory() as s:
        user = s.scalars(select(User).where(User.login == "acheteuse")).one()
        assert not user.active and user.organisation_id is not None
        assert s.scalar(select(ApiToken.user_id)) == user.id
        with pytest.raises(accounts.Unauthorized):
            accounts.authenticate(session=s, login="acheteuse", password=PASSWORD)


def test_token_use_is_recorded_to_the_minute_not_on_every_call(session):
    accounts.create(session=session, login="robot", role="admin", password=PASSWORD)
    row, clear = accounts.create_token(session=session, login="robot")
    start = datetime(2027, 1, 4, 9, tzinfo=UTC)
    stored = select(ApiToken.last_used_at).where(ApiToken.id == row.id)
    try:
        timers.set_clock(lambda: start)
        accounts.authenticate_token(session=session, token=clear)
        assert session.scalar(stored) == start
        timers.set_clock(lambda: start + timedelta(seconds=30))
        accounts.authenticate_token(session=session, token=clear)
        assert session.scalar(stored) == start
        timers.set_clock(lambda: start + timedelta(minutes=2))
        accounts.authenticate_token(session=session, token=clear)
        assert session.scalar(stored) == start + timedelta(minutes=2)
    finally:
        timers.set_clock(None)
