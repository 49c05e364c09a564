"""Workflow state <-> JSON. Specs are stored once per deployed version, not per instance."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG

from . import timers


class StateConverter(BpmnWorkflowConverter):
    """Top-level workflow without its specs: they come from the deployed definition."""

    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], _uuid, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(_uuid(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _uuid(value: str) -> UUID:
    return UUID(value)


def _registry():
    config = dict(CAMUNDA_CONFIG)
    config[BpmnWorkflow] = StateConverter
    for original, ours in timers.REPLACEMENTS.items():
        config[ours] = config[original]
    registry = BpmnWorkflowSerializer.configure(config)
    registry.register(
        date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"])
    )
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]))
    return registry


REGISTRY = _registry()
_SERIALIZER = BpmnWorkflowSerializer(REGISTRY)
SERIALIZER_VERSION = _SERIALIZER.VERSION


def dump_spec(spec, subprocess_specs: dict[str, Any]) -> str:
    """Serialize a process spec and its subprocess specs, once at deployment."""
    return json.dumps(
        {
            "spec": REGISTRY.convert(spec),
            "subprocess_specs": {k: REGISTRY.convert(v) for k, v in subprocess_specs.items()},
        },
        sort_keys=True,
    )


def load_spec(spec_json: str):
    dct = json.loads(spec_json)
    subs = {k: REGISTRY.restore(v) for k, v in dct["subprocess_specs"].items()}
    return REGISTRY.restore(dct["spec"]), subs


class SpecCache:
    """Deserialized specs by (process key, content hash): a deployed version never changes."""

    def __init__(self, size: int = 128):
        self._items: OrderedDict[tuple[str, str], tuple[Any, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self._size = size

    def get(self, definition):
        """The (spec, subprocess specs) of a ProcessDefinition row."""
        key = (definition.key, definition.content_hash)
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        loaded = load_spec(definition.spec_json)
        with self._lock:
            self._items[key] = loaded
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return loaded


SPECS = SpecCache()


def dump_state(workflow: BpmnWorkflow) -> str:
    """The workflow's state as JSON, without specs."""
    return json.dumps(REGISTRY.convert(workflow), separators=(",", ":"))


def load_state(state: str, spec, subprocess_specs) -> BpmnWorkflow:
    dct = json.loads(state)
    return REGISTRY.restore(dct, spec=spec, subprocess_specs=subprocess_specs)
