"""Camunda 7 / Operaton REST compatibility subset under /engine-rest (HTTP Basic or Bearer).

Paths, bodies, status codes and the error shape `{"type", "message"}` follow the Camunda 7.22
REST reference for: deployment create, process-definition list/get/start, task list/count/query,
get, claim, unclaim, assignee, delegate, resolve, form-variables, complete, process-instance
list/get/delete/variables, message correlation (always "no match": our diagrams have no message
catch events yet). Scoping is the same as /api/v1: what an actor may not see is 404.
"""

from __future__ import annotations

from flask import Blueprint, Flask, request

from workflows.engine.errors import (
    DiagramError,
    EngineError,
    FormInvalid,
    NotFound,
    StaleInstance,
)

from .. import errors
from ..api import process_service, tasks_service, unit_of_work
from . import service
from .service import InvalidRequest, RestException

blp = Blueprint("camunda", __name__, url_prefix="/engine-rest")
NO_CONTENT = ("", 204)


def _error(exc: BaseException):
    """Camunda's error shape; domain statuses mapped to what Camunda answers."""
    code, message, field_errors = errors.status_of(exc)
    kind = {401: "AuthenticationException", 403: "AuthorizationException"}.get(
        code, "InvalidRequestException"
    )
    if isinstance(exc, DiagramError):
        code, kind = 400, "ParseException"
    elif isinstance(exc, FormInvalid):
        code, kind = 400, "InvalidRequestException"
    elif isinstance(exc, StaleInstance):
        code, kind = 500, "OptimisticLockingException"
    elif isinstance(exc, RestException) or (isinstance(exc, EngineError) and code == 409):
        code, kind = 500, "RestException"
    elif code >= 500:
        kind, message = "RestException", message or "Internal error"
    if field_errors:
        message = f"{message} " + "; ".join(f"{k}: {v}" for k, v in field_errors.items())
    headers = {"WWW-Authenticate": 'Basic realm="engine-rest"'} if code == 401 else {}
    return {"type": kind, "message": message or errors.MESSAGES_FR.get(code, "")}, code, headers


def _body() -> dict:
    data = request.get_json(silent=True) if request.content_length else {}
    if not isinstance(data, dict):
        raise InvalidRequest("Request body must be a JSON object")
    return data


@blp.post("/deployment/create")
@unit_of_work
def deployment_create(*, session, actor):
    files = {f.filename: f.read() for _, f in request.files.items(multi=True) if f.filename}
    deployed = process_service.deploy(session=session, actor=actor, files=files)
    return service.deployment_dto(session, request.form.get("deployment-name"), deployed)


@blp.get("/process-definition")
@unit_of_work
def definitions(*, session, actor):
    latest = request.args.get("latestVersion") == "true"
    rows = process_service.definitions(session=session, latest_only=latest)
    key = request.args.get("key")
    return [service.definition_dto(r) for r in rows if not key or r.key == key]


@blp.get("/process-definition/key/<key>")
@unit_of_work
def definition_by_key(key, *, session, actor):
    return service.definition_dto(process_service.definition(session=session, key=key))


@blp.get("/process-definition/<definition_id>")
@unit_of_work
def definition_by_id(definition_id, *, session, actor):
    return service.definition_dto(service.definition_of(session, definition_id))


@blp.post("/process-definition/<definition_id>/start")
@unit_of_work
def start_by_id(definition_id, *, session, actor):
    row = service.definition_of(session, definition_id)
    return _start(session, actor, row.key, row.version)


@blp.post("/process-definition/key/<key>/start")
@unit_of_work
def start_by_key(key, *, session, actor):
    return _start(session, actor, key, None)


def _start(session, actor, key: str, version: int | None):
    body = _body()
    if not isinstance(body.get("businessKey"), str | None):
        raise InvalidRequest("businessKey must be a string")
    instance = process_service.start(
        session=session,
        actor=actor,
        key=key,
        business_key=body.get("businessKey"),
        variables=service.from_typed(body.get("variables")),
        version=version,
    )
    values = None
    if body.get("withVariablesInReturn"):
        values = process_service.variables(session=session, actor=actor, instance_id=instance.id)
    return service.instance_dto(instance, variables=values)


