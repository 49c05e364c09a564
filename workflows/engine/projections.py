"""Projection rows kept beside the serialized workflow: inbox (`human_task`) and `timer`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import String, bindparam, delete, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from . import business_calendar, timers
from .models import HumanTask, Instance, ProcessDefinition, Timer, candidates_text
from .parser import is_iso_literal

PARIS = ZoneInfo("Europe/Paris")

CreatedListener = Callable[[Session, Instance, HumanTask], None]
CREATED_LISTENERS: list[CreatedListener] = []


def as_aware(value: Any, *, end_of_day: bool = False) -> datetime:
    """A date, datetime or ISO string as an aware datetime (naive means Europe/Paris)."""
    if isinstance(value, str):
        text = value.strip()
        value = (
            datetime.fromisoformat(text) if "T" in text or " " in text else date.fromisoformat(text)
        )
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=PARIS)
    if isinstance(value, date):
        return datetime.combine(value, time(23, 59, 59) if end_of_day else time(0), PARIS)
    raise ValueError(f"date attendue, reçu {value!r}")


def _camunda(task_spec) -> dict[str, Any]:
    return (getattr(task_spec, "extensions", None) or {}).get("camunda", {})


def _evaluate_date(task, value: str, created: datetime) -> datetime:
    """A due or follow-up date: ISO duration from creation (in the task's business calendar),
    ISO date/datetime, or an expression giving one of those, a date or a timedelta."""
    mode = (
        (getattr(task.task_spec, "extensions", None) or {}).get("properties", {}).get("calendrier")
    )
    departement = task.data.get("departement")
    if is_iso_literal(value) and value.upper().startswith("P"):
        return business_calendar.due_after(created, value, mode=mode, departement=departement)
    if is_iso_literal(value):
        return as_aware(value, end_of_day=True)
    result = task.workflow.script_engine.evaluate(task, value)
    if isinstance(result, timedelta):
        return created + result
    if isinstance(result, str) and result.upper().startswith("P"):
        return _evaluate_date(task, result, created)
    return as_aware(result, end_of_day=True)


def stamp_new_tasks(workflow: BpmnWorkflow, now: datetime) -> None:
    """Give each newly ready user task its creation time and due / follow-up dates."""
    for task in workflow.get_tasks(state=TaskState.READY, manual=True):
        if task._get_internal_data("created_at"):
            continue
        task._set_internal_data(created_at=now.isoformat())
        camunda = _camunda(task.task_spec)
        for attr, slot in (("dueDate", "due_at"), ("followUpDate", "follow_up_at")):
            if camunda.get(attr):
                task._set_internal_data(
                    **{slot: _evaluate_date(task, camunda[attr], now).isoformat()}
                )


def _timer_due(task) -> tuple[str, datetime] | None:
    definition = getattr(task.task_spec, "event_definition", None)
    if not isinstance(definition, TimerEventDefinition):
        return None
    value = task._get_internal_data("event_value")
    if value is None:
        return None
    if isinstance(definition, CycleTimerEventDefinition):
        if not isinstance(value, dict) or value.get("cycles") == 0:
            return None
        return "cycle", as_aware(value["next"])
    kind = "duration" if isinstance(definition, DurationTimerEventDefinition) else "date"
    return kind, as_aware(timers.parse_when(value) if kind == "date" else value)


def _form(task_spec) -> dict[str, Any]:
    form = getattr(task_spec, "form", None)
    if form is None:
        return {}
    fields = []
    for f in form.fields:
        item = {
            "id": f.id,
            "label": f.label,
            "type": f.type,
            "default_value": f.default_value,
            "properties": {p.id: p.value for p in f.properties},
            "validation": [{"name": v.name, "config": v.config} for v in f.validation],
        }
        if f.type == "enum":
            item["options"] = [{"id": o.id, "name": o.name} for o in f.options]
        fields.append(item)
    return {"key": form.key, "fields": fields}


def _parse_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True)
class Snapshot:
    """What the projection rows of an instance hold, read off its workflow before a change
    (every change goes through `sync`, so rows and workflow agree): spares two SELECTs."""

    open_tasks: frozenset[str]
    timers: dict[str, datetime]


def snapshot(workflow: BpmnWorkflow) -> Snapshot:
    """The rows `sync` last wrote for a running instance's workflow."""
    return Snapshot(
        open_tasks=frozenset(
            str(t.id) for t in workflow.get_tasks(state=TaskState.READY, manual=True)
        ),
        timers={tid: due for tid, (_, _, due) in _timer_rows(workflow).items()},
    )


def sync(
    session: Session,
    instance: Instance,
    definition: ProcessDefinition,
    workflow: BpmnWorkflow,
    *,
    now: datetime,
    actor: str | None,
    fresh: bool,
    before: Snapshot | None = None,
) -> list[HumanTask] | None:
    """Bring the inbox and timer rows of one instance in line with its workflow; returns its
    open rows when they are all new (none was open before and still is), else None.

    `before`: the rows as they were (see `snapshot`); without it they are read from the table.
    Closed rows and gone timers are changed with one statement each, new rows are added.
    """
    if fresh:
        open_ids: set[str] = set()
    elif before is not None:
        open_ids = set(before.open_tasks)
    else:
        open_ids = set(
            session.scalars(
                select(HumanTask.id).where(
                    HumanTask.instance_id == instance.id, HumanTask.state == "open"
                )
            )
        )
    accepting = instance.status in ("running", "error", "suspended")
    ready = {
        str(t.id): t
        for t in (workflow.get_tasks(state=TaskState.READY, manual=True) if accepting else [])
    }
    closed: dict[str, list[str]] = {"completed": [], "cancelled": []}
    for task_id in open_ids - ready.keys():
        task = _find(workflow, task_id)
        done = task is not None and task.has_state(TaskState.COMPLETED)
        closed["completed" if done else "cancelled"].append(task_id)
    for state, ids in closed.items():
        if ids:
            _close(session, state, ids, now, actor)
    created = []
    for task_id, task in ready.items():
        if task_id in open_ids:
            continue
        spec = task.task_spec
        camunda = _camunda(spec)
        row = HumanTask(
            id=task_id,
            instance_id=instance.id,
            process_key=definition.key,
            element_id=spec.bpmn_id or spec.name,
            name=spec.bpmn_name or spec.bpmn_id,
            lane=spec.lane,
            candidate_groups=camunda.get("candidateGroups", []),
            candidate_users=camunda.get("candidateUsers", []),
            candidates=candidates_text(
                camunda.get("candidateGroups", []), camunda.get("candidateUsers", [])
            ),
            assignee=camunda.get("assignee"),
            due_at=_parse_iso(task._get_internal_data("due_at")),
            follow_up_at=_parse_iso(task._get_internal_data("follow_up_at")),
            form_key=camunda.get("formKey"),
            form=_form(spec),
            properties=(spec.extensions or {}).get("properties", {}),
            created_at=_parse_iso(task._get_internal_data("created_at")) or now,
            buyer_id=instance.buyer_id,
            territory_id=instance.territory_id,
        )
        session.add(row)
        created.append(row)
        for listener in CREATED_LISTENERS:
            listener(session, instance, row)
    active = instance.status in ("running", "suspended")
    _sync_timers(session, instance, workflow, fresh=fresh, active=active, before=before)
    if open_ids & ready.keys():
        return None
    return sorted(created, key=lambda r: r.created_at)  # every open row is new


_TASKS = HumanTask.__table__
_CLOSE = {  # one prepared statement per way an inbox row ends (executed without the ORM)
    state: _TASKS.update()
    .where(_TASKS.c.id.in_(bindparam("ids", expanding=True)), _TASKS.c.state == "open")
    .values(
        state=state,
        completed_at=bindparam("now", type_=_TASKS.c.completed_at.type),
        completed_by=(
            func.coalesce(_TASKS.c.completed_by, bindparam("actor", type_=String()))
            if state == "completed"
            else _TASKS.c.completed_by
        ),
    )
    for state in ("completed", "cancelled")
}


def _close(session: Session, state: str, ids: list[str], now: datetime, actor: str | None):
    """Close open inbox rows, and the copies of them this session holds."""
    session.connection().execute(_CLOSE[state], {"ids": ids, "now": now, "actor": actor})
    for task_id in ids:
        row = session.identity_map.get(identity_key(HumanTask, task_id))
        if row is not None and row.state == "open":
            set_committed_value(row, "state", state)
            set_committed_value(row, "completed_at", now)
            if state == "completed" and row.completed_by is None:
                set_committed_value(row, "completed_by", actor)


def _find(workflow: BpmnWorkflow, task_id: str):
    uid = UUID(task_id)
    if uid in workflow.tasks:
        return workflow.tasks[uid]
    for sub in workflow.subprocesses.values():
        if uid in sub.tasks:
            return sub.tasks[uid]
    return None


def _timer_rows(workflow: BpmnWorkflow) -> dict[str, tuple[str, str, datetime]]:
    """Timer rows a workflow needs: task id -> (element id, kind, due)."""
    rows = {}
    for task in workflow.get_tasks(state=TaskState.WAITING):
        due = _timer_due(task)
        if due is not None:
            rows[str(task.id)] = (task.task_spec.bpmn_id or task.task_spec.name, *due)
    return rows


def _sync_timers(session, instance, workflow, *, fresh: bool, active: bool, before) -> None:
    wanted = _timer_rows(workflow) if active else {}
    # id -> (due, leased); a snapshot knows no lease: one taken on a kept timer just expires
    if fresh:
        existing: dict[str, tuple[datetime, bool]] = {}
    elif before is not None:
        existing = {tid: (due, False) for tid, due in before.timers.items()}
    else:
        rows = session.execute(
            select(Timer.id, Timer.due_at, Timer.locked_until).where(
                Timer.instance_id == instance.id
            )
        )
        existing = {tid: (due, leased is not None) for tid, due, leased in rows}
    gone = [tid for tid in existing if tid not in wanted]
    if gone:
        session.execute(delete(Timer).where(Timer.id.in_(gone)))
    for tid, (element_id, kind, due_at) in wanted.items():
        if tid not in existing:
            session.add(
                Timer(
                    id=tid, instance_id=instance.id, element_id=element_id, kind=kind, due_at=due_at
                )
            )
        elif existing[tid] != (due_at, False):  # moved, or leased: the lease is over
            session.execute(
                update(Timer)
                .where(Timer.id == tid)
                .values(due_at=due_at, locked_until=None, locked_by=None)
                .execution_options(synchronize_session="fetch")
            )
