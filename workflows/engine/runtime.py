"""Running instances: start, complete, timers, suspend/resume/cancel/retry, migrate.

Every function adds and flushes in the caller's session; the caller commits once. Each change
serializes the workflow once, refreshes the inbox and timer projections, and writes one audit event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.util.diff import diff_workflow, migrate_workflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from . import forms, projections, timers
from .deploy import get_definition
from .errors import (
    InstanceNotRunning,
    MigrationRefused,
    NotFound,
    StaleInstance,
    TaskNotReady,
)
from .models import Event, HumanTask, Instance, ProcessDefinition, Timer
from .sandbox import make_script_engine
from .serializer import REGISTRY, SERIALIZER_VERSION, SPECS, dump_state, load_state

SCRIPT_ENGINE = make_script_engine()
MAX_ENGINE_ROUNDS = 10_000

# Called inside complete_task, after form validation and before the task runs, in the same
# transaction, with the cleaned form data and the task's data as the user saw it: a domain module
# records what a task decides, may add values to the task data (returned dict) or refuse the
# completion by raising an EngineError.
TaskListener = Callable[
    [Session, Instance, HumanTask, dict[str, Any], dict[str, Any]], dict[str, Any] | None
]
TASK_LISTENERS: list[TaskListener] = []


def on_task_completed(listener: TaskListener) -> TaskListener:
    """Register a listener (usable as a decorator)."""
    TASK_LISTENERS.append(listener)
    return listener


def on_task_created(listener: projections.CreatedListener) -> projections.CreatedListener:
    """Register a listener called for each new inbox row, in the transaction that creates it
    (e.g. to write a "new task" notification atomically with the task)."""
    projections.CREATED_LISTENERS.append(listener)
    return listener


# (session, business key) -> (buyer_id, territory_id) of an instance started without them
SCOPE_OF_KEY: list[Callable[[Session, str], tuple[int | None, int | None]]] = []


def utcnow() -> datetime:
    return timers.now()


@dataclass
class StepError(Exception):
    message: str
    element_id: str | None


def _new_workflow(definition: ProcessDefinition) -> BpmnWorkflow:
    spec, subprocess_specs = SPECS.get(definition)
    return BpmnWorkflow(spec, subprocess_specs, script_engine=SCRIPT_ENGINE)


def restore(session: Session, instance: Instance) -> BpmnWorkflow:
    """The live workflow of a stored instance."""
    spec, subprocess_specs = SPECS.get(instance.definition)
    workflow = load_state(instance.state, spec, subprocess_specs)
    workflow.script_engine = SCRIPT_ENGINE
    return workflow


def _element_of(exc: BaseException) -> str | None:
    task = getattr(exc, "task", None)
    spec = getattr(task, "task_spec", None)
    return getattr(spec, "bpmn_id", None) or getattr(spec, "name", None)


def _message_of(exc: BaseException) -> str:
    parts = [str(exc)]
    inner = getattr(exc, "exception", None) or exc.__cause__
    if inner is not None and str(inner) and str(inner) not in parts[0]:
        parts.append(f"{type(inner).__name__}: {inner}")
    parts.extend(getattr(exc, "__notes__", []) or [])
    return " — ".join(p for p in parts if p)[:4000]


def advance(workflow: BpmnWorkflow) -> None:
    """Run engine steps and fire due timers until only user tasks or future timers remain."""
    try:
        for _ in range(MAX_ENGINE_ROUNDS):
            workflow.do_engine_steps()
            if not any(not t.task_spec.manual for t in workflow.get_tasks(state=TaskState.READY)):
                projections.stamp_new_tasks(workflow, utcnow())
                return
        raise StepError("le processus boucle sans fin (trop d'étapes automatiques)", None)
    except StepError:
        raise
    except Exception as exc:  # scripts and expressions are untrusted: any failure is the instance's
        raise StepError(_message_of(exc), _element_of(exc)) from exc


def _save(
    session: Session,
    instance: Instance,
    workflow: BpmnWorkflow,
    *,
    actor: str | None,
    kind: str,
    element_id: str | None = None,
    data: dict[str, Any] | None = None,
    error: StepError | None = None,
    before: projections.Snapshot | None = None,
) -> Instance:
    now = utcnow()
    if error is not None:
        instance.status = "error"
        instance.error_message = error.message
        instance.error_element = error.element_id
    elif instance.status == "error" and not workflow.get_tasks(state=TaskState.ERROR):
        instance.status = "running"
        instance.error_message = instance.error_element = None
    if workflow.is_completed() and instance.status == "running":
        instance.status = "completed"
        instance.ended_at = now
    instance.state = dump_state(workflow)
    instance.serializer_version = SERIALIZER_VERSION
    instance.updated_at = now
    if instance.id is None:
        session.add(instance)
        _flush(session)  # its id, for the rows below
        fresh = True
    else:
        fresh = False
    session.add(
        Event(
            instance_id=instance.id,
            actor=actor,
            kind=kind,
            element_id=element_id,
            data=_jsonable(data or {}),
        )
    )
    if error is not None:
        session.add(
            Event(
                instance_id=instance.id,
                actor=actor,
                kind="instance.error",
                element_id=error.element_id,
                data={"message": error.message},
            )
        )
    _flush(session)  # the optimistic lock is checked here, before any projection is written
    with session.no_autoflush:  # new inbox/timer rows go out with the next flush, batched
        opened = projections.sync(
            session,
            instance,
            instance.definition,
            workflow,
            now=now,
            actor=actor,
            fresh=fresh,
            before=before,
        )
    if opened is not None:
        instance.open_rows = (instance.lock_version, opened)
    return instance


STALE = "Ce dossier a été modifié entre-temps par quelqu'un d'autre ; rechargez-le et recommencez."


def _flush(session: Session) -> None:
    try:
        session.flush()
    except StaleDataError as exc:
        raise StaleInstance(STALE) from exc


def _advance_and_save(session: Session, instance: Instance, workflow: BpmnWorkflow, **kwargs):
    """Run the engine; a failing script leaves the instance in a visible error state."""
    try:
        advance(workflow)
    except StepError as exc:
        return _save(session, instance, workflow, error=exc, **kwargs)
    return _save(session, instance, workflow, **kwargs)


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    return REGISTRY.convert(data)


def start(
    *,
    session: Session,
    key: str,
    business_key: str | None = None,
    variables: dict[str, Any] | None = None,
    actor: str | None = None,
    version: int | None = None,
    buyer_id: int | None = None,
    territory_id: int | None = None,
) -> Instance:
    """Start an instance of the latest (or given) version of process `key`.

    `buyer_id`, `territory_id`: who may see it (stored, copied onto its inbox rows); when both
    are absent, SCOPE_OF_KEY (registered by the domain) derives them from the business key.
    """
    definition = get_definition(session=session, key=key, version=version)
    if buyer_id is None and territory_id is None and SCOPE_OF_KEY and business_key:
        buyer_id, territory_id = SCOPE_OF_KEY[0](session, business_key)
    variables = forms.validate({}, variables or {}, {})
    workflow = _new_workflow(definition)
    for task in workflow.get_tasks(state=TaskState.READY):
        task.data.update(variables)
    instance = Instance(
        definition=definition,
        business_key=business_key,
        status="running",
        started_by=actor,
        buyer_id=buyer_id,
        territory_id=territory_id,
    )
    return _advance_and_save(
        session,
        instance,
        workflow,
        actor=actor,
        kind="instance.started",
        data={"key": key, "version": definition.version, "variables": variables},
    )


def get_instance(*, session: Session, instance_id: int) -> Instance:
    instance = session.get(Instance, instance_id)
    if instance is None:
        raise NotFound(f"instance {instance_id} introuvable")
    return instance


def load_instances(*, session: Session, instance_ids: list[int]) -> list[Instance]:
    """Load several instances (with their definitions) in one query; keep the returned list
    while working on them so that `get_instance` finds them in the session."""
    return list(session.scalars(select(Instance).where(Instance.id.in_(instance_ids))))


def _check_version(instance: Instance, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != instance.lock_version:
        raise StaleInstance(STALE)


def complete_task(
    *,
    session: Session,
    task_id: str,
    data: dict[str, Any] | None = None,
    actor: str | None = None,
    expected_version: int | None = None,
) -> Instance:
    """Complete an open user task with data validated against its form."""
    row = session.get(HumanTask, task_id)
    if row is None:
        raise NotFound(f"tâche {task_id} introuvable")
    if row.state != "open":
        raise TaskNotReady(f"La tâche « {row.name or row.element_id} » n'est plus à faire.")
    instance = get_instance(session=session, instance_id=row.instance_id)
    _check_version(instance, expected_version)
    if instance.status != "running":
        raise InstanceNotRunning(
            f"L'instance {instance.id} est « {instance.status} » : "
            "la tâche ne peut pas être terminée."
        )
    workflow = restore(session, instance)
    before = projections.snapshot(workflow)
    task = workflow.get_task_from_id(UUID(task_id))
    if task is None or task.state != TaskState.READY:
        raise TaskNotReady(f"La tâche « {row.name or row.element_id} » n'est pas prête.")
    cleaned = forms.validate(row.form or {}, data or {}, task.data)
    # who completes it, for the listeners; stored by the closing UPDATE (projections.sync)
    set_committed_value(row, "completed_by", actor)
    seen = dict(task.data)  # as the user saw it; one copy for every listener
    for listener in TASK_LISTENERS:
        cleaned.update(listener(session, instance, row, cleaned, seen) or {})
    task.data.update(cleaned)
    task.run()
    return _advance_and_save(
        session,
        instance,
        workflow,
        actor=actor,
        kind="task.completed",
        element_id=row.element_id,
        data={"task_id": task_id, "name": row.name, "data": cleaned},
        before=before,
    )


def fire_timers(*, session: Session, instance_id: int, actor: str | None = "scheduler") -> Instance:
    """Refresh an instance so its due timers fire; records an error state on failure."""
    instance = get_instance(session=session, instance_id=instance_id)
    if instance.status != "running":
        return instance
    workflow = restore(session, instance)
    before = projections.snapshot(workflow)
    return _advance_and_save(
        session, instance, workflow, actor=actor, kind="timers.fired", before=before
    )


def due_timer_instances(
    *, session: Session, now: datetime | None = None, limit: int = 500
) -> list[int]:
    """Ids of running instances with a timer due at `now` (leased or not)."""
    now = now or utcnow()
    rows = session.execute(
        select(Timer.instance_id)
        .join(Instance, Instance.id == Timer.instance_id)
        .where(Timer.due_at <= now, Instance.status == "running")
        .group_by(Timer.instance_id)
        .limit(limit)
    )
    return [r[0] for r in rows]


def lease_due_timers(
    *, session: Session, owner: str, lease_seconds: float = 120, limit: int = 200
) -> list[int]:
    """Lease due, unleased timers for `owner`; returns their instances' ids.

    On PostgreSQL the rows are locked with SKIP LOCKED, so any number of scheduler processes can
    lease at once without waiting for or taking each other's rows; on SQLite the transaction
    holds the write lock. A lease that is not released (process killed) expires by itself.
    """
    now = utcnow()
    query = (
        select(Timer.id, Timer.instance_id)
        .join(Instance, Instance.id == Timer.instance_id)
        .where(
            Timer.due_at <= now,
            Instance.status == "running",
            or_(Timer.locked_until.is_(None), Timer.locked_until < now),
        )
        .order_by(Timer.due_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Timer)
    rows = session.execute(query).all()
    if rows:
        session.execute(
            update(Timer)
            .where(Timer.id.in_([r.id for r in rows]))
            .values(locked_until=now + timedelta(seconds=lease_seconds), locked_by=owner)
        )
    return sorted({r.instance_id for r in rows})


def _set_status(session, instance_id, *, allowed, status, kind, actor, expected_version=None):
    instance = get_instance(session=session, instance_id=instance_id)
    _check_version(instance, expected_version)
    if instance.status not in allowed:
        raise InstanceNotRunning(
            f"L'instance {instance.id} est « {instance.status} » : action impossible."
        )
    instance.status = status
    instance.updated_at = utcnow()
    session.add(Event(instance_id=instance.id, actor=actor, kind=kind))
    _flush(session)
    return instance


def suspend(*, session: Session, instance_id: int, actor: str | None = None, expected_version=None):
    """Suspend a running instance: its tasks cannot be completed and its timers wait."""
    return _set_status(
        session,
        instance_id,
        allowed={"running"},
        status="suspended",
        kind="instance.suspended",
        actor=actor,
        expected_version=expected_version,
    )


def resume(*, session: Session, instance_id: int, actor: str | None = None, expected_version=None):
    """Resume a suspended instance; timers that fell due meanwhile fire once."""
    instance = _set_status(
        session,
        instance_id,
        allowed={"suspended"},
        status="running",
        kind="instance.resumed",
        actor=actor,
        expected_version=expected_version,
    )
    return fire_timers(session=session, instance_id=instance.id, actor=actor)


def cancel(
    *,
    session: Session,
    instance_id: int,
    actor: str | None = None,
    reason: str = "",
    expected_version=None,
) -> Instance:
    """Cancel an instance: open tasks are withdrawn and timers removed."""
    instance = get_instance(session=session, instance_id=instance_id)
    _check_version(instance, expected_version)
    if instance.status in ("completed", "cancelled"):
        raise InstanceNotRunning(f"L'instance {instance.id} est déjà « {instance.status} ».")
    workflow = restore(session, instance)
    workflow.cancel()
    instance.status = "cancelled"
    instance.ended_at = utcnow()
    return _save(
        session, instance, workflow, actor=actor, kind="instance.cancelled", data={"reason": reason}
    )


def retry(
    *,
    session: Session,
    instance_id: int,
    actor: str | None = None,
    variables: dict[str, Any] | None = None,
    expected_version=None,
) -> Instance:
    """Run the failed step again, optionally after correcting variables."""
    instance = get_instance(session=session, instance_id=instance_id)
    _check_version(instance, expected_version)
    if instance.status != "error":
        raise InstanceNotRunning(f"L'instance {instance.id} n'est pas en erreur.")
    workflow = restore(session, instance)
    fixes = forms.validate({}, variables or {}, {})
    for task in workflow.get_tasks(state=TaskState.ERROR):
        task.data.update(fixes)
        task._set_state(TaskState.READY)
    return _advance_and_save(
        session,
        instance,
        workflow,
        actor=actor,
        kind="instance.retried",
        data={"variables": fixes},
    )


def migrate(
    *, session: Session, instance_id: int, version: int | None = None, actor: str | None = None
) -> Instance:
    """Move an instance to a newer version of its process, or refuse with the reason."""
    instance = get_instance(session=session, instance_id=instance_id)
    current = session.get(ProcessDefinition, instance.definition_id)
    target = get_definition(session=session, key=current.key, version=version)
    if target.version <= current.version:
        raise MigrationRefused(
            f"L'instance est déjà en version {current.version} ; cible {target.version} refusée."
        )
    if instance.status in ("completed", "cancelled"):
        raise MigrationRefused(f"L'instance est « {instance.status} » : rien à migrer.")
    workflow = restore(session, instance)
    spec, subprocess_specs = SPECS.get(target)
    top, sub_diffs = diff_workflow(REGISTRY, workflow, spec, subprocess_specs)
    if top.removed or any(d is None or d.removed for d in sub_diffs.values()):
        names = ", ".join(sorted({t.task_spec.bpmn_id or t.task_spec.name for t in top.removed}))
        raise MigrationRefused(
            "Migration impossible : la version "
            f"{target.version} n'a plus les étapes en cours ({names or 'sous-processus'})."
        )
    migrate_workflow(top, workflow, spec)
    for sp_id, sp_diff in sub_diffs.items():
        sub = workflow.subprocesses[sp_id]
        migrate_workflow(sp_diff, sub, subprocess_specs[sub.spec.name])
    workflow.subprocess_specs = subprocess_specs
    instance.definition = target
    return _advance_and_save(
        session,
        instance,
        workflow,
        actor=actor,
        kind="instance.migrated",
        data={"from": current.version, "to": target.version},
    )


def variables(*, session: Session, instance_id: int) -> dict[str, Any]:
    """The instance's current data (from its most recent task)."""
    instance = get_instance(session=session, instance_id=instance_id)
    workflow = restore(session, instance)
    return _jsonable(dict(workflow.last_task.data if workflow.last_task else workflow.data))
