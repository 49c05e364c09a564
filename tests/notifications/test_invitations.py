"""Committee and kickoff invitations: .ics parsed back, updates and cancellations keep the UID."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
from icalendar import Calendar
from sqlalchemy import select

from notifications import jobs, meetings
from notifications.models import Notification
from notifications.settings import Settings
from tests.conftest import BPMN_DIR
from tests.notifications.factories import Clock, send_notices
from tests.notifications.smtp import SmtpServer
from workflows.accounts import service as accounts
from workflows.engine import runtime, timers
from workflows.engine.deploy import deploy, read_files
from workflows.engine.models import HumanTask


@pytest.fixture(autouse=True)
def _clock():
    yield
    timers.set_clock(None)


def event_of(row: Notification):
    calendar = Calendar.from_ical(row.ics)
    (event,) = calendar.walk("VEVENT")
    return calendar, event


def start_pilotage(session):
    Clock.freeze(datetime(2027, 3, 1, 9, tzinfo=UTC))
    deploy(session=session, files=read_files([BPMN_DIR / "comite_pilotage.bpmn"]))
    for login, role in (("colette", "coordinateur"), ("ada", "admin"), ("fab", "facilitateur")):
        accounts.create(session=session, login=login, role=role, email=f"{login}@example.org")
    instance = runtime.start(session=session, key="comite_pilotage")
    task = session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id))
    assert task is not None and task.element_id == "preparer_comite_pilotage"
    return instance, task


def test_committee_preparation_invites_members_with_an_ics(session):
    instance, task = start_pilotage(session)
    jobs.compute_reminders(session, Settings())
    notice = session.scalar(select(Notification).where(Notification.kind == "nouvelle_tache"))
    assert notice.recipient == "colette" and "indicateurs?annee=2026" in notice.body_text
    runtime.complete_task(
        session=session,
        task_id=task.id,
        data={"annee": 2026, "date_comite": "2027-03-22", "ordre_du_jour": "Bilan 2026"},
        actor="colette",
    )
    invitation = select(Notification).where(Notification.kind == "invitation")
    assert session.scalars(invitation).all() == []  # owed by the completion, not yet written
    send_notices(session)
    rows = session.scalars(select(Notification).where(Notification.kind == "invitation")).all()
    assert sorted(r.recipient for r in rows) == ["ada", "colette"]
    calendar, event = event_of(rows[0])
    assert str(calendar["METHOD"]) == "REQUEST" and int(event["SEQUENCE"]) == 0
    assert event.decoded("DTSTART") == datetime(2027, 3, 22, 8, 30, tzinfo=UTC)  # 9 h 30 Paris
    assert str(event["SUMMARY"]) == "Comité de pilotage du 22/03/2027"
    attendees = sorted(str(a) for a in event["ATTENDEE"])
    assert attendees == ["mailto:ada@example.org", "mailto:colette@example.org"]
    uid = str(event["UID"])

    # Same attendees, a new date: an update with the same UID.
    people = [accounts.get_by_login(session=session, login=n) for n in ("colette", "ada")]
    meetings.invite(
        session=session,
        source=f"comite:{instance.id}:{task.id}",
        summary="Comité de pilotage du 29/03/2027",
        starts_at=datetime(2027, 3, 29, 7, 30, tzinfo=UTC),
        attendees=people,
        description="Bilan 2026",
        instance_id=instance.id,
    )
    meetings.cancel(session=session, source=f"comite:{instance.id}:{task.id}")
    sequences = {}
    for row in session.scalars(select(Notification).where(Notification.recipient == "ada")):
        if row.ics:
            calendar, event = event_of(row)
            sequences[int(event["SEQUENCE"])] = (str(calendar["METHOD"]), str(event["UID"]))
    assert sequences == {0: ("REQUEST", uid), 1: ("REQUEST", uid), 2: ("CANCEL", uid)}
    cancelled = session.scalar(select(Notification).where(Notification.kind == "annulation"))
    assert cancelled.title.startswith("Annulation : Comité de pilotage du 29/03/2027")


def test_the_invitation_reaches_the_smtp_server_as_text_calendar(db):
    server = SmtpServer()
    server.start()
    try:
        with db.factory() as session:
            start_pilotage(session)
            task = session.scalar(select(HumanTask))
            runtime.complete_task(
                session=session,
                task_id=task.id,
                data={"annee": 2026, "date_comite": date(2027, 3, 22)},
            )
            session.commit()
        from server import scheduler

        settings = Settings(smtp_host="127.0.0.1", smtp_port=server.port)
        # Two invitations, and the notice of the next task, owed since it was created.
        # three jobs: the first task (done by now: no notice), the meeting, the next task
        assert scheduler.send_notices(db.factory, settings) == 3
        assert scheduler.deliver_outbox(db.factory, settings) == 3
        invitations = [
            m
            for m in server.messages
            if any(p.get_content_type() == "text/calendar" for p in m.walk())
        ]
        assert len(invitations) == 2
        (part,) = [p for p in invitations[0].walk() if p.get_content_type() == "text/calendar"]
        assert part.get_param("method") == "REQUEST"
        calendar = Calendar.from_ical(part.get_payload(decode=True))
        assert str(calendar.walk("VEVENT")[0]["SUMMARY"]) == "Comité de pilotage du 22/03/2027"
    finally:
        server.stop()


def test_a_kickoff_recorded_ahead_invites_buyer_and_facilitators(session):
    from tests.notifications.factories import deploy_lifecycle, world
    from workflows.engine.models import Instance

    Clock.freeze(datetime(2027, 6, 1, 8, tzinfo=UTC))
    deploy_lifecycle(session)
    w = world(session)
    send_notices(session)  # the marché's first task
    instance = session.get(Instance, w.marche.instance_id)
    row = HumanTask(
        id=str(uuid.uuid4()),
        instance_id=instance.id,
        element_id="tenir_reunion_lancement",
        process_key="marche_clause_sociale",
        state="completed",
    )
    session.add(row)
    meetings.on_meeting_task(session, instance, row, {"date_reunion": date(2027, 6, 10)}, {})
    meetings.on_meeting_task(session, instance, row, {"date_reunion": "2027-06-10"}, {})
    assert send_notices(session) == 2  # the second, unchanged, sends nothing new
    rows = session.scalars(select(Notification).where(Notification.kind == "invitation")).all()
    assert sorted(r.recipient for r in rows) == ["acheteur-GPSEA", "facil-GPSEA"]
    _, event = event_of(rows[0])
    assert str(event["SUMMARY"]) == "Réunion de lancement — M-GPSEA"
    assert event.decoded("DTSTART") == datetime(2027, 6, 10, 7, 30, tzinfo=UTC)
    meetings.on_meeting_task(session, instance, row, {"date_reunion": "2027-05-20"}, {})
    send_notices(session)
    assert session.scalar(select(Notification).where(Notification.kind == "annulation")) is None