@blp.route("/task", methods=["GET", "POST"])
@unit_of_work
def tasks(*, session, actor):
    params = {**request.args.to_dict(), **(_body() if request.method == "POST" else {})}
    return service.tasks_page(session=session, actor=actor, params=params)


@blp.route("/task/count", methods=["GET", "POST"])
@unit_of_work
def task_count(*, session, actor):
    params = {**request.args.to_dict(), **(_body() if request.method == "POST" else {})}
    return service.task_count(session=session, actor=actor, params=params)


@blp.get("/task/<task_id>")
@unit_of_work
def task(task_id, *, session, actor):
    return service.task_view(session, _task(session, actor, task_id))


def _task(session, actor, task_id):
    try:
        return tasks_service.get_for(session=session, actor=actor, task_id=task_id)
    except NotFound:
        raise NotFound(f"No matching task with id {task_id}") from None


def _change(action: str, task_id: str, session, actor, **kwargs):
    _task(session, actor, task_id)
    try:
        getattr(tasks_service, action)(session=session, actor=actor, task_id=task_id, **kwargs)
    except EngineError as exc:
        if exc.status in (403, 409):
            raise RestException(exc.message) from exc
        raise
    return NO_CONTENT


@blp.post("/task/<task_id>/claim")
@unit_of_work
def claim(task_id, *, session, actor):
    return _change("claim", task_id, session, actor)


@blp.post("/task/<task_id>/unclaim")
@unit_of_work
def unclaim(task_id, *, session, actor):
    return _change("unclaim", task_id, session, actor)


@blp.post("/task/<task_id>/assignee")
@unit_of_work
def assignee(task_id, *, session, actor):
    return _change("assign", task_id, session, actor, user_id=_body().get("userId"))


@blp.post("/task/<task_id>/delegate")
@unit_of_work
def delegate(task_id, *, session, actor):
    return _change("delegate", task_id, session, actor, user_id=_body().get("userId") or "")


@blp.post("/task/<task_id>/resolve")
@unit_of_work
def resolve(task_id, *, session, actor):
    return _change("resolve", task_id, session, actor)


@blp.get("/task/<task_id>/form-variables")
@unit_of_work
def form_variables(task_id, *, session, actor):
    _task(session, actor, task_id)
    return service.form_variables(session=session, actor=actor, task_id=task_id)


@blp.post("/task/<task_id>/complete")
@unit_of_work
def complete(task_id, *, session, actor):
    body = _body()
    data = service.from_typed(body.get("variables"))
    _task(session, actor, task_id)
    instance = tasks_service.complete(session=session, actor=actor, task_id=task_id, data=data)
    if body.get("withVariablesInReturn"):
        values = process_service.variables(session=session, actor=actor, instance_id=instance.id)
        return {k: service.to_typed(v) for k, v in values.items()}
    return NO_CONTENT


@blp.get("/process-instance")
@unit_of_work
def instances(*, session, actor):
    return service.instances(session=session, actor=actor, params=request.args.to_dict())


@blp.get("/process-instance/<instance_id>")
@unit_of_work
def instance(instance_id, *, session, actor):
    found = process_service.get(
        session=session, actor=actor, instance_id=service.instance_id_of(instance_id)
    )
    return service.instance_dto(found)


@blp.delete("/process-instance/<instance_id>")
@unit_of_work
def delete_instance(instance_id, *, session, actor):
    number = service.instance_id_of(instance_id)
    process_service.act(session=session, actor=actor, instance_id=number, action="cancel")
    return NO_CONTENT


@blp.get("/process-instance/<instance_id>/variables")
@unit_of_work
def instance_variables(instance_id, *, session, actor):
    number = service.instance_id_of(instance_id)
    values = process_service.variables(session=session, actor=actor, instance_id=number)
    return {k: service.to_typed(v) for k, v in values.items()}


@blp.post("/message")
@unit_of_work
def correlate(*, session, actor):
    name = _body().get("messageName")
    if not name:
        raise InvalidRequest("No message name supplied")
    raise InvalidRequest(
        f"Cannot correlate message '{name}': No process definition or execution matches the "
        "parameters"
    )


blp.register_error_handler(Exception, _error)


def init_app(app: Flask) -> None:
    app.register_blueprint(blp)
