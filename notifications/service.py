"""Outbox rows, preferences, in-app reading, due-date changes and re-sending failures.

Every function adds and flushes in the caller's session; the caller commits once, so a
notification is written in the same transaction as the change that causes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from workflows.access import Actor, require
from workflows.accounts.models import User
from workflows.engine import timers
from workflows.engine.errors import FormInvalid, NotFound
from workflows.engine.models import Event, HumanTask
from workflows.marches import service as marches

from . import render
from .models import KINDS, MODES, Notification, NotificationPreference

UNIQUE_KEY = ["recipient", "subject_type", "subject_id", "kind", "occurrence"]


@dataclass(frozen=True)
class Subject:
    """What a notification is about, and the occurrence it reminds of (e.g. a due date)."""

    type: str
    id: str
    occurrence: str
    instance_id: int | None = None
    link: str | None = None
    ics: str | None = None


def preference(session: Session, login: str, kind: str) -> str:
    """immediate (default), digest or off."""
    if kind == "digest":
        return "immediate"
    mode = session.scalar(
        select(NotificationPreference.mode).where(
            NotificationPreference.login == login, NotificationPreference.kind == kind
        )
    )
    return mode or "immediate"


def _insert(session: Session, values: dict[str, Any]) -> bool:
    """Insert unless the unique key exists already (SQLite and PostgreSQL alike)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(Notification).values(**values)
    statement = statement.on_conflict_do_nothing(index_elements=UNIQUE_KEY)
    return session.execute(statement.returning(Notification.id)).scalar() is not None


def record(
    *, session: Session, user: User, kind: str, subject: Subject, context: dict[str, Any]
) -> bool:
    """Write one notification for `user` if not written before; True when a row was added."""
    now = timers.now()
    mode = preference(session, user.login, kind)
    status = {"immediate": "pending", "digest": "digest", "off": "off"}[mode]
    if status == "pending" and not user.email:
        status = "inapp"  # no address: visible in the application only
    message = render.render(
        session, kind, {"name": user.full_name or user.login, **context}, user.language or "fr"
    )
    return _insert(
        session,
        {
            "recipient": user.login,
            "email": user.email,
            "subject_type": subject.type,
            "subject_id": subject.id,
            "kind": kind,
            "occurrence": subject.occurrence,
            "instance_id": subject.instance_id,
            "title": message.subject,
            "body_text": message.text,
            "body_html": message.html,
            "ics": subject.ics,
            "link": subject.link,
            "status": status,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        },
    )


def set_preference(*, session: Session, actor: Actor, kind: str, mode: str) -> None:
    """The actor's choice for one kind of notification: immediate, digest or off."""
    errors = {}
    if kind not in KINDS or kind == "digest":
        errors["kind"] = "valeurs : " + ", ".join(k for k in KINDS if k != "digest")
    if mode not in MODES:
        errors["mode"] = "valeurs : " + ", ".join(MODES)
    if errors:
        raise FormInvalid("Préférence refusée.", errors=errors)
    row = session.scalar(
        select(NotificationPreference).where(
            NotificationPreference.login == actor.login, NotificationPreference.kind == kind
        )
    )
    if row is None:
        row = NotificationPreference(login=actor.login, kind=kind)
        session.add(row)
    row.mode = mode
    session.flush()


def get_preferences(*, session: Session, actor: Actor) -> dict[str, str]:
    """Every kind with the actor's mode for it."""
    return {k: preference(session, actor.login, k) for k in KINDS if k != "digest"}


def _inbox(actor: Actor):
    return select(Notification).where(
        Notification.recipient == actor.login,
        Notification.kind != "digest",
        Notification.status != "off",
    )


def get_all(*, session: Session, actor: Actor, unread: bool = False, limit: int = 50):
    """The actor's in-app notifications, newest first."""
    query = _inbox(actor).order_by(Notification.created_at.desc(), Notification.id.desc())
    if unread:
        query = query.where(Notification.read_at.is_(None))
    return list(session.scalars(query.limit(limit)))


def unread_count(*, session: Session, actor: Actor) -> int:
    """How many in-app notifications the actor has not read."""
    query = _inbox(actor).where(Notification.read_at.is_(None))
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def mark_read(*, session: Session, actor: Actor, notification_id: int | None = None) -> int:
    """Mark one notification (or all, without an id) as read; returns how many changed."""
    query = (
        update(Notification)
        .where(
            Notification.recipient == actor.login,
            Notification.read_at.is_(None),
            Notification.kind != "digest",
            Notification.status != "off",
        )
        .values(read_at=timers.now())
    )
    if notification_id is not None:
        query = query.where(Notification.id == notification_id)
    return session.execute(query).rowcount


def change_due_date(
    *, session: Session, actor: Actor, task_id: str, due_at: datetime, reason: str
) -> HumanTask:
    """Move an open task's deadline: the coordinator of the marché's territory, or an admin."""
    task = session.get(HumanTask, task_id)
    if task is None or task.state != "open":
        raise NotFound(f"tâche à faire {task_id} introuvable")
    marche = marches.get_by_instance(session=session, instance_id=task.instance_id)
    coordinates = (
        marche is not None
        and actor.role == "coordinateur"
        and bool(actor.territory_ids & marche.territory_ids)
    )
    require(actor.is_admin or coordinates, "Réservé à la coordination du territoire du marché.")
    if not (reason or "").strip():
        raise FormInvalid("Motif obligatoire.", errors={"reason": "indiquez le motif du report"})
    if due_at.tzinfo is None:
        raise FormInvalid("Date refusée.", errors={"due_at": "fuseau horaire attendu"})
    old = task.due_at
    task.due_at = due_at
    session.add(
        Event(
            instance_id=task.instance_id,
            actor=actor.login,
            kind="task.due_changed",
            element_id=task.element_id,
            at=timers.now(),
            data={
                "task_id": task.id,
                "old": old.isoformat() if old else None,
                "new": due_at.isoformat(),
                "reason": reason.strip(),
            },
        )
    )
    session.flush()
    return task


def failed(*, session: Session, limit: int = 200) -> list[Notification]:
    """Notifications given up after the maximum number of tries (for admins)."""
    query = select(Notification).where(Notification.status == "failed")
    return list(session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def resend(*, session: Session, actor: Actor, notification_id: int) -> Notification:
    """Put a failed (or sent) notification back in the outbox for one more series of tries."""
    require(actor.is_admin, "Réservé aux administrateurs.")
    row = session.get(Notification, notification_id)
    if row is None:
        raise NotFound(f"notification {notification_id} introuvable")
    row.status, row.attempts, row.last_error = "pending", 0, None
    row.next_attempt_at, row.locked_until = timers.now(), None
    session.flush()
    return row
