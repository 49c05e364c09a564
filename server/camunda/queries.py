"""Camunda 7 read-only queries: deployments and history (process instances, tasks).

Deployments: Clausier stores process versions, not deployments; each process version is
presented as one deployment whose id is the version's row id, named after its file, with its
BPMN file and the DMN files it uses as resources.
History: process instances from the instance rows (every status), tasks from the inbox rows
(completed and cancelled ones are kept), the cancellation reason from the audit events.
Everything is scoped like the runtime queries: what an actor may not see does not exist.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from workflows.access import Actor
from workflows.engine.errors import NotFound
from workflows.engine.models import Event, HumanTask, Instance, ProcessDefinition

from ..api import scope
from .service import (
    InvalidRequest,
    _first,
    _flag,
    _int,
    _max,
    _text,
    camunda_date,
    definition_id,
)

# --- deployments ---------------------------------------------------------------------------------

DEPLOYMENT_SORT = {
    "id": ProcessDefinition.id,
    "name": ProcessDefinition.source_name,
    "deploymentTime": ProcessDefinition.deployed_at,
}


def deployment_of(row: ProcessDefinition) -> dict[str, Any]:
    return {
        "links": [],
        "id": str(row.id),
        "name": row.source_name,
        "source": row.deployed_by,
        "deploymentTime": camunda_date(row.deployed_at),
        "tenantId": None,
    }


def _sorting(params: dict[str, Any], columns: dict[str, Any], default) -> list:
    """ORDER BY from `sortBy` + `sortOrder` (query) or the first of `sorting` (POST body)."""
    sorting = params.get("sorting")
    if isinstance(sorting, list) and sorting and isinstance(sorting[0], dict):
        params = sorting[0]
    elif sorting is not None:
        raise InvalidRequest("sorting must be a list of {sortBy, sortOrder} objects")
    sort_by, order = params.get("sortBy"), params.get("sortOrder")
    if sort_by is None and order is None:
        return [default]
    if not sort_by or not order:
        raise InvalidRequest(
            "Only a single sorting parameter specified. sortBy and sortOrder required"
        )
    if sort_by not in columns:
        raise InvalidRequest(f"Cannot set query parameter 'sortBy' to value '{sort_by}'")
    if order not in ("asc", "desc"):
        raise InvalidRequest(f"Cannot set query parameter 'sortOrder' to value '{order}'")
    column = columns[sort_by]
    return [column.desc() if order == "desc" else column.asc(), default]


def _deployment_query(params: dict[str, Any]) -> Select:
    query = select(ProcessDefinition)
    if _text(params, "id"):
        query = query.where(ProcessDefinition.id == _row_id(params["id"]))
    if _text(params, "name"):
        query = query.where(ProcessDefinition.source_name == params["name"])
    if _text(params, "nameLike"):
        query = query.where(ProcessDefinition.source_name.like(params["nameLike"]))
    return query


def deployments(session: Session, params: dict[str, Any]) -> list[dict[str, Any]]:
    query = _deployment_query(params).order_by(
        *_sorting(params, DEPLOYMENT_SORT, ProcessDefinition.id.asc())
    )
    rows = session.scalars(query.offset(_first(params)).limit(_max(params)))
    return [deployment_of(r) for r in rows]


def deployment_count(session: Session, params: dict[str, Any]) -> dict[str, int]:
    return {"count": session.scalar(_count(_deployment_query(params)))}


def _row_id(value: str) -> int:
    return int(value) if str(value).isdigit() and len(str(value)) <= 12 else -1


def deployment(session: Session, deployment_id: str) -> ProcessDefinition:
    row = session.get(ProcessDefinition, _row_id(deployment_id))
    if row is None:
        raise NotFound(f"Deployment with id '{deployment_id}' does not exist")
    return row


def resources(row: ProcessDefinition) -> list[dict[str, Any]]:
    """The BPMN file, then the DMN files deployed with it (`<deployment id>-<n>`)."""
    names = [row.source_name, *sorted(row.dmn_xml or {})]
    return [
        {"id": f"{row.id}-{i}", "name": n, "deploymentId": str(row.id)} for i, n in enumerate(names)
    ]


def resource(row: ProcessDefinition, resource_id: str) -> tuple[dict[str, Any], str]:
    for i, item in enumerate(resources(row)):
        if item["id"] == resource_id:
            data = row.bpmn_xml if i == 0 else row.dmn_xml[item["name"]]
            return item, data
    raise NotFound(
        f"Deployment resource with resource id '{resource_id}' for deployment id "
        f"'{row.id}' does not exist."
    )


# --- history: process instances ------------------------------------------------------------------

STATES = {
    "running": "ACTIVE",
    "error": "ACTIVE",
    "suspended": "SUSPENDED",
    "completed": "COMPLETED",
    "cancelled": "EXTERNALLY_TERMINATED",
}
ENDED = ("completed", "cancelled")
INSTANCE_SORT = {
    "instanceId": Instance.id,
    "businessKey": Instance.business_key,
    "startTime": Instance.started_at,
    "endTime": Instance.ended_at,
    "definitionKey": ProcessDefinition.key,
    "definitionVersion": ProcessDefinition.version,
}


def _millis(start, end) -> int | None:
    return None if start is None or end is None else int((end - start).total_seconds() * 1000)


def historic_instance(
    instance: Instance, definition: ProcessDefinition, reason: str | None
) -> dict[str, Any]:
    return {
        "id": str(instance.id),
        "businessKey": instance.business_key,
        "processDefinitionId": definition_id(definition),
        "processDefinitionKey": definition.key,
        "processDefinitionName": definition.name,
        "processDefinitionVersion": definition.version,
        "startTime": camunda_date(instance.started_at),
        "endTime": camunda_date(instance.ended_at),
        "removalTime": None,
        "durationInMillis": _millis(instance.started_at, instance.ended_at),
        "startUserId": instance.started_by,
        "startActivityId": None,
        "deleteReason": reason,
        "rootProcessInstanceId": str(instance.id),
        "superProcessInstanceId": None,
        "superCaseInstanceId": None,
        "caseInstanceId": None,
        "tenantId": None,
        "state": STATES.get(instance.status, "ACTIVE"),
    }


def _ids(value: Any, key: str) -> list[int]:
    values = value if isinstance(value, list) else str(value).split(",")
    return [_int(v, key) for v in values if str(v).strip()]


def _instance_query(session: Session, actor: Actor, params: dict[str, Any]) -> Select:
    query = (
        scope.instances(session, actor)
        .join(ProcessDefinition, ProcessDefinition.id == Instance.definition_id)
        .add_columns(ProcessDefinition)
    )
    if params.get("processInstanceId"):
        query = query.where(Instance.id == _int(params["processInstanceId"], "processInstanceId"))
    if params.get("processInstanceIds"):
        query = query.where(
            Instance.id.in_(_ids(params["processInstanceIds"], "processInstanceIds"))
        )
    if _text(params, "processDefinitionKey"):
        query = query.where(ProcessDefinition.key == params["processDefinitionKey"])
    for name in ("processInstanceBusinessKey", "businessKey"):
        if _text(params, name):
            query = query.where(Instance.business_key == params[name])
    if _text(params, "startedBy"):
        query = query.where(Instance.started_by == params["startedBy"])
    if _flag(params, "finished"):
        query = query.where(Instance.status.in_(ENDED))
    if _flag(params, "unfinished"):
        query = query.where(Instance.status.not_in(ENDED))
    if _flag(params, "completed"):
        query = query.where(Instance.status == "completed")
    if _flag(params, "externallyTerminated"):
        query = query.where(Instance.status == "cancelled")
    if _flag(params, "active"):
        query = query.where(Instance.status.in_(("running", "error")))
    if _flag(params, "suspended"):
        query = query.where(Instance.status == "suspended")
    return query


def _reasons(session: Session, ids: list[int]) -> dict[int, str]:
    """The reason given when each of these instances was cancelled."""
    if not ids:
        return {}
    rows = session.execute(
        select(Event.instance_id, Event.data)
        .where(Event.instance_id.in_(ids), Event.kind == "instance.cancelled")
        .order_by(Event.id)
    )
    return {i: (data or {}).get("reason") or "cancelled" for i, data in rows}


def historic_instances(
    session: Session, actor: Actor, params: dict[str, Any]
) -> list[dict[str, Any]]:
    query = _instance_query(session, actor, params).order_by(
        *_sorting(params, INSTANCE_SORT, Instance.id.asc())
    )
    rows = session.execute(query.offset(_first(params)).limit(_max(params))).all()
    reasons = _reasons(session, [i.id for i, _d in rows if i.status == "cancelled"])
    return [historic_instance(i, d, reasons.get(i.id)) for i, d in rows]


def historic_instance_count(session: Session, actor: Actor, params: dict[str, Any]) -> dict:
    query = _instance_query(session, actor, params)
    return {"count": session.scalar(_count(query))}


def _count(query: Select) -> Select:
    return query.order_by(None).with_only_columns(func.count(), maintain_column_froms=True)


def historic_instance_by_id(session: Session, actor: Actor, instance_id: str) -> dict[str, Any]:
    params = {"processInstanceId": instance_id}
    if not str(instance_id).isdigit() or len(str(instance_id)) > 12:
        rows = []
    else:
        rows = session.execute(_instance_query(session, actor, params)).all()
    if not rows:
        raise NotFound(f"Historic process instance with id {instance_id} does not exist")
    instance, definition = rows[0]
    return historic_instance(
        instance, definition, _reasons(session, [instance.id]).get(instance.id)
    )


# --- history: tasks -------------------------------------------------------------------------------

TASK_SORT = {
    "taskId": HumanTask.id,
    "instanceId": HumanTask.instance_id,
    "startTime": HumanTask.created_at,
    "endTime": HumanTask.completed_at,
    "duedate": HumanTask.due_at,
    "followUpDate": HumanTask.follow_up_at,
    "taskName": HumanTask.name,
    "assignee": HumanTask.assignee,
    "definitionKey": HumanTask.element_id,
}
TASK_DELETE_REASONS = {"completed": "completed", "cancelled": "deleted"}
TASK_STATES = {"open": "Created", "completed": "Completed", "cancelled": "Deleted"}


def historic_task(task: HumanTask, definition: ProcessDefinition) -> dict[str, Any]:
    ended = task.completed_at if task.state != "open" else None
    return {
        "id": task.id,
        "processDefinitionKey": definition.key,
        "processDefinitionId": definition_id(definition),
        "processInstanceId": str(task.instance_id),
        "executionId": str(task.instance_id),
        "caseDefinitionKey": None,
        "caseDefinitionId": None,
        "caseInstanceId": None,
        "caseExecutionId": None,
        "activityInstanceId": f"{task.element_id}:{task.id}",
        "name": task.name,
        "description": None,
        "deleteReason": TASK_DELETE_REASONS.get(task.state),
        "owner": None,
        "assignee": task.assignee or task.completed_by,
        "startTime": camunda_date(task.created_at),
        "endTime": camunda_date(ended),
        "duration": _millis(task.created_at, ended),
        "taskDefinitionKey": task.element_id,
        "priority": 50,
        "due": camunda_date(task.due_at),
        "parentTaskId": None,
        "followUp": camunda_date(task.follow_up_at),
        "tenantId": None,
        "removalTime": None,
        "rootProcessInstanceId": str(task.instance_id),
        "taskState": TASK_STATES.get(task.state),
    }


def _task_query(session: Session, actor: Actor, params: dict[str, Any]) -> Select:
    query = (
        scope.tasks(session, actor)
        .join(Instance, Instance.id == HumanTask.instance_id)
        .join(ProcessDefinition, ProcessDefinition.id == Instance.definition_id)
        .add_columns(ProcessDefinition)
    )
    if params.get("taskId"):
        query = query.where(HumanTask.id == str(params["taskId"]))
    if params.get("processInstanceId"):
        query = query.where(
            HumanTask.instance_id == _int(params["processInstanceId"], "processInstanceId")
        )
    if _text(params, "processDefinitionKey"):
        query = query.where(ProcessDefinition.key == params["processDefinitionKey"])
    if _text(params, "processInstanceBusinessKey"):
        query = query.where(Instance.business_key == params["processInstanceBusinessKey"])
    if _text(params, "taskDefinitionKey"):
        query = query.where(HumanTask.element_id == params["taskDefinitionKey"])
    if _text(params, "taskAssignee"):
        who = params["taskAssignee"]
        query = query.where(
            (HumanTask.assignee == who)
            | and_(HumanTask.state == "completed", HumanTask.completed_by == who)
        )
    if _flag(params, "finished"):
        query = query.where(HumanTask.state != "open")
    if _flag(params, "unfinished"):
        query = query.where(HumanTask.state == "open")
    return query


def historic_tasks(session: Session, actor: Actor, params: dict[str, Any]) -> list[dict[str, Any]]:
    query = _task_query(session, actor, params).order_by(
        *_sorting(params, TASK_SORT, HumanTask.created_at.asc()), HumanTask.id
    )
    rows = session.execute(query.offset(_first(params)).limit(_max(params))).all()
    return [historic_task(t, d) for t, d in rows]


def historic_task_count(session: Session, actor: Actor, params: dict[str, Any]) -> dict:
    return {"count": session.scalar(_count(_task_query(session, actor, params)))}
