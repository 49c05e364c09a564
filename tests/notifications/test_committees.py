"""Each territory's comité technique: started once per territory, its own members, its own pack."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from icalendar import Calendar
from sqlalchemy import select

from notifications.models import Notification
from server import scheduler
from server.api import scope
from server.cli import main
from tests.conftest import BPMN_DIR
from tests.notifications.factories import Clock, deploy_lifecycle, send_notices, world
from workflows.access import Actor
from workflows.engine import runtime, timers
from workflows.engine.deploy import deploy, read_files
from workflows.engine.errors import FormInvalid, NotFound
from workflows.engine.models import HumanTask, Instance
from workflows.gouvernance import committees
from workflows.gouvernance.models import Meeting


@pytest.fixture(autouse=True)
def _clock():
    yield
    timers.set_clock(None)


def two_territories(session):
    Clock.freeze(datetime(2027, 1, 4, 8, tzinfo=UTC))
    deploy_lifecycle(session)
    deploy(session=session, files=read_files([BPMN_DIR / "comite_technique.bpmn"]))
    a, b = world(session, code="A"), world(session, code="B")
    session.commit()
    return a, b


def committee(session, code: str) -> Instance:
    return session.scalar(
        select(Instance)
        .where(Instance.business_key == f"{code}/comite-technique")
        .order_by(Instance.id.desc())
        .limit(1)
    )


def open_task(session, instance: Instance, element_id: str) -> HumanTask:
    return session.scalar(
        select(HumanTask).where(
            HumanTask.instance_id == instance.id,
            HumanTask.element_id == element_id,
            HumanTask.state == "open",
        )
    )


def recipients_of(session, kind: str, instance: Instance) -> list[str]:
    rows = session.scalars(
        select(Notification.recipient).where(
            Notification.kind == kind, Notification.instance_id == instance.id
        )
    )
    return sorted(rows)


def test_one_committee_per_territory_and_starting_twice_adds_none(session):
    worlds = dict(zip("AB", two_territories(session), strict=True))
    started = committees.start_missing(session=session)
    assert [s.territory for s in started] == ["A", "B"]
    assert committees.start_missing(session=session) == []
    session.commit()
    assert committees.start_missing(session=session) == []
    for code in ("A", "B"):
        instance = committee(session, code)
        assert instance.status == "running"
        data = runtime.variables(session=session, instance_id=instance.id)
        assert data["territoire"] == code
        assert data["territoire_id"] == worlds[code].territory_id
    with pytest.raises(FormInvalid) as refused:
        committees.start_missing(session=session, territory="NUL")
    assert list(refused.value.errors) == ["territoire"]


def test_a_cancelled_committee_is_left_alone_unless_named(session):
    two_territories(session)
    committees.start_missing(session=session)
    runtime.cancel(session=session, instance_id=committee(session, "A").id, actor="admin")
    assert committees.start_missing(session=session) == []  # the daily job respects it
    (again,) = committees.start_missing(session=session, territory="A")
    assert again.territory == "A" and committee(session, "A").id == again.instance_id


def test_each_territory_invites_only_its_own_members_with_its_own_pack(session):
    a, b = two_territories(session)
    committees.start_missing(session=session)
    session.commit()
    Clock.freeze(datetime(2027, 1, 15, 8, 0, 1, tzinfo=UTC))  # the semestrial cycle: 9 h Paris
    for code in ("A", "B"):
        runtime.fire_timers(session=session, instance_id=committee(session, code).id)
    session.commit()
    send_notices(session)
    ca, cb = committee(session, "A"), committee(session, "B")
    # the preparation is for the territory's facilitators, with the territory's figures
    assert recipients_of(session, "nouvelle_tache", ca) == ["facil-A"]
    assert recipients_of(session, "nouvelle_tache", cb) == ["facil-B"]
    notice = session.scalar(
        select(Notification).where(
            Notification.kind == "nouvelle_tache", Notification.instance_id == ca.id
        )
    )
    assert f"territory_id={a.territory_id}&period_start=2026-07-01&period_end=2026-12-31" in (
        notice.body_text
    )
    assert "Heures d'insertion générées : 0" in notice.body_text
    assert "clausier comite A --comite comite_technique" in notice.body_text

    task = open_task(session, ca, "preparer_comite")
    assert task.form and any(f["id"] == "territoire_nom" for f in task.form["fields"])
    runtime.complete_task(
        session=session,
        task_id=task.id,
        data={"date_comite": "2027-02-04", "theme": "acheteurs", "ordre_du_jour": "Bilan"},
        actor="facil-A",
    )
    send_notices(session)
    invited = recipients_of(session, "invitation", ca)
    assert invited == ["acheteur-A", "coord-A", "facil-A"]  # nobody from B
    row = session.scalar(select(Notification).where(Notification.kind == "invitation"))
    event = Calendar.from_ical(row.ics).walk("VEVENT")[0]
    assert str(event["SUMMARY"]) == "Comité technique Grand Paris Sud Est Avenir du 04/02/2027"
    assert event["DTSTART"].params["TZID"] == "Europe/Paris"
    assert event.decoded("DTSTART") == datetime(2027, 2, 4, 8, 30, tzinfo=UTC)
    assert {str(x) for x in event["ATTENDEE"]} == {
        "mailto:acheteur-A@example.org",
        "mailto:coord-A@example.org",
        "mailto:facil-A@example.org",
    }

    # the minutes are kept as the territory's meeting
    minutes = open_task(session, ca, "tenir_comite")
    runtime.complete_task(
        session=session,
        task_id=minutes.id,
        data={"compte_rendu": "Trois marchés clausés.", "participants": "A, B, C"},
        actor="facil-A",
    )
    meeting = session.scalar(select(Meeting))
    assert (meeting.kind, meeting.territory_id, meeting.theme) == (
        "comite_technique",
        a.territory_id,
        "acheteurs",
    )
    assert meeting.minutes == "Trois marchés clausés." and str(meeting.held_on) == "2027-02-04"
    assert b.territory_id != a.territory_id


def test_a_facilitator_of_a_cannot_see_bs_committee(session):
    a, b = two_territories(session)
    committees.start_missing(session=session)
    Clock.freeze(datetime(2027, 1, 15, 8, 0, 1, tzinfo=UTC))
    for code in ("A", "B"):
        runtime.fire_timers(session=session, instance_id=committee(session, code).id)
    facil_a = Actor(login="facil-A", role="facilitateur", territory_ids=frozenset({a.territory_id}))
    ca, cb = committee(session, "A"), committee(session, "B")
    assert scope.get_instance(session=session, actor=facil_a, instance_id=ca.id) == ca
    with pytest.raises(NotFound):
        scope.get_instance(session=session, actor=facil_a, instance_id=cb.id)
    with pytest.raises(NotFound):
        scope.get_task(
            session=session,
            actor=facil_a,
            task_id=open_task(session, cb, "preparer_comite").id,
        )
    visible = {t.instance_id for t in session.scalars(scope.tasks(session, facil_a, "open"))}
    assert ca.id in visible and cb.id not in visible
    buyer = Actor(login="acheteur-A", role="acheteur", organisation_id=a.marche.buyer_id)
    with pytest.raises(NotFound):
        scope.get_instance(session=session, actor=buyer, instance_id=ca.id)


def test_the_daily_job_and_the_command_start_the_missing_ones(db, monkeypatch):
    with db.factory() as s:
        two_territories(s)
    assert scheduler.start_committees(db.factory) == 2
    assert scheduler.start_committees(db.factory) == 0
    with db.factory() as s:
        s.delete(s.scalar(select(Instance).where(Instance.business_key == "B/comite-technique")))
        s.commit()
    monkeypatch.setenv("CLAUSIER_DATABASE_URL", db.url)
    runner = CliRunner()
    out = runner.invoke(main, ["comites", "demarrer"])
    assert out.exit_code == 0 and "B : comité technique démarré" in out.output, out.output
    out = runner.invoke(main, ["comites", "demarrer", "--territoire", "A"])
    assert out.exit_code == 0 and "Aucun comité à démarrer" in out.output
    out = runner.invoke(main, ["comites", "demarrer", "--territoire", "NUL"])
    assert out.exit_code == 1 and "territoire" in out.output and "Traceback" not in out.output
    with db.factory() as s:
        keys = s.scalars(select(Instance.business_key).where(Instance.business_key.like("%/c%")))
        assert sorted(keys) == ["A/comite-technique", "B/comite-technique"]
