"""Scheduler wiring: APScheduler polls the timer rows (one transaction per instance) and runs the
notification jobs (owed notices, reminders, outbox delivery, daily digests) and the daily start
of missing territory comités techniques, through one wrapper that owns their transactions and
logging."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.orm import Session, sessionmaker

from notifications import jobs, queue
from notifications import settings as notification_settings_module
from notifications.settings import Settings
from workflows.engine import runtime
from workflows.engine.db import transaction
from workflows.engine.errors import EngineError
from workflows.gouvernance import committees

from .config import notification_settings

log = logging.getLogger(__name__)
OWNER = f"{socket.gethostname()}:{os.getpid()}"


def fire_due_timers(factory: sessionmaker[Session], batch: int = 200, chunk: int = 25) -> int:
    """Lease and fire due timers until none is left; returns how many instances advanced.

    Instances advance `chunk` at a time in one transaction (fewer commits); if one of them is
    refused (changed meanwhile), that chunk is rolled back and replayed one instance at a time.
    """
    fired = 0
    while True:
        with transaction(factory) as session:
            leased = runtime.lease_due_timers(session=session, owner=OWNER, limit=batch)
        if not leased:
            return fired
        for start in range(0, len(leased), chunk):
            ids = leased[start : start + chunk]
            try:
                with transaction(factory) as session:
                    loaded = runtime.load_instances(session=session, instance_ids=ids)
                    for instance_id in ids:
                        runtime.fire_timers(session=session, instance_id=instance_id, actor=OWNER)
                    del loaded
                fired += len(ids)
            except EngineError:
                fired += _fire_one_by_one(factory, ids)


def _fire_one_by_one(factory: sessionmaker[Session], ids: list[int]) -> int:
    fired = 0
    for instance_id in ids:
        try:
            with transaction(factory) as session:
                runtime.fire_timers(session=session, instance_id=instance_id, actor=OWNER)
            fired += 1
        except EngineError as exc:  # changed meanwhile: the lease expires, a later poll retries
            log.info("minuteries de l'instance %s reportées : %s", instance_id, exc.message)
    return fired


def run_job(name: str, factory: sessionmaker[Session], body, *args) -> Any:
    """Run a job body in one transaction (committed on success), logging any failure."""
    try:
        with transaction(factory) as session:
            return body(session, *args)
    except Exception:
        log.exception("tâche planifiée %s en échec ; nouvel essai au prochain passage", name)
        return None


def send_notices(factory: sessionmaker[Session], settings: Settings) -> int:
    """The notices owed by recent changes (new tasks, meeting dates), until none is left."""
    handled = total = 0
    while True:
        handled = run_job("avis", factory, queue.drain, settings) or 0
        total += handled
        if handled < queue.BATCH:
            return total


def compute_reminders(factory: sessionmaker[Session], settings: Settings) -> int:
    return run_job("rappels", factory, jobs.compute_reminders, settings) or 0


def deliver_outbox(factory: sessionmaker[Session], settings: Settings) -> int:
    def run(step):
        with transaction(factory) as session:
            return step(session)

    try:
        return jobs.deliver_outbox(run, settings, OWNER)
    except Exception:
        log.exception("envoi des notifications en échec ; nouvel essai au prochain passage")
        return 0


def send_digests(factory: sessionmaker[Session], settings: Settings) -> int:
    return run_job("récapitulatifs", factory, jobs.send_digests, settings) or 0


def start_committees(factory: sessionmaker[Session]) -> int:
    """Each territory's comité technique, started if missing (daily; idempotent)."""
    return run_job("comités", factory, committees.start_missing_job) or 0


def _add_jobs(
    scheduler: BaseScheduler,
    factory: sessionmaker[Session],
    poll_seconds: float,
    settings: Settings | None = None,
):
    # A poll that finds the previous one still draining is normal, not worth a warning each time.
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    logging.getLogger("apscheduler.executors.default").setLevel(logging.ERROR)
    settings = settings or notification_settings()
    notification_settings_module.use(settings)
    common = {"max_instances": 1, "coalesce": True}
    scheduler.add_job(
        fire_due_timers,
        "interval",
        seconds=poll_seconds,
        args=[factory],
        id="fire_due_timers",
        **common,
    )
    scheduler.add_job(
        send_notices,
        "interval",
        seconds=poll_seconds,
        args=[factory, settings],
        id="send_notices",
        **common,
    )
    scheduler.add_job(
        compute_reminders,
        "interval",
        minutes=5,
        args=[factory, settings],
        id="compute_reminders",
        **common,
    )
    scheduler.add_job(
        deliver_outbox,
        "interval",
        seconds=max(poll_seconds, 5),
        args=[factory, settings],
        id="deliver_outbox",
        **common,
    )
    scheduler.add_job(
        send_digests,
        "cron",
        hour=settings.digest_hour,
        minute=0,
        args=[factory, settings],
        id="send_digests",
        misfire_grace_time=3600,
        **common,
    )
    scheduler.add_job(
        start_committees,
        "cron",
        hour=6,
        minute=30,
        args=[factory],
        id="start_committees",
        misfire_grace_time=6 * 3600,
        **common,
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
