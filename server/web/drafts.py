"""Drafts of task forms, per task and user, kept as audit events (kind `task.draft`).

A draft needs no table: it is "what this user had typed", which the audit trail may well show;
the latest one wins, and it stops being offered once the task is no longer open.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.access import Actor
from workflows.engine.models import Event, HumanTask

from ..api import scope

KIND = "task.draft"
MAX_VALUE = 20_000  # characters kept per field


def save(*, session: Session, actor: Actor, task_id: str, values: dict[str, str]) -> Event:
    """Record the actor's draft of an open task they can see."""
    task = scope.get_task(session=session, actor=actor, task_id=task_id)
    kept = {str(k)[:100]: str(v)[:MAX_VALUE] for k, v in values.items()}
    event = Event(
        instance_id=task.instance_id,
        actor=actor.login,
        kind=KIND,
        element_id=task.element_id,
        data={"task_id": task.id, "values": kept},
    )
    session.add(event)
    session.flush()
    return event


def latest(*, session: Session, actor: Actor, task: HumanTask) -> Event | None:
    """The actor's last draft of this task (the task already checked visible by the caller)."""
    rows = session.scalars(
        select(Event)
        .where(
            Event.instance_id == task.instance_id,
            Event.kind == KIND,
            Event.actor == actor.login,
            Event.element_id == task.element_id,
        )
        .order_by(Event.id.desc())
        .limit(20)
    )
    return next((e for e in rows if e.data.get("task_id") == task.id), None)


def values_of(event: Event | None) -> dict[str, Any]:
    return dict(event.data.get("values") or {}) if event else {}
