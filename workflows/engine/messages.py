"""Message correlation: deliver a named message to the instances waiting for it, or start the
processes whose start event is a message start event with that name (Camunda semantics).

An instance waits for a message at an intermediate message catch event, a receive task or a
message boundary event (a waiting message *start* event is not a correlation target: message
start events start new instances). The caller chooses the candidate instances (its scope and
filters: business key, instance id), this module restores them, keeps those that wait for the
message and whose data match the correlation keys, and delivers the message with its variables
through SpiffWorkflow's event API (`BpmnWorkflow.send_event`). Each delivery or start is saved by
the runtime in the caller's transaction, with an audit event `message.correlated`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.exceptions import WorkflowException
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from . import forms, runtime
from .errors import EngineError
from .models import Instance, ProcessDefinition
from .serializer import SPECS

KIND = "message.correlated"
MAX_INSTANCES = 5000  # restored per correlation at most: a message names its target


class NoMatch(EngineError):
    """Nothing waits for the message and no process starts with it."""

    status = 404


class Ambiguous(EngineError):
    """Several targets match and the caller did not ask for all of them."""

    status = 409

    def __init__(self, message: str, *, count: int):
        super().__init__(message)
        self.count = count


@dataclass
class Correlated:
    """One delivery: to a waiting instance (`started` False) or by starting one."""

    instance: Instance
    started: bool
    element_ids: list[str] = field(default_factory=list)


def _message_specs(definition: ProcessDefinition, name: str):
    """(task spec, is a start event of the process) of every event catching message `name`."""
    spec, subprocess_specs = SPECS.get(definition)
    for owner in (spec, *subprocess_specs.values()):
        for task_spec in owner.task_specs.values():
            event = getattr(task_spec, "event_definition", None)
            if isinstance(event, MessageEventDefinition) and event.name == name:
                yield task_spec, owner is spec and isinstance(task_spec, StartEvent)


def _definitions_naming(session: Session, name: str) -> list[ProcessDefinition]:
    """Deployed versions whose XML mentions the name (cheap SQL filter; the spec decides)."""
    return list(
        session.scalars(
            select(ProcessDefinition)
            .where(ProcessDefinition.bpmn_xml.contains(name, autoescape=True))
            .order_by(ProcessDefinition.key, ProcessDefinition.version)
        )
    )


def catching_definition_ids(session: Session, name: str) -> list[int]:
    """Ids of the versions with a non-start event catching message `name`."""
    return [
        d.id
        for d in _definitions_naming(session, name)
        if any(not start for _spec, start in _message_specs(d, name))
    ]


def starting_definitions(session: Session, name: str) -> list[ProcessDefinition]:
    """The latest version of each process whose start event is message `name`'s."""
    latest: dict[str, ProcessDefinition] = {}
    for definition in _definitions_naming(session, name):
        latest[definition.key] = definition  # ordered by version
    newest = session.execute(
        select(ProcessDefinition.key, func.max(ProcessDefinition.version)).group_by(
            ProcessDefinition.key
        )
    )
    current = dict(newest.all())
    return [
        d
        for d in latest.values()
        if d.version == current.get(d.key) and any(s for _spec, s in _message_specs(d, name))
    ]


def _waiting(workflow: BpmnWorkflow, name: str, keys: dict[str, Any]):
    """The workflow's tasks waiting for message `name` with data matching `keys`."""
    found = []
    for task in workflow.get_tasks(state=TaskState.WAITING):
        event = getattr(task.task_spec, "event_definition", None)
        if not isinstance(event, MessageEventDefinition) or event.name != name:
            continue
        if isinstance(task.task_spec, StartEvent) and task.workflow is workflow:
            continue  # a message start event starts instances; it is not correlated to
        if all(k in task.data and task.data[k] == v for k, v in keys.items()):
            found.append(task)
    return found


