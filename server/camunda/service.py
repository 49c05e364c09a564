"""Camunda 7 REST shapes over our engine: typed variables, DTOs, task and instance queries."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.access import Actor
from workflows.engine import runtime, timers
from workflows.engine.errors import EngineError, NotFound
from workflows.engine.models import HumanTask, Instance, ProcessDefinition

from ..api import process_service, scope, tasks_service


class InvalidRequest(EngineError):
    """Camunda's InvalidRequestException (400)."""

    status = 400


class RestException(EngineError):
    """Camunda's RestException answered 500 where its reference says so (e.g. claim refused)."""

    status = 500


INTEGER = (-(2**31), 2**31 - 1)
FORM_TYPES = {"long": "Long", "boolean": "Boolean", "date": "Date", "double": "Double"}


def camunda_date(value: datetime | None) -> str | None:
    """`yyyy-MM-dd'T'HH:mm:ss.SSSZ`, Camunda's default date format."""
    if value is None:
        return None
    return (
        value.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{value.microsecond // 1000:03d}"
        + value.strftime("%z")
    )


def parse_date(text: Any, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"Cannot convert value '{text}' of '{name}' to a date.") from None
    if value.tzinfo is None:
        raise InvalidRequest(f"Cannot convert value '{text}' of '{name}': time zone expected.")
    return value


def from_typed(variables: Any) -> dict[str, Any]:
    """`{"x": {"value": 1, "type": "Integer"}}` → `{"x": 1}`; 400 on a bad type or value."""
    if variables is None:
        return {}
    if not isinstance(variables, dict):
        raise InvalidRequest("variables must be an object")
    return {name: _one(name, item) for name, item in variables.items()}


def _one(name: str, item: Any) -> Any:
    if not isinstance(item, dict):
        raise InvalidRequest(f"Variable '{name}' must be an object with value and type.")
    kind, value = str(item.get("type") or "").lower(), item.get("value")
    if value is None or kind == "null":
        return None
    try:
        if kind in ("integer", "long", "short"):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind == "double":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind == "boolean":
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            if not isinstance(value, bool):
                raise ValueError
            return value
        if kind == "date":
            return parse_date(value, name).isoformat()
        if kind == "json":
            return json.loads(value) if isinstance(value, str) else value
        if kind in ("string", ""):
            return value if isinstance(value, str) else json.dumps(value)
    except (ValueError, TypeError, OverflowError):
        raise InvalidRequest(
            f"Cannot convert value '{value}' of type '{item.get('type')}' for variable '{name}'."
        ) from None
    raise InvalidRequest(f"Unsupported value type '{item.get('type')}'")


def _form_value(value: Any, form_type: str | None) -> Any:
    """A form default (always text in the diagram) in its field's type."""
    if not isinstance(value, str) or form_type not in ("long", "double", "boolean"):
        return value
    try:
        if form_type == "long":
            return int(value)
        if form_type == "double":
            return float(value)
    except ValueError:
        return value
    return value.strip().lower() == "true"


def to_typed(value: Any, form_type: str | None = None) -> dict[str, Any]:
    """A Python value as a Camunda typed value (form fields keep their declared type)."""
    value = _form_value(value, form_type)
    if form_type in FORM_TYPES and value is not None and not isinstance(value, dict | list):
        return {"type": FORM_TYPES[form_type], "value": value, "valueInfo": {}}
    if value is None:
        kind = FORM_TYPES.get(form_type or "", "Null") if form_type else "Null"
    elif isinstance(value, bool):
        kind = "Boolean"
    elif isinstance(value, int):
        kind = "Integer" if INTEGER[0] <= value <= INTEGER[1] else "Long"
    elif isinstance(value, float):
        kind = "Double"
    elif isinstance(value, str):
        kind = FORM_TYPES.get(form_type or "", "String") if form_type == "date" else "String"
    else:
        return {"type": "Json", "value": json.dumps(value, ensure_ascii=False), "valueInfo": {}}
    return {"type": kind, "value": value, "valueInfo": {}}


def definition_id(row: ProcessDefinition) -> str:
    return f"{row.key}:{row.version}:{row.id}"


def definition_of(session: Session, definition_id: str) -> ProcessDefinition:
    """The definition named by a Camunda id `key:version:row-id`."""
    key, _, rest = definition_id.partition(":")
    version, _, _row = rest.partition(":")
    if not version.isdigit() or len(version) > 9:
        raise NotFound(f"No matching definition with id {definition_id}")
    try:
        return process_service.definition(session=session, key=key, version=int(version))
    except NotFound:
        raise NotFound(f"No matching definition with id {definition_id}") from None


def definition_dto(row: ProcessDefinition) -> dict[str, Any]:
    return {
        "id": definition_id(row),
        "key": row.key,
        "category": "http://bpmn.io/schema/bpmn",
        "description": None,
        "name": row.name,
        "version": row.version,
        "resource": row.source_name,
        "deploymentId": str(row.id),
        "diagram": None,
        "suspended": False,
        "tenantId": None,
        "versionTag": None,
        "historyTimeToLive": None,
        "startableInTasklist": True,
    }


def instance_dto(instance: Instance, *, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    dto = {
        "links": [],
        "id": str(instance.id),
        "definitionId": definition_id(instance.definition),
        "businessKey": instance.business_key,
        "caseInstanceId": None,
        "ended": instance.status in ("completed", "cancelled"),
        "suspended": instance.status == "suspended",
        "tenantId": None,
    }
    if variables is not None:
        dto["variables"] = {k: to_typed(v) for k, v in variables.items()}
    return dto


def task_dto(task: HumanTask, definition: ProcessDefinition, owner: str | None) -> dict[str, Any]:
    return {
        "id": task.id,
        "name": task.name,
        "assignee": task.assignee,
        "owner": owner,
        "created": camunda_date(task.created_at),
        "lastUpdated": None,
        "due": camunda_date(task.due_at),
        "followUp": camunda_date(task.follow_up_at),
        "delegationState": "PENDING" if owner else None,
        "description": None,
        "executionId": str(task.instance_id),
        "parentTaskId": None,
        "priority": 50,
        "processDefinitionId": definition_id(definition),
        "processInstanceId": str(task.instance_id),
        "taskDefinitionKey": task.element_id,
        "caseExecutionId": None,
        "caseInstanceId": None,
        "caseDefinitionId": None,
        "suspended": False,
        "formKey": task.form_key,
        "camundaFormRef": None,
        "tenantId": None,
    }


def deployment_dto(session: Session, name: str | None, deployed) -> dict[str, Any]:
    """The answer to deployment/create. Each process version is its own deployment here (id =
    the version's row id): the answer carries the id of the first process deployed."""
    processes, rows = {}, []
    for item in deployed:
        if item.kind == "process":
            row = process_service.definition(session=session, key=item.key, version=item.version)
            processes[definition_id(row)] = definition_dto(row)
            rows.append(row)
    first = min(rows, key=lambda r: r.id) if rows else None
    return {
        "links": [],
        "id": str(first.id) if first else str(uuid.uuid4()),
        "name": name,
        "source": None,
        "deploymentTime": camunda_date(first.deployed_at if first else timers.now()),
        "tenantId": None,
        "deployedProcessDefinitions": processes or None,
        "deployedCaseDefinitions": None,
        "deployedDecisionDefinitions": None,
        "deployedDecisionRequirementsDefinitions": None,
    }


def _definitions(session: Session, task_rows: list[HumanTask]) -> dict[int, ProcessDefinition]:
    ids = {t.instance_id for t in task_rows}
    if not ids:
        return {}
    rows = session.execute(
        select(Instance.id, ProcessDefinition)
        .join(ProcessDefinition, ProcessDefinition.id == Instance.definition_id)
        .where(Instance.id.in_(ids))
    )
    return {instance_id: definition for instance_id, definition in rows}


def tasks_page(*, session: Session, actor: Actor, params: dict[str, Any]) -> list[dict[str, Any]]:
    rows = list(
        session.scalars(
            _task_query(session, actor, params).offset(_first(params)).limit(_max(params))
        )
    )
    definitions = _definitions(session, rows)
    return [task_dto(t, definitions[t.instance_id], _owner(session, t)) for t in rows]


def task_view(session: Session, task: HumanTask) -> dict[str, Any]:
    definition = _definitions(session, [task])[task.instance_id]
    return task_dto(task, definition, _owner(session, task))


def _owner(session: Session, task: HumanTask) -> str | None:
    return tasks_service.owner_of(session, task) if task.assignee else None


def task_count(*, session: Session, actor: Actor, params: dict[str, Any]) -> dict[str, int]:
    query = _task_query(session, actor, params)
    return {"count": tasks_service.page(session, query, 0, 0)[1]}


SORT_KEYS = {"dueDate": "due", "created": "created", "name": "name", "followUpDate": "follow_up"}


def _task_query(session: Session, actor: Actor, params: dict[str, Any]):
    sorting = params.get("sorting") or [
        {"sortBy": params.get("sortBy"), "sortOrder": params.get("sortOrder")}
    ]
    first = (
        sorting[0] if isinstance(sorting, list) and sorting and isinstance(sorting[0], dict) else {}
    )
    query = tasks_service.Query(
        assignee=_text(params, "assignee"),
        candidate_group=_text(params, "candidateGroup"),
        process=_text(params, "processDefinitionKey"),
        marche=_text(params, "processInstanceBusinessKey"),
        sort=SORT_KEYS.get(str(first.get("sortBy")), "created"),
        desc=str(first.get("sortOrder")) == "desc",
    )
    for key, attr in (("dueBefore", "due_before"), ("dueAfter", "due_after")):
        if params.get(key):
            setattr(query, attr, parse_date(params[key], key))
    q = tasks_service.inbox(session=session, actor=actor, query=query)
    if params.get("processInstanceId"):
        q = q.where(HumanTask.instance_id == _int(params["processInstanceId"], "processInstanceId"))
    if _text(params, "taskDefinitionKey"):
        q = q.where(HumanTask.element_id == params["taskDefinitionKey"])
    if _text(params, "candidateUser"):
        q = q.where(scope.for_user(params["candidateUser"]))
    if _flag(params, "unassigned"):
        q = q.where(HumanTask.assignee.is_(None))
    if _flag(params, "assigned"):
        q = q.where(HumanTask.assignee.is_not(None))
    return q


def _text(params: dict[str, Any], key: str) -> str | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"Cannot set query parameter '{key}' to value '{value}'")
    return value


def _flag(params: dict[str, Any], key: str) -> bool:
    value = params.get(key)
    return value is True or str(value).lower() == "true"


def _int(value: Any, key: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise InvalidRequest(f"Cannot set query parameter '{key}' to value '{value}'") from None


def _first(params: dict[str, Any]) -> int:
    return max(0, _int(params.get("firstResult", 0), "firstResult"))


def _max(params: dict[str, Any]) -> int:
    return min(max(0, _int(params.get("maxResults", 1000), "maxResults")), 1000)


def instance_id_of(value: str) -> int:
    if not str(value).isdigit() or len(str(value)) > 12:
        raise NotFound(f"Process instance with id {value} does not exist")
    return int(value)


def form_variables(*, session: Session, actor: Actor, task_id: str) -> dict[str, Any]:
    task = scope.get_task(session=session, actor=actor, task_id=task_id)
    data = runtime.variables(session=session, instance_id=task.instance_id)
    fields = (task.form or {}).get("fields", [])
    return {
        f["id"]: to_typed(data.get(f["id"], f.get("default_value")), f.get("type")) for f in fields
    }


def instances(*, session: Session, actor: Actor, params: dict[str, Any]) -> list[dict[str, Any]]:
    query = scope.filtered_instances(
        session,
        actor,
        key=_text(params, "processDefinitionKey"),
        business_key=_text(params, "businessKey"),
    )
    query = query.where(Instance.status.in_(("running", "suspended", "error")))
    rows = session.scalars(query.offset(_first(params)).limit(_max(params)))
    return [instance_dto(i) for i in rows]


def correlation_result(session: Session, actor: Actor, result, *, with_variables: bool):
    """A MessageCorrelationResultWithVariableDto."""
    instance = result.instance
    dto: dict[str, Any] = {
        "resultType": "ProcessDefinition" if result.started else "Execution",
        "execution": None,
        "processInstance": None,
    }
    if result.started:
        dto["processInstance"] = instance_dto(instance)
    else:
        dto["execution"] = {
            "id": str(instance.id),
            "processInstanceId": str(instance.id),
            "ended": instance.status in ("completed", "cancelled"),
            "tenantId": None,
        }
    if with_variables:
        values = runtime.variables(session=session, instance_id=instance.id)
        dto["variables"] = {k: to_typed(v) for k, v in values.items()}
    return dto
