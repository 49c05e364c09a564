"""Reading diagrams: hardened XML, the Camunda 7 dialect, and deployment-time checks."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator, full_tag
from SpiffWorkflow.bpmn.parser.event_parsers import ReceiveTaskParser, SendTaskParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.defaults import ScriptTask
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.camunda.parser import CamundaParser
from SpiffWorkflow.camunda.parser.event_parsers import (
    CamundaBoundaryEventParser,
    CamundaEndEventParser,
    CamundaEventDefinitionParser,
    CamundaIntermediateCatchEventParser,
    CamundaIntermediateThrowEventParser,
    CamundaStartEventParser,
)
from SpiffWorkflow.camunda.parser.task_spec import CAMUNDA_MODEL_NS, UserTaskParser
from SpiffWorkflow.exceptions import SpiffWorkflowException

from . import timers
from .errors import DiagramError
from .sandbox import check_source

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DMN_NAMESPACES = (
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
    "https://www.omg.org/spec/DMN/20230324/MODEL/",
)
MAX_DIAGRAM_BYTES = 2 * 1024 * 1024
USER_TASK_ATTRIBUTES = (
    "candidateGroups",
    "candidateUsers",
    "assignee",
    "dueDate",
    "followUpDate",
    "formKey",
)

_DURATION = r"P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+([.,]\d+)?S)?)?"
_DATETIME = r"\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}([.,]\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?"
ISO_LITERAL = re.compile(
    rf"^(R\d*/({_DATETIME}|{_DURATION})(/({_DATETIME}|{_DURATION}))?|{_DATETIME}|{_DURATION})$"
)


def is_iso_literal(text: str | None) -> bool:
    """True when a timer or due-date value is plain ISO 8601 rather than an expression."""
    return bool(text) and ISO_LITERAL.match(text.strip()) is not None


def parse_xml(data: bytes | str, file_name: str) -> etree._Element:
    """Parse untrusted XML: no DTD, no entities, no network, bounded size."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_DIAGRAM_BYTES:
        raise DiagramError(
            f"fichier trop volumineux ({len(raw)} octets, maximum {MAX_DIAGRAM_BYTES})",
            file_name=file_name,
        )
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise DiagramError(
            "les déclarations DOCTYPE et ENTITY sont interdites dans un diagramme",
            file_name=file_name,
        )
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        dtd_validation=False,
    )
    try:
        root = etree.fromstring(raw, parser)
    except etree.XMLSyntaxError as exc:
        raise DiagramError(
            f"XML invalide : {exc.msg}", file_name=file_name, line=exc.lineno or 0
        ) from exc
    if root.getroottree().docinfo.doctype:
        raise DiagramError("les déclarations DOCTYPE sont interdites", file_name=file_name)
    return root


def kind_of(root: etree._Element) -> str:
    """'bpmn' or 'dmn' from the root element's namespace."""
    ns = etree.QName(root).namespace
    if ns == BPMN_NS:
        return "bpmn"
    if ns in DMN_NAMESPACES:
        return "dmn"
    raise DiagramError(f"ni BPMN 2.0 ni DMN : espace de noms inconnu « {ns} »")


class _UserTaskParser(UserTaskParser):
    """Reads the Camunda attributes the inbox needs into the spec's extensions."""

    def parse_extensions(self, node=None):
        camunda = {}
        for name in USER_TASK_ATTRIBUTES:
            value = self.node.get(f"{{{CAMUNDA_MODEL_NS}}}{name}")
            if value is not None and value.strip():
                camunda[name] = value.strip()
        for name in ("candidateGroups", "candidateUsers"):
            if name in camunda:
                camunda[name] = [v.strip() for v in camunda[name].split(",") if v.strip()]
        return {"properties": super().parse_extensions(node), "camunda": camunda}


class _IsoTimers:
    """Timer values written as plain ISO 8601 work as written: quote them for the evaluator."""

    def parse_timer_event(self, event):
        definition = super().parse_timer_event(event)
        if is_iso_literal(definition.expression):
            definition.expression = repr(definition.expression.strip())
        return timers.replace(definition)


class _StartEventParser(_IsoTimers, CamundaStartEventParser):
    pass


class _CatchEventParser(_IsoTimers, CamundaIntermediateCatchEventParser):
    pass


class _BoundaryEventParser(_IsoTimers, CamundaBoundaryEventParser):
    pass


class _Messages:
    """A thrown message without `camunda:expression` carries no payload (instead of failing when
    SpiffWorkflow evaluates the missing expression)."""

    def parse_message_event(self, message_event):
        definition = super().parse_message_event(message_event)
        if definition.expression is None:
            definition.expression = "None"
        return definition


class _ReceiveTaskParser(_Messages, CamundaEventDefinitionParser, ReceiveTaskParser):
    """Camunda's message definition for receive tasks too (SpiffWorkflow's Camunda parser keeps
    the plain one there, which its Camunda serializer cannot store: deployment would fail)."""

    def create_task(self):
        return ReceiveTaskParser.create_task(self)


class _SendTaskParser(_Messages, CamundaEventDefinitionParser, SendTaskParser):
    def create_task(self):
        return SendTaskParser.create_task(self)


