"""Escalation of an overdue task: the coordination, the buyer's manager, or both (real calendar)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from notifications import policy, service
from notifications.models import Notification
from tests.notifications.factories import ADMIN, Clock, deploy_lifecycle, world
from tests.notifications.test_reminders import open_task, run_days
from workflows.accounts import service as accounts
from workflows.engine import timers

PARIS = ZoneInfo("Europe/Paris")
BUYER, COORD, BOSS = "acheteur-GPSEA", "coord-GPSEA", "chef-GPSEA"


@pytest.fixture(autouse=True)
def _clock():
    yield
    timers.set_clock(None)


def overdue_buyer_task(session, escalate_to: str, *, manager: bool = True):
    """The marché's first (buyer) task due Friday 14 May 2027; escalation after 5 working days."""
    Clock.freeze(datetime(2027, 5, 3, 6, tzinfo=UTC))
    deploy_lifecycle(session)
    w = world(session)
    if manager:
        accounts.create(
            session=session,
            login=BOSS,
            role="acheteur",
            organisation_id=w.marche.buyer_id,
            email="chef@example.org",
            full_name="Bernard Chef",
        )
        accounts.set_manager(session=session, login=BUYER, manager=BOSS, actor="admin")
    policy.update(
        session=session,
        actor=ADMIN,
        process_key="marche_clause_sociale",
        escalate_to=escalate_to,
        escalate_after_days=5,
    )
    service.change_due_date(
        session=session,
        actor=ADMIN,
        task_id=open_task(session, w).id,
        due_at=datetime(2027, 5, 14, 18, tzinfo=PARIS),
        reason="test",
    )
    session.commit()
    # Whit Monday (17 May) is a holiday: 5 working days late on Monday 24 May.
    return run_days(session, date(2027, 5, 14), date(2027, 6, 4))


def escalations(days) -> dict[str, list[str]]:
    return {
        day: [who for kind, who in rows if kind == "escalade"]
        for day, rows in days.items()
        if any(kind == "escalade" for kind, _ in rows)
    }


def test_an_overdue_buyer_task_escalates_once_to_the_buyers_manager(session):
    days = overdue_buyer_task(session, "responsable")
    assert escalations(days) == {"2027-05-24": [BOSS]}  # exactly once, not to the coordination
    notice = session.scalar(select(Notification).where(Notification.kind == "escalade"))
    assert "responsable" in notice.body_text and "Alice Acheteuse" in notice.body_text
    assert "Aucun responsable" not in notice.body_text
    # the boss also sees the buyers' group task as one of them, but is escalated to only once
    assert [r for r in days["2027-05-24"] if r[1] == BOSS] == [("escalade", BOSS)]


def test_without_a_manager_the_coordination_is_told_why(session):
    days = overdue_buyer_task(session, "responsable", manager=False)
    assert escalations(days) == {"2027-05-24": [COORD]}
    notice = session.scalar(select(Notification).where(Notification.kind == "escalade"))
    assert "Aucun responsable n'est désigné" in notice.body_text
    assert "Aucun responsable n'est désigné" in notice.body_html


def test_both_the_coordination_and_the_manager(session):
    days = overdue_buyer_task(session, "coordinateur_et_responsable")
    assert escalations(days) == {"2027-05-24": [BOSS, COORD]}


def test_an_inactive_manager_falls_back_to_the_coordination(session):
    Clock.freeze(datetime(2027, 5, 3, 6, tzinfo=UTC))
    deploy_lifecycle(session)
    w = world(session)
    accounts.create(session=session, login=BOSS, role="acheteur", organisation_id=w.marche.buyer_id)
    accounts.set_manager(session=session, login=BUYER, manager=BOSS)
    accounts.disable(session=session, login=BOSS)
    policy.update(
        session=session, actor=ADMIN, process_key="marche_clause_sociale", escalate_to="responsable"
    )
    service.change_due_date(
        session=session,
        actor=ADMIN,
        task_id=open_task(session, w).id,
        due_at=datetime(2027, 5, 14, 18, tzinfo=PARIS),
        reason="test",
    )
    session.commit()
    days = run_days(session, date(2027, 5, 24), date(2027, 5, 24))
    assert escalations(days) == {"2027-05-24": [COORD]}
