"""Scheduler wiring: APScheduler polls the timer rows; one transaction per instance."""

from __future__ import annotations

import logging
import os
import socket

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.orm import Session, sessionmaker

from workflows.engine import runtime
from workflows.engine.db import transaction
from workflows.engine.errors import EngineError

log = logging.getLogger(__name__)
OWNER = f"{socket.gethostname()}:{os.getpid()}"


def fire_due_timers(factory: sessionmaker[Session], batch: int = 200) -> int:
    """Lease and fire due timers until none is left; returns how many instances advanced."""
    fired = 0
    while True:
        with transaction(factory) as session:
            leased = runtime.lease_due_timers(session=session, owner=OWNER, limit=batch)
        if not leased:
            return fired
        for instance_id in leased:
            try:
                with transaction(factory) as session:
                    runtime.fire_timers(session=session, instance_id=instance_id, actor=OWNER)
                fired += 1
            except EngineError as exc:  # changed meanwhile: the lease expires, a later poll retries
                log.info("minuteries de l'instance %s reportées : %s", instance_id, exc.message)


def _add_jobs(scheduler: BaseScheduler, factory: sessionmaker[Session], poll_seconds: float):
    # A poll that finds the previous one still draining is normal, not worth a warning each time.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    logging.getLogger("apscheduler.executors.default").setLevel(logging.ERROR)
    scheduler.add_job(
        fire_due_timers,
        "interval",
        seconds=poll_seconds,
        args=[factory],
        id="fire_due_timers",
        max_instances=1,
        coalesce=True,
    )


def start_scheduler(factory: sessionmaker[Session], poll_seconds: float) -> BackgroundScheduler:
    """The scheduler inside the web server process (embedded default)."""
    scheduler = BackgroundScheduler(timezone="Europe/Paris")
    _add_jobs(scheduler, factory, poll_seconds)
    scheduler.start()
    return scheduler


def run_scheduler(factory: sessionmaker[Session], poll_seconds: float) -> None:
    """The scheduler as its own process (`clausier scheduler`); returns on SIGINT/SIGTERM."""
    scheduler = BlockingScheduler(timezone="Europe/Paris")
    _add_jobs(scheduler, factory, poll_seconds)
    scheduler.start()