def _deliver(
    session: Session,
    instance: Instance,
    workflow: BpmnWorkflow,
    tasks: list,
    name: str,
    variables: dict[str, Any],
    actor: str | None,
) -> Correlated:
    """Send the message to the waiting tasks, set the variables, run on and save."""
    definition = tasks[0].task_spec.event_definition
    if hasattr(definition, "result_var"):  # Camunda's flavour: the payload lands in one variable
        result_var = definition.result_var or f"{tasks[0].task_spec.bpmn_id}_message"
        payload: Any = {"payload": dict(variables), "result_var": result_var}
    else:
        payload = dict(variables)
    event = BpmnEvent(definition, payload, correlations=dict(workflow.correlations))
    ids = {t.id for t in tasks}
    try:
        workflow.send_event(event)
    except WorkflowException as exc:  # nothing caught after all: answered as no match
        raise NoMatch(str(exc)) from exc
    for task in workflow.get_tasks():
        if task.id in ids and task.state != TaskState.WAITING:
            task.data.update(variables)
    elements = sorted({t.task_spec.bpmn_id or t.task_spec.name for t in tasks})
    runtime._advance_and_save(
        session,
        instance,
        workflow,
        actor=actor,
        kind=KIND,
        element_id=elements[0],
        data={"message": name, "elements": elements, "variables": variables},
    )
    return Correlated(instance, False, elements)


def correlate(
    *,
    session: Session,
    name: str,
    candidates: Select,
    may_start: Callable[[ProcessDefinition], None] | None,
    business_key: str | None = None,
    variables: dict[str, Any] | None = None,
    correlation_keys: dict[str, Any] | None = None,
    all_targets: bool = False,
    actor: str | None = None,
) -> list[Correlated]:
    """Deliver message `name` to the waiting instances among `candidates` (a select of Instance,
    already scoped and filtered), else start the processes it starts (`may_start` checks the
    caller's right and raises; None: no start, e.g. when an instance id was given).

    One target unless `all_targets`: several → Ambiguous; none → NoMatch.
    """
    if not name or not name.strip():
        raise EngineError("Nom de message absent.", errors={"messageName": "obligatoire"})
    variables = forms.validate({}, variables or {}, {})
    keys = correlation_keys or {}
    waiting: list[tuple[Instance, BpmnWorkflow, list]] = []
    ids = catching_definition_ids(session, name)
    if ids:
        query = (
            candidates.where(Instance.status == "running", Instance.definition_id.in_(ids))
            .order_by(None)
            .order_by(Instance.id)
            .limit(MAX_INSTANCES)
        )
        for instance in session.scalars(query):
            workflow = runtime.restore(session, instance)
            tasks = _waiting(workflow, name, keys)
            if tasks:
                waiting.append((instance, workflow, tasks))
    if waiting:
        if len(waiting) > 1 and not all_targets:
            raise Ambiguous(
                f"{len(waiting)} instances attendent le message « {name} » : précisez la clé "
                "métier, l'instance ou des clés de corrélation, ou demandez toutes les cibles.",
                count=len(waiting),
            )
        return [
            _deliver(session, instance, workflow, tasks, name, variables, actor)
            for instance, workflow, tasks in waiting
        ]
    starting = starting_definitions(session, name) if may_start is not None else []
    if not starting:
        raise NoMatch(
            f"Aucune instance visible n'attend le message « {name} » et aucun processus ne "
            "démarre avec lui."
        )
    if len(starting) > 1 and not all_targets:
        raise Ambiguous(
            f"{len(starting)} processus démarrent avec le message « {name} » ("
            + ", ".join(d.key for d in starting)
            + ") : demandez toutes les cibles.",
            count=len(starting),
        )
    results = []
    for definition in starting:
        may_start(definition)
        results.append(_start(session, definition, name, business_key, variables, actor))
    return results


def _start(session, definition, name, business_key, variables, actor) -> Correlated:
    instance = runtime.start(
        session=session,
        key=definition.key,
        business_key=business_key,
        variables=variables,
        actor=actor,
        version=definition.version,
    )
    workflow = runtime.restore(session, instance)
    tasks = [
        t
        for t in workflow.get_tasks(state=TaskState.WAITING)
        if isinstance(t.task_spec, StartEvent)
        and getattr(t.task_spec.event_definition, "name", None) == name
    ]
    if not tasks:  # the start event fired already (a none start event beside it)
        return Correlated(instance, True, [])
    result = _deliver(session, instance, workflow, tasks, name, variables, actor)
    result.started = True
    return result
