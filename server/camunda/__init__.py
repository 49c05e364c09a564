"""Camunda 7 / Operaton REST compatibility subset under /engine-rest (HTTP Basic or Bearer).

Paths, bodies, status codes and the error shape `{"type", "message"}` follow the Camunda 7.22
REST reference for: deployment create/list/count/get/resources (each process version is one
deployment), process-definition list/get/xml/start, task list/count/query, get, claim, unclaim,
assignee, delegate, resolve, form-variables, complete, process-instance list/get/delete/variables,
message correlation (waiting catch events, receive tasks, boundary events, message start events),
history of process instances and tasks. Scoping is the same as /api/v1: what an actor may not
see is 404.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, request

from workflows.engine import messages as engine_messages
from workflows.engine.errors import (
    DiagramError,
    EngineError,
    FormInvalid,
    NotFound,
    StaleInstance,
)

from .. import errors
from ..api import messages, process_service, tasks_service, unit_of_work
from . import queries, service
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


def _params() -> dict:
    """Query parameters, and the JSON body of a POST query (Camunda accepts both)."""
    return {**request.args.to_dict(), **(_body() if request.method == "POST" else {})}


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
    key, deployment_id = request.args.get("key"), request.args.get("deploymentId")
    return [
        service.definition_dto(r)
        for r in rows
        if (not key or r.key == key) and (not deployment_id or str(r.id) == deployment_id)
    ]


@blp.get("/process-definition/key/<key>")
@unit_of_work
def definition_by_key(key, *, session, actor):
    return service.definition_dto(process_service.definition(session=session, key=key))


@blp.get("/process-definition/<definition_id>")
@unit_of_work
def definition_by_id(definition_id, *, session, actor):
    return service.definition_dto(service.definition_of(session, definition_id))


@blp.get("/process-definition/key/<key>/xml")
@unit_of_work
def definition_xml_by_key(key, *, session, actor):
    row = process_service.definition(session=session, key=key)
    return {"id": service.definition_id(row), "bpmn20Xml": row.bpmn_xml}


@blp.get("/process-definition/<definition_id>/xml")
@unit_of_work
def definition_xml(definition_id, *, session, actor):
    row = service.definition_of(session, definition_id)
    return {"id": service.definition_id(row), "bpmn20Xml": row.bpmn_xml}


@blp.get("/deployment")
@unit_of_work
def deployments(*, session, actor):
    return queries.deployments(session, request.args.to_dict())


@blp.get("/deployment/count")
@unit_of_work
def deployment_count(*, session, actor):
    return queries.deployment_count(session, request.args.to_dict())


@blp.get("/deployment/<deployment_id>")
@unit_of_work
def deployment(deployment_id, *, session, actor):
    return queries.deployment_of(queries.deployment(session, deployment_id))


@blp.get("/deployment/<deployment_id>/resources")
@unit_of_work
def deployment_resources(deployment_id, *, session, actor):
    return queries.resources(queries.deployment(session, deployment_id))


@blp.get("/deployment/<deployment_id>/resources/<resource_id>")
@unit_of_work
def deployment_resource(deployment_id, resource_id, *, session, actor):
    return queries.resource(queries.deployment(session, deployment_id), resource_id)[0]


@blp.get("/deployment/<deployment_id>/resources/<resource_id>/data")
@unit_of_work
def deployment_resource_data(deployment_id, resource_id, *, session, actor):
    item, data = queries.resource(queries.deployment(session, deployment_id), resource_id)
    return Response(
        data,
        mimetype="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{item["name"]}"'},
    )


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
    body = _body()
    name = body.get("messageName")
    if not name or not isinstance(name, str):
        raise InvalidRequest("No message name supplied")
    for key in ("businessKey", "processInstanceId", "tenantId"):
        if not isinstance(body.get(key), str | None):
            raise InvalidRequest(f"{key} must be a string")
    no_match = InvalidRequest(
        f"Cannot correlate message '{name}': No process definition or execution matches the "
        "parameters"
    )
    instance_id = body.get("processInstanceId")
    if instance_id is not None and (not instance_id.isdigit() or len(instance_id) > 12):
        raise no_match
    if body.get("tenantId"):
        raise no_match  # no tenants here
    variables = {
        **service.from_typed(body.get("processVariables")),
        **service.from_typed(body.get("processVariablesLocal")),
    }
    keys = {
        **service.from_typed(body.get("correlationKeys")),
        **service.from_typed(body.get("localCorrelationKeys")),
    }
    try:
        results = messages.correlate(
            session=session,
            actor=actor,
            name=name,
            business_key=body.get("businessKey"),
            instance_id=int(instance_id) if instance_id else None,
            variables=variables,
            correlation_keys=keys,
            all_targets=body.get("all") is True,
        )
    except engine_messages.NoMatch:
        raise no_match from None
    except engine_messages.Ambiguous as exc:
        raise InvalidRequest(
            f"Cannot correlate message '{name}': Cannot correlate a message with name '{name}' "
            f"to a single execution. {exc.count} executions match the correlation keys: "
            f"CorrelationSet [businessKey={body.get('businessKey')}, "
            f"processInstanceId={instance_id}, correlationKeys={keys or None}]"
        ) from None
    if body.get("resultEnabled") is not True:
        return NO_CONTENT
    with_variables = body.get("variablesInResultEnabled") is True
    return [
        service.correlation_result(session, actor, r, with_variables=with_variables)
        for r in results
    ]


@blp.route("/history/process-instance", methods=["GET", "POST"])
@unit_of_work
def history_instances(*, session, actor):
    return queries.historic_instances(session, actor, _params())


@blp.route("/history/process-instance/count", methods=["GET", "POST"])
@unit_of_work
def history_instance_count(*, session, actor):
    return queries.historic_instance_count(session, actor, _params())


@blp.get("/history/process-instance/<instance_id>")
@unit_of_work
def history_instance(instance_id, *, session, actor):
    return queries.historic_instance_by_id(session, actor, instance_id)


@blp.route("/history/task", methods=["GET", "POST"])
@unit_of_work
def history_tasks(*, session, actor):
    return queries.historic_tasks(session, actor, _params())


@blp.route("/history/task/count", methods=["GET", "POST"])
@unit_of_work
def history_task_count(*, session, actor):
    return queries.historic_task_count(session, actor, _params())


blp.register_error_handler(Exception, _error)


def init_app(app: Flask) -> None:
    app.register_blueprint(blp)
