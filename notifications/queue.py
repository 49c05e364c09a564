"""Notices owed for a change, written with the change and sent out of the request.

Completing a task that opens the next one, or that fixes a meeting's date, adds one small
`notice_job` row in the completion's own transaction (nothing is lost if the process dies, and
nothing is owed if the completion rolls back). The scheduler's `notices` job, at every poll,
turns the jobs into notifications: it resolves the recipients, their preferences and language,
renders the templates and builds the invitations. The request pays for one row instead.

A new-task notice for a task already done or gone when the job runs is not written (nobody needs
to be told of a task that is over). A job whose handler fails is kept and retried at the next
pass, up to MAX_ATTEMPTS, then left with its error (`clausier notifications failed` lists them).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import NoticeJob
from .settings import Settings

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
BATCH = 500  # jobs per transaction
# kind -> handler(session, settings, job, state); `state` is shared by one pass (caches)
Handler = Callable[[Session, Settings, NoticeJob, dict[str, Any]], None]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        HANDLERS[kind] = function
        return function

    return register


def enqueue(
    session: Session,
    kind: str,
    *,
    instance_id: int | None,
    task_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Owe a notice; the row goes out with the caller's next flush, in its transaction."""
    session.add(NoticeJob(kind=kind, instance_id=instance_id, task_id=task_id, data=data or {}))


def drain(session: Session, settings: Settings, limit: int = BATCH) -> int:
    """Turn up to `limit` owed notices into notifications, oldest first; returns jobs handled.

    On PostgreSQL the jobs are taken with SKIP LOCKED, so two schedulers share the queue.
    """
    query = (
        select(NoticeJob)
        .where(NoticeJob.attempts < MAX_ATTEMPTS)
        .order_by(NoticeJob.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    jobs = list(session.scalars(query))
    state: dict[str, Any] = {}
    for job in jobs:
        try:
            with session.begin_nested():
                HANDLERS[job.kind](session, settings, job, state)
        except Exception as exc:  # one bad job must not hold the others back
            log.exception("avis %s (%s) en échec", job.id, job.kind)
            job.attempts += 1
            job.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            continue
        session.delete(job)
    session.flush()
    return len(jobs)


def stuck(*, session: Session) -> list[NoticeJob]:
    """Jobs given up after MAX_ATTEMPTS, with their last error."""
    return list(
        session.scalars(
            select(NoticeJob).where(NoticeJob.attempts >= MAX_ATTEMPTS).order_by(NoticeJob.id)
        )
    )