class _ThrowEventParser(_Messages, CamundaIntermediateThrowEventParser):
    pass


class _EndEventParser(_Messages, CamundaEndEventParser):
    pass


class ClausierParser(CamundaParser):
    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("receiveTask"): (
            _ReceiveTaskParser,
            CamundaParser.PARSER_CLASSES[full_tag("receiveTask")][1],
        ),
        full_tag("sendTask"): (
            _SendTaskParser,
            CamundaParser.PARSER_CLASSES[full_tag("sendTask")][1],
        ),
        full_tag("intermediateThrowEvent"): (
            _ThrowEventParser,
            CamundaParser.OVERRIDE_PARSER_CLASSES[full_tag("intermediateThrowEvent")][1],
        ),
        full_tag("endEvent"): (
            _EndEventParser,
            CamundaParser.OVERRIDE_PARSER_CLASSES[full_tag("endEvent")][1],
        ),
        full_tag("userTask"): (
            _UserTaskParser,
            CamundaParser.OVERRIDE_PARSER_CLASSES[full_tag("userTask")][1],
        ),
        full_tag("startEvent"): (
            _StartEventParser,
            CamundaParser.OVERRIDE_PARSER_CLASSES[full_tag("startEvent")][1],
        ),
        full_tag("intermediateCatchEvent"): (
            _CatchEventParser,
            CamundaParser.OVERRIDE_PARSER_CLASSES[full_tag("intermediateCatchEvent")][1],
        ),
        full_tag("boundaryEvent"): (
            _BoundaryEventParser,
            CamundaParser.OVERRIDE_PARSER_CLASSES[full_tag("boundaryEvent")][1],
        ),
    }


@dataclass
class ParsedProcess:
    key: str
    name: str | None
    file_name: str
    spec: Any
    subprocess_specs: dict[str, Any]
    decision_refs: list[str] = field(default_factory=list)


def _diagram_error(exc: Exception, file_name: str = "") -> DiagramError:
    if isinstance(exc, ValidationException):
        return DiagramError(
            str(exc.args[0]) if exc.args else str(exc),
            file_name=exc.file_name or file_name,
            element_id=exc.id,
            line=exc.line_number or 0,
        )
    return DiagramError(str(exc), file_name=file_name)


def parse_diagrams(bpmn: dict[str, etree._Element], dmn: dict[str, etree._Element]):
    """Parse BPMN and DMN roots into executable processes; DiagramError on the first fault."""
    parser = ClausierParser(validator=BpmnValidator())
    for name, root in dmn.items():
        try:
            parser.add_dmn_xml(root, filename=name)
        except (SpiffWorkflowException, etree.LxmlError) as exc:
            raise _diagram_error(exc, name) from exc
    keys_by_file: dict[str, list[str]] = {}
    for name, root in bpmn.items():
        before = set(parser.get_process_ids())
        try:
            parser.add_bpmn_xml(etree.ElementTree(root), filename=name)
        except (SpiffWorkflowException, etree.LxmlError) as exc:
            raise _diagram_error(exc, name) from exc
        keys_by_file[name] = [k for k in parser.get_process_ids() if k not in before]
    processes = []
    for name, keys in keys_by_file.items():
        for key in keys:
            try:
                spec = parser.get_spec(key)
                subprocess_specs = parser.get_subprocess_specs(key)
            except (SpiffWorkflowException, KeyError, AttributeError, TypeError, ValueError) as exc:
                raise _diagram_error(exc, name) from exc
            refs = bpmn[name].xpath(
                "//@camunda:decisionRef", namespaces={"camunda": CAMUNDA_MODEL_NS}
            )
            processes.append(
                ParsedProcess(
                    key, spec.description, name, spec, subprocess_specs, sorted(set(refs))
                )
            )
            for s in [spec, *subprocess_specs.values()]:
                check_expressions(s, name)
    return processes


def _sources(task_spec) -> list[tuple[str, str]]:
    """(source, mode) pairs of everything the sandbox will run for one task spec."""
    found: list[tuple[str, str]] = []
    if isinstance(task_spec, ScriptTask) and task_spec.script:
        found.append((task_spec.script, "exec"))
    for condition, _target in getattr(task_spec, "cond_task_specs", None) or []:
        if condition is not None and getattr(condition, "args", None):
            found.append((condition.args[0], "eval"))
    definition = getattr(task_spec, "event_definition", None)
    if isinstance(definition, TimerEventDefinition):
        found.append((definition.expression, "eval"))
    camunda = (getattr(task_spec, "extensions", None) or {}).get("camunda", {})
    for attr in ("dueDate", "followUpDate"):
        value = camunda.get(attr)
        if value and not is_iso_literal(value):
            found.append((value, "eval"))
    return found


def check_expressions(spec, file_name: str) -> None:
    """Refuse a process whose scripts or expressions the sandbox would not run."""
    for task_spec in spec.task_specs.values():
        for source, mode in _sources(task_spec):
            problem = check_source(source, mode=mode)
            if problem:
                raise DiagramError(
                    f"script ou expression refusé : {problem}",
                    file_name=file_name,
                    element_id=getattr(task_spec, "bpmn_id", None) or task_spec.name,
                )
