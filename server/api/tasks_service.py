"""Tasks as users handle them: inbox query, claim, assign, delegate, resolve, comment, complete.

Assignment changes write `HumanTask.assignee` and one audit Event in the caller's transaction.
Comments are audit events too (kind `task.comment`): they need no table of their own. Every
change bumps nothing on the instance: the ETag of a task is its instance's lock_version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from workflows.access import Actor, Forbidden, require
from workflows.accounts.models import User
from workflows.engine import runtime, timers
from workflows.engine.errors import FormInvalid, NotFound, TaskNotReady
from workflows.engine.models import Event, HumanTask, Instance

from ..errors import PreconditionFailed
from . import scope

SORTS = {
    "due": HumanTask.due_at,
    "created": HumanTask.created_at,
    "follow_up": HumanTask.follow_up_at,
    "name": HumanTask.name,
}


@dataclass
class Query:
    mine: bool = False
    my_groups: bool = False
    assignee: str | None = None
    candidate_group: str | None = None
    due_before: datetime | None = None
    due_after: datetime | None = None
    overdue: bool = False
    follow_up_before: datetime | None = None
    process: str | None = None
    instance_id: int | None = None
    marche: str | None = None
    state: str = "open"
    sort: str = "due"
    desc: bool = False


def inbox(*, session: Session, actor: Actor, query: Query) -> Select:
    """The tasks matching `query` among those the actor may see (a SELECT to paginate)."""
    q = scope.tasks(session, actor, query.state)
    if query.mine:
        q = q.where(HumanTask.assignee == actor.login)
    if query.my_groups:
        q = q.where(scope.offered_to(actor))
    if query.assignee:
        q = q.where(HumanTask.assignee == query.assignee)
    if query.candidate_group:
        q = q.where(scope.in_group(query.candidate_group))
    if query.due_before:
        q = q.where(HumanTask.due_at <= query.due_before)
    if query.due_after:
        q = q.where(HumanTask.due_at >= query.due_after)
    if query.overdue:
        q = q.where(HumanTask.due_at < timers.now())
    if query.follow_up_before:
        q = q.where(HumanTask.follow_up_at <= query.follow_up_before)
    if query.process:
        q = q.where(HumanTask.process_key == query.process)
    if query.instance_id:
        q = q.where(HumanTask.instance_id == query.instance_id)
    if query.marche:
        keyed = select(Instance.id).where(Instance.business_key == query.marche)
        q = q.where(HumanTask.instance_id.in_(keyed))
    column = SORTS.get(query.sort, HumanTask.due_at)
    order = column.desc().nulls_last() if query.desc else column.asc().nulls_last()
    return q.order_by(order, HumanTask.created_at, HumanTask.id)


def page(session: Session, query: Select, first: int, size: int) -> tuple[list[Any], int]:
    """One page of a scoped SELECT and the total count."""
    counted = query.order_by(None).with_only_columns(func.count(), maintain_column_froms=True)
    total = session.scalar(counted)
    return list(session.scalars(query.offset(first).limit(size))), total or 0


def _open(session: Session, actor: Actor, task_id: str, with_instance: bool = False) -> HumanTask:
    task = scope.get_task(
        session=session, actor=actor, task_id=task_id, with_instance=with_instance
    )
    if task.state != "open":
        raise TaskNotReady(f"La tâche « {task.name or task.element_id} » n'est plus à faire.")
    return task


def _audit(session, task: HumanTask, actor: Actor, kind: str, **data: Any) -> Event:
    event = Event(
        instance_id=task.instance_id,
        actor=actor.login,
        kind=kind,
        element_id=task.element_id,
        data={"task_id": task.id, **data},
    )
    session.add(event)
    session.flush()
    return event


def _check_user(session: Session, login: str) -> None:
    if not session.scalar(select(User.id).where(User.login == login, User.active.is_(True))):
        raise FormInvalid("Utilisateur inconnu.", errors={"userId": f"compte « {login} » inconnu"})


def claim(*, session: Session, actor: Actor, task_id: str) -> HumanTask:
    """Take an unassigned task offered to the actor."""
    task = _open(session, actor, task_id)
    if task.assignee is not None and task.assignee != actor.login:
        raise TaskNotReady(f"Tâche déjà prise par {task.assignee}.")
    require(scope.may_work_on(actor, task), "Cette tâche n'est pas proposée à votre groupe.")
    task.assignee = actor.login
    _audit(session, task, actor, "task.claimed", assignee=actor.login)
    return task


def unclaim(*, session: Session, actor: Actor, task_id: str) -> HumanTask:
    """Give a task back to its candidate groups."""
    task = _open(session, actor, task_id)
    require(
        actor.is_admin or task.assignee in (None, actor.login),
        "Seul le titulaire de la tâche peut la rendre.",
    )
    task.assignee = None
    _audit(session, task, actor, "task.unclaimed")
    return task


def assign(*, session: Session, actor: Actor, task_id: str, user_id: str | None) -> HumanTask:
    """Set the assignee (admins and coordinators; anyone for a task they hold)."""
    task = _open(session, actor, task_id)
    require(
        actor.is_admin or actor.role == "coordinateur" or task.assignee == actor.login,
        "Réservé aux coordinations, aux administrateurs et au titulaire de la tâche.",
    )
    if user_id:
        _check_user(session, user_id)
    task.assignee = user_id or None
    _audit(session, task, actor, "task.assigned", assignee=user_id)
    return task


def delegate(*, session: Session, actor: Actor, task_id: str, user_id: str) -> HumanTask:
    """Hand the task to someone else; `resolve` gives it back to the delegating owner."""
    task = _open(session, actor, task_id)
    require(scope.may_work_on(actor, task), "Cette tâche n'est pas la vôtre.")
    _check_user(session, user_id)
    owner = task.assignee or actor.login
    task.assignee = user_id
    _audit(session, task, actor, "task.delegated", owner=owner, assignee=user_id)
    return task


def owner_of(session: Session, task: HumanTask) -> str | None:
    """The owner of a delegated task still pending resolution."""
    last = session.scalar(
        select(Event)
        .where(
            Event.instance_id == task.instance_id,
            Event.kind.in_(("task.delegated", "task.resolved")),
        )
        .where(Event.element_id == task.element_id)
        .order_by(Event.id.desc())
        .limit(1)
    )
    if last is None or last.kind != "task.delegated" or last.data.get("task_id") != task.id:
        return None
    return last.data.get("owner")


def resolve(*, session: Session, actor: Actor, task_id: str) -> HumanTask:
    """The delegate gives the task back to its owner."""
    task = _open(session, actor, task_id)
    owner = owner_of(session, task)
    if owner is None:
        raise TaskNotReady("Cette tâche n'a pas été déléguée.")
    require(actor.is_admin or task.assignee == actor.login, "Seul le délégué peut la rendre.")
    task.assignee = owner
    _audit(session, task, actor, "task.resolved", assignee=owner)
    return task


def comment(*, session: Session, actor: Actor, task_id: str, text: str) -> Event:
    """Add a comment to a task (any state) the actor can see."""
    task = scope.get_task(session=session, actor=actor, task_id=task_id)
    if not text.strip():
        raise FormInvalid("Commentaire vide.", errors={"text": "obligatoire"})
    return _audit(session, task, actor, "task.comment", text=text.strip()[:5000])


def comments(*, session: Session, actor: Actor, task_id: str) -> list[Event]:
    task = scope.get_task(session=session, actor=actor, task_id=task_id)
    rows = session.scalars(
        select(Event)
        .where(Event.instance_id == task.instance_id, Event.kind == "task.comment")
        .order_by(Event.id)
    )
    return [e for e in rows if e.data.get("task_id") == task.id]


def complete(
    *,
    session: Session,
    actor: Actor,
    task_id: str,
    data: dict[str, Any],
    expected_version: int | None = None,
) -> Instance:
    """Complete a task the actor may work on, with its form data."""
    task = _open(session, actor, task_id, with_instance=True)
    if not scope.may_work_on(actor, task):
        raise Forbidden("Cette tâche est proposée à un autre groupe ou déjà prise.")
    if expected_version is not None:
        version = session.get(Instance, task.instance_id).lock_version  # read with the task
        if version != expected_version:
            raise PreconditionFailed(
                f"Version {expected_version} périmée : l'instance est en version {version}."
            )
    return runtime.complete_task(
        session=session,
        task_id=task.id,
        data=data,
        actor=actor.login,
        expected_version=expected_version,
    )


def get_for(*, session: Session, actor: Actor, task_id: str) -> HumanTask:
    return scope.get_task(session=session, actor=actor, task_id=task_id)


def version_of(session: Session, task: HumanTask) -> int:
    """The task's ETag: its instance's lock_version."""
    version = session.scalar(select(Instance.lock_version).where(Instance.id == task.instance_id))
    if version is None:
        raise NotFound(f"tâche {task.id} introuvable")
    return version
