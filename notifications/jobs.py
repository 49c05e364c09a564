"""Bodies of the scheduled jobs: reminders, outbox delivery, daily digests.

They take a session (or, for delivery, a `run(step)` that executes a step in its own
transaction) and leave commits, rollbacks and logging to the scheduler's one wrapper.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from workflows.engine import business_calendar as cal
from workflows.engine import timers
from workflows.engine.models import HumanTask

from . import mail, recipients, reminders
from .models import Notification
from .service import Subject, record
from .settings import Settings

T = TypeVar("T")
Run = Callable[[Callable[[Session], T]], T]
LEASE_SECONDS = 120


def compute_reminders(session: Session, settings: Settings) -> int:
    """Today's reminders for every open task; idempotent."""
    return reminders.compute(session=session, settings=settings)


def _skip_closed_tasks(session: Session) -> None:
    closed = select(HumanTask.id).where(HumanTask.state != "open")
    session.execute(
        update(Notification)
        .where(
            Notification.status == "pending",
            Notification.subject_type == "task",
            Notification.kind.in_(reminders.REMINDER_KINDS),
            Notification.subject_id.in_(closed),
        )
        .values(status="skipped")
    )


def lease(session: Session, owner: str, limit: int = 200) -> list[mail.Envelope]:
    """Lease due, unleased outbox rows (SKIP LOCKED on PostgreSQL) and read what to send."""
    now = timers.now()
    _skip_closed_tasks(session)
    query = (
        select(Notification)
        .where(
            Notification.status == "pending",
            Notification.next_attempt_at <= now,
            or_(Notification.locked_until.is_(None), Notification.locked_until < now),
        )
        .order_by(Notification.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    rows = list(session.scalars(query))
    for row in rows:
        row.locked_until = now + timedelta(seconds=LEASE_SECONDS)
    session.flush()
    return [
        mail.Envelope(r.id, r.email, r.title, r.body_text, r.body_html, r.ics, r.created_at)
        for r in rows
    ]


def settle(session: Session, results: list[mail.Result], settings: Settings) -> None:
    """Record each delivery: sent, or retried later with back-off, or failed after max tries."""
    now = timers.now()
    for result in results:
        row = session.get(Notification, result.id)
        row.locked_until = None
        if result.error is None:
            row.status, row.sent_at, row.delivered_to = "sent", now, result.delivered_to
            row.last_error = None
            continue
        row.attempts += 1
        row.last_error = result.error[:2000]
        if row.attempts >= settings.max_attempts:
            row.status = "failed"
        else:
            delay = settings.retry_seconds * 2 ** (row.attempts - 1)
            row.next_attempt_at = now + timedelta(seconds=delay)
    session.flush()


def deliver_outbox(run: Run, settings: Settings, owner: str, batch: int = 200) -> int:
    """Send the outbox in batches until nothing is due; returns how many were sent."""
    sent = 0
    while True:
        envelopes = run(lambda s: lease(s, owner, batch))
        if not envelopes:
            return sent
        results = mail.send(envelopes, settings)
        run(lambda s, results=results: settle(s, results, settings))
        sent += sum(r.error is None for r in results)
        if any(r.error for r in results):
            return sent  # the server is refusing: wait for the next poll


def _digest_items(session: Session, before) -> dict[str, list[Notification]]:
    rows = session.scalars(
        select(Notification)
        .where(Notification.status == "digest", Notification.created_at <= before)
        .order_by(Notification.recipient, Notification.created_at, Notification.id)
    )
    grouped: dict[str, list[Notification]] = defaultdict(list)
    for row in rows:
        grouped[row.recipient].append(row)
    return grouped


def send_digests(session: Session, settings: Settings) -> int:
    """One digest per person with messages waiting; at most one per person and day."""
    now, day = timers.now(), cal.today()
    written = 0
    for login, rows in _digest_items(session, now).items():
        users = recipients.by_logins(session, [login])
        if not users:
            continue
        items: list[dict[str, Any]] = [{"title": r.title, "link": r.link} for r in rows]
        subject = Subject("user", login, day.isoformat())
        context = {"day": day.strftime("%d/%m/%Y"), "items": items}
        if record(session=session, user=users[0], kind="digest", subject=subject, context=context):
            written += 1
            session.execute(
                update(Notification)
                .where(and_(Notification.id.in_([r.id for r in rows])))
                .values(status="digested", sent_at=now)
            )
    return written
