"""Reminder sequences over real calendars, escalation, preferences, digests, idempotency."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from notifications import jobs, policy, service
from notifications.models import Notification
from notifications.settings import Settings
from tests.notifications.factories import ADMIN, Clock, deploy_lifecycle, world
from workflows.access import Actor, Forbidden
from workflows.engine import timers
from workflows.engine.errors import FormInvalid
from workflows.engine.models import Event, HumanTask

PARIS = ZoneInfo("Europe/Paris")
SETTINGS = Settings()


@pytest.fixture(autouse=True)
def _clock():
    yield
    timers.set_clock(None)


def coordinator(w) -> Actor:
    code = w.marche.reference.removeprefix("M-")
    return Actor(
        login=f"coord-{code}", role="coordinateur", territory_ids=frozenset({w.territory_id})
    )


def open_task(session, w) -> HumanTask:
    return session.scalar(
        select(HumanTask).where(
            HumanTask.instance_id == w.marche.instance_id, HumanTask.state == "open"
        )
    )


def run_days(session, first, last) -> dict[str, list[tuple[str, str]]]:
    """Compute reminders each morning (07:00 Paris); what was written, by day."""
    written: dict[str, list[tuple[str, str]]] = defaultdict(list)
    day = first
    while day <= last:
        Clock.freeze(datetime(day.year, day.month, day.day, 7, tzinfo=PARIS).astimezone(UTC))
        before = session.scalar(select(Notification.id).order_by(Notification.id.desc()).limit(1))
        jobs.compute_reminders(session, SETTINGS)
        session.commit()
        query = select(Notification).where(Notification.id > (before or 0))
        for row in session.scalars(query.order_by(Notification.id)):
            written[day.isoformat()].append((row.kind, row.recipient))
        day += timedelta(days=1)
    return dict(written)


def test_reminders_around_whit_monday_2027(session):
    Clock.freeze(datetime(2027, 5, 3, 6, tzinfo=UTC))
    deploy_lifecycle(session)
    w = world(session, departement="94", code="GPSEA")
    task = open_task(session, w)
    due = datetime(2027, 5, 14, 18, tzinfo=PARIS)  # Friday before Whit Monday (17 May)
    service.change_due_date(
        session=session, actor=coordinator(w), task_id=task.id, due_at=due, reason="Réunion"
    )
    session.commit()
    days = run_days(session, due.date() - timedelta(days=11), due.date() + timedelta(days=12))
    buyer, facil, coord = "acheteur-GPSEA", "facil-GPSEA", "coord-GPSEA"
    assert days == {
        "2027-05-03": [("nouvelle_tache", buyer)],
        "2027-05-11": [("rappel_avant", buyer)],  # 3 jours ouvrés avant (13 mai ouvré)
        "2027-05-14": [("echeance", buyer), ("echeance", facil)],
        # 17 mai (lundi de Pentecôte) ne compte pas : 1 jour le 18, 2 le 19, 4 le 21
        "2027-05-19": [("retard", buyer), ("retard", facil)],
        "2027-05-21": [("retard", buyer), ("retard", facil)],
        "2027-05-24": [("escalade", coord)],  # 5 jours ouvrés de retard
        "2027-05-25": [("retard", buyer), ("retard", facil)],
    }
    late = session.scalar(
        select(Notification).where(Notification.kind == "escalade", Notification.recipient == coord)
    )
    assert "5 jours ouvrés de retard" in late.body_text and "/taches/" in late.link
    assert late.title.startswith("Escalade")


def test_moselle_counts_26_december_as_a_holiday(session):
    Clock.freeze(datetime(2028, 12, 18, 8, tzinfo=UTC))
    deploy_lifecycle(session)
    policy.update(
        session=session,
        actor=ADMIN,
        process_key="marche_clause_sociale",
        element_id="analyse_amont",
        before_days=1,
        on_due=False,
        overdue_every_days=1,
        escalate_after_days=0,
        copy_facilitators=False,
    )
    metz, paris = (
        world(session, departement="57", code="METZ"),
        world(session, departement="75", code="PARIS"),
    )
    due = datetime(2028, 12, 27, 12, tzinfo=PARIS)
    for w in (metz, paris):
        service.change_due_date(
            session=session,
            actor=ADMIN,
            task_id=open_task(session, w).id,
            due_at=due,
            reason="Fêtes de fin d'année",
        )
    session.commit()
    days = run_days(session, datetime(2028, 12, 20).date(), datetime(2028, 12, 29).date())
    firsts = {
        who: min(d for d, rows in days.items() if ("rappel_avant", who) in rows)
        for who in ("acheteur-METZ", "acheteur-PARIS")
    }
    # Moselle : 25 et 26 décembre fériés → le jour ouvré précédent est le vendredi 22
    assert firsts == {"acheteur-METZ": "2028-12-22", "acheteur-PARIS": "2028-12-26"}
    assert days["2028-12-28"] == [("retard", "acheteur-METZ"), ("retard", "acheteur-PARIS")]


def test_running_twice_writes_nothing_new(session):
    Clock.freeze(datetime(2027, 5, 14, 6, tzinfo=UTC))
    deploy_lifecycle(session)
    w = world(session)
    service.change_due_date(
        session=session,
        actor=ADMIN,
        task_id=open_task(session, w).id,
        due_at=datetime(2027, 5, 14, 18, tzinfo=PARIS),
        reason="test",
    )
    assert jobs.compute_reminders(session, SETTINGS) == 3  # nouvelle + échéance ×2
    assert jobs.compute_reminders(session, SETTINGS) == 0
    session.commit()
    assert jobs.compute_reminders(session, SETTINGS) == 0


def test_due_date_change_is_audited_and_scoped(session):
    Clock.freeze(datetime(2027, 5, 3, 6, tzinfo=UTC))
    deploy_lifecycle(session)
    w = world(session)
    task = open_task(session, w)
    old, new = task.due_at, datetime(2027, 6, 1, 12, tzinfo=PARIS)
    facil = Actor(
        login="facil-GPSEA", role="facilitateur", territory_ids=frozenset({w.territory_id})
    )
    other = Actor(
        login="coord-x", role="coordinateur", territory_ids=frozenset({w.territory_id + 99})
    )
    for actor in (facil, other):
        with pytest.raises(Forbidden):
            service.change_due_date(
                session=session, actor=actor, task_id=task.id, due_at=new, reason="x"
            )
    with pytest.raises(FormInvalid) as refused:
        service.change_due_date(
            session=session, actor=coordinator(w), task_id=task.id, due_at=new, reason=" "
        )
    assert "reason" in refused.value.errors
    service.change_due_date(
        session=session, actor=coordinator(w), task_id=task.id, due_at=new, reason="Congés"
    )
    session.commit()
    event = session.scalar(select(Event).where(Event.kind == "task.due_changed"))
    assert event.actor == "coord-GPSEA" and event.data["reason"] == "Congés"
    assert event.data["old"] == old.isoformat() and event.data["new"] == new.isoformat()
    assert session.get(HumanTask, task.id).due_at == new


def test_preferences_digest_and_in_app(session):
    Clock.freeze(datetime(2027, 5, 14, 6, tzinfo=UTC))
    deploy_lifecycle(session)
    w = world(session)
    buyer = Actor(login="acheteur-GPSEA", role="acheteur", organisation_id=w.marche.buyer_id)
    service.set_preference(session=session, actor=buyer, kind="nouvelle_tache", mode="digest")
    service.set_preference(session=session, actor=buyer, kind="echeance", mode="digest")
    facil = Actor(login="facil-GPSEA", role="facilitateur")
    service.set_preference(session=session, actor=facil, kind="echeance", mode="off")
    with pytest.raises(FormInvalid):
        service.set_preference(session=session, actor=buyer, kind="echeance", mode="jamais")
    service.change_due_date(
        session=session,
        actor=ADMIN,
        task_id=open_task(session, w).id,
        due_at=datetime(2027, 5, 14, 18, tzinfo=PARIS),
        reason="test",
    )
    jobs.compute_reminders(session, SETTINGS)
    statuses = {(r.recipient, r.kind): r.status for r in session.scalars(select(Notification))}
    assert statuses == {
        ("acheteur-GPSEA", "nouvelle_tache"): "digest",
        ("acheteur-GPSEA", "echeance"): "digest",
        ("facil-GPSEA", "echeance"): "off",
    }
    assert service.unread_count(session=session, actor=buyer) == 2
    assert service.unread_count(session=session, actor=facil) == 0
    Clock.freeze(datetime(2027, 5, 15, 5, tzinfo=UTC))
    assert jobs.send_digests(session, SETTINGS) == 1
    assert jobs.send_digests(session, SETTINGS) == 0
    digest = session.scalar(select(Notification).where(Notification.kind == "digest"))
    assert digest.recipient == "acheteur-GPSEA" and digest.status == "pending"
    assert "récapitulatif du 15/05/2027 (2 messages)" in digest.title
    assert "Nouvelle tâche" in digest.body_text and "Échéance aujourd'hui" in digest.body_text
    assert "<li>" in digest.body_html
    assert service.mark_read(session=session, actor=buyer) == 2
    assert service.unread_count(session=session, actor=buyer) == 0


def test_without_a_marche_only_named_people_are_told(session):
    from tests.workflows.engine.diagrams import chain, user_task
    from workflows.accounts import service as accounts
    from workflows.engine import runtime
    from workflows.engine.deploy import deploy

    Clock.freeze(datetime(2027, 5, 3, 6, tzinfo=UTC))
    accounts.create(session=session, login="lea", role="facilitateur", email="lea@example.org")
    accounts.create(session=session, login="autre", role="facilitateur", email="x@example.org")
    step = user_task(
        "t", "Tâche", "facilitateur", 'camunda:candidateUsers="lea" camunda:dueDate="P2D"'
    )
    deploy(session=session, files={"d.bpmn": chain("direct", [step])})
    runtime.start(session=session, key="direct")
    jobs.compute_reminders(session, SETTINGS)
    rows = session.scalars(select(Notification)).all()
    assert [(r.recipient, r.kind) for r in rows] == [("lea", "nouvelle_tache")]
    assert "Échéance : 05/05/2027" in rows[0].body_text


def test_follow_up_date_reminds_once_and_a_new_due_date_restarts_the_series():
    from datetime import date

    from notifications.reminders import steps

    rules = policy.defaults(Settings(before_days=0, on_due=False, copy_facilitators=False))
    task = HumanTask(
        due_at=datetime(2027, 6, 30, 12, tzinfo=PARIS),
        follow_up_at=datetime(2027, 6, 21, 12, tzinfo=PARIS),
        created_at=datetime(2027, 6, 1, tzinfo=UTC),
    )
    assert steps(task, rules, date(2027, 6, 18), "75") == []
    (step,) = steps(task, rules, date(2027, 6, 22), "75")
    assert (step.kind, step.occurrence, step.context) == (
        "relance_suivi",
        "2027-06-21",
        {"follow_up": "21/06/2027"},
    )
    task.due_at = datetime(2027, 6, 18, 12, tzinfo=PARIS)  # moved earlier: now 2 days late
    kinds = [(s.kind, s.occurrence) for s in steps(task, rules, date(2027, 6, 22), "75")]
    assert kinds == [("retard", "2027-06-18#1"), ("relance_suivi", "2027-06-21")]
