"""Scheduler wiring: APScheduler polls the timer rows; one transaction per instance."""

from __future__ import annotations

import logging

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.orm import Session, sessionmaker

from workflows.engine import runtime
from workflows.engine.db import transaction
from workflows.engine.errors import EngineError

log = logging.getLogger(__name__)


def fire_due_timers(factory: sessionmaker[Session], limit: int = 500) -> int:
    """Advance every running instance with a due timer; returns how many were advanced."""
    with transaction(factory) as session:
        due = runtime.due_timer_instances(session=session, limit=limit)
    fired = 0
    for instance_id in due:
        try:
            with transaction(factory) as session:
                runtime.fire_timers(session=session, instance_id=instance_id)
            fired += 1
        except EngineError as exc:  # a concurrent change: the next poll retries
            log.info("timers of instance %s postponed: %s", instance_id, exc.message)
    return fired


def start_scheduler(factory: sessionmaker[Session], poll_seconds: float) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="Europe/Paris")
    scheduler.add_job(
        fire_due_timers,
        "interval",
        seconds=poll_seconds,
        args=[factory],
        id="fire_due_timers",
        max_instances=1,
        coalesce=True,
    )
    scheduler.start()
    return scheduler
