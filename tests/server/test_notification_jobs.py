"""The notification jobs on the scheduler: each its own job, one wrapper for transactions."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from notifications.models import ReminderPolicy
from notifications.settings import Settings
from server import scheduler


def test_each_job_is_registered_once():
    sched = BackgroundScheduler(timezone="Europe/Paris")
    scheduler._add_jobs(sched, factory=None, poll_seconds=1, settings=Settings(digest_hour=6))
    jobs = {job.id: job for job in sched.get_jobs()}
    assert set(jobs) == {
        "fire_due_timers",
        "send_notices",
        "compute_reminders",
        "deliver_outbox",
        "send_digests",
        "start_committees",
    }
    assert "hour='6'" in str(jobs["send_digests"].trigger)
    assert jobs["send_notices"].trigger.interval.total_seconds() == 1  # at every poll
    assert all(job.max_instances == 1 for job in jobs.values())


def test_the_wrapper_commits_or_rolls_back_and_logs(db, caplog):
    def good(session):
        session.add(ReminderPolicy(process_key="ok"))
        return 1

    def bad(session):
        session.add(ReminderPolicy(process_key="ko"))
        raise RuntimeError("panne")

    assert scheduler.run_job("essai", db.factory, good) == 1
    with caplog.at_level(logging.ERROR):
        assert scheduler.run_job("essai", db.factory, bad) is None
    assert "tâche planifiée essai en échec" in caplog.text
    with db.factory() as s:
        assert list(s.scalars(select(ReminderPolicy.process_key))) == ["ok"]
