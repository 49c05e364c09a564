"""Owed notices: written with the change that causes them, turned into notifications by the
notices job, never lost and never doubled."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from notifications import queue
from notifications.models import NoticeJob, Notification
from notifications.settings import Settings
from server.cli import main
from tests.notifications.factories import Clock, deploy_lifecycle, send_notices, world
from workflows.engine import runtime, timers
from workflows.engine.models import HumanTask


@pytest.fixture(autouse=True)
def _clock():
    Clock.freeze(datetime(2027, 5, 3, 6, 0, tzinfo=UTC))
    yield
    timers.set_clock(None)


def notices(session, kind="nouvelle_tache") -> list[tuple[str, str]]:
    rows = session.scalars(select(Notification).where(Notification.kind == kind))
    return sorted((r.recipient, r.subject_id) for r in rows)


def jobs(session) -> int:
    return session.scalar(select(func.count()).select_from(NoticeJob))


def open_task(session, instance_id: int) -> HumanTask:
    return session.scalar(
        select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.state == "open")
    )


def test_a_new_task_is_announced_by_the_job_once(db):
    with db.factory() as session:
        deploy_lifecycle(session)
        w = world(session)
        session.commit()
        task = open_task(session, w.marche.instance_id)
        # the start owed the notice of its first task; nothing is written yet
        assert jobs(session) == 1 and notices(session) == []
        assert send_notices(session) == 1
        session.commit()
        assert notices(session) == [("acheteur-GPSEA", task.id)]
        assert jobs(session) == 0
        assert send_notices(session) == 0  # nothing owed any more
        assert notices(session) == [("acheteur-GPSEA", task.id)]


def test_a_rolled_back_completion_owes_nothing(db):
    with db.factory() as session:
        deploy_lifecycle(session)
        w = world(session)
        send_notices(session)
        session.commit()
        task = open_task(session, w.marche.instance_id)
        runtime.complete_task(
            session=session,
            task_id=task.id,
            data={"objet": "Voirie", "nature": "travaux", "montant_estime_ht": 500_000},
            actor="acheteur-GPSEA",
        )
        assert jobs(session) == 1  # the next task's notice, owed inside the transaction
        session.rollback()
        assert jobs(session) == 0 and open_task(session, w.marche.instance_id).id == task.id


def test_a_task_done_before_the_job_runs_gets_no_notice(db):
    with db.factory() as session:
        deploy_lifecycle(session)
        w = world(session)
        first = open_task(session, w.marche.instance_id)
        runtime.complete_task(
            session=session,
            task_id=first.id,
            data={"objet": "Voirie", "nature": "travaux", "montant_estime_ht": 500_000},
            actor="acheteur-GPSEA",
        )
        session.commit()
        second = open_task(session, w.marche.instance_id)
        assert send_notices(session) == 2
        session.commit()
        assert notices(session) == [("acheteur-GPSEA", second.id)]


def test_a_failing_job_is_retried_then_kept_with_its_error_and_holds_nobody_back(
    db, monkeypatch, caplog
):
    with db.factory() as session:
        deploy_lifecycle(session)
        w = world(session)
        task = open_task(session, w.marche.instance_id)
        queue.enqueue(session, "invitation", instance_id=w.marche.instance_id, task_id=task.id)
        session.commit()

        def broken(*_):
            raise RuntimeError("modèle illisible")

        monkeypatch.setitem(queue.HANDLERS, "invitation", broken)
        with caplog.at_level(logging.ERROR):
            for _ in range(queue.MAX_ATTEMPTS):
                send_notices(session)
                session.commit()
        assert "en échec" in caplog.text
        # the task's notice went out at the first pass; the broken job is given up, kept
        assert notices(session) == [("acheteur-GPSEA", task.id)]
        (kept,) = queue.stuck(session=session)
        assert kept.attempts == queue.MAX_ATTEMPTS
        assert kept.last_error == "RuntimeError: modèle illisible"
        assert send_notices(session) == 0
    monkeypatch.setenv("CLAUSIER_DATABASE_URL", db.url)
    listed = CliRunner().invoke(main, ["notifications", "failed"], catch_exceptions=False)
    assert "invitation" in listed.output and "RuntimeError: modèle illisible" in listed.output


@pytest.mark.parametrize("db", ["postgresql"], indirect=True)  # SQLite: one writer at a time
def test_two_schedulers_share_the_queue_without_doubling(db):
    with db.factory() as setup:
        deploy_lifecycle(setup)
        for code in ("A", "B", "C"):
            world(setup, code=code)
        setup.commit()
    with db.factory() as one, db.factory() as two:
        assert queue.drain(one, Settings(), limit=2) == 2  # holds its two jobs until commit
        assert queue.drain(two, Settings()) == 1  # takes the third, skips the locked ones
        one.commit()
        two.commit()
    with db.factory() as session:
        assert jobs(session) == 0
        assert len(notices(session)) == 3
