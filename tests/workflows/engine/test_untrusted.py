"""Untrusted scripts and expressions inside real instances: refused at deployment, and if one
slips through (a diagram deployed before a rule existed), refused at run time with an error on
the instance, which stays loadable."""

from __future__ import annotations

from xml.sax.saxutils import escape

import pytest

from tests.workflows.engine.diagrams import chain, script
from tests.workflows.engine.sandbox_attacks import ATTACKS
from workflows.engine import parser, runtime
from workflows.engine.deploy import deploy
from workflows.engine.errors import DiagramError


def diagram(kind: str, source: str) -> bytes:
    if kind == "script":
        return chain("attaque", [script("piege", source), "suite"])
    gateway = (
        '    <bpmn:exclusiveGateway id="piege" default="f_defaut"/>\n'
        '    <bpmn:sequenceFlow id="f_cond" sourceRef="piege" targetRef="oui">'
        f"<bpmn:conditionExpression>{escape(source)}</bpmn:conditionExpression>"
        "</bpmn:sequenceFlow>\n"
        '    <bpmn:sequenceFlow id="f_defaut" sourceRef="piege" targetRef="non"/>\n'
        '    <bpmn:userTask id="oui" camunda:candidateGroups="acheteur"/>\n'
        '    <bpmn:userTask id="non" camunda:candidateGroups="acheteur"/>\n'
        '    <bpmn:sequenceFlow id="f_oui" sourceRef="oui" targetRef="fin"/>\n'
        '    <bpmn:sequenceFlow id="f_non" sourceRef="non" targetRef="fin"/>\n'
    )
    xml = chain("attaque", [script("depart", "y = 1")]).decode()
    xml = xml.replace('targetRef="fin"/>', 'targetRef="piege"/>', 1)
    return xml.replace(
        '    <bpmn:endEvent id="fin"/>', gateway + '    <bpmn:endEvent id="fin"/>'
    ).encode()


def _ids(attacks):
    return [name for name, _, _ in attacks]


def test_there_are_at_least_fifteen_attacks():
    assert len(ATTACKS) >= 15
    assert {kind for _, kind, _ in ATTACKS} == {"script", "expression"}


@pytest.mark.parametrize(("name", "kind", "source"), ATTACKS, ids=_ids(ATTACKS))
def test_attack_is_refused_at_run_time_with_an_error_on_the_instance(
    sqlite_session, monkeypatch, name, kind, source
):
    monkeypatch.setattr(parser, "check_source", lambda *_a, **_k: None)
    deploy(session=sqlite_session, files={"attaque.bpmn": diagram(kind, source)})
    instance = runtime.start(session=sqlite_session, key="attaque", variables={"x": 1})
    sqlite_session.commit()
    assert instance.status == "error", name
    assert instance.error_element == "piege"
    assert instance.error_message
    # The instance is still loadable and nothing after the trap ran.
    workflow = runtime.restore(sqlite_session, instance)
    assert not workflow.is_completed()
    assert "suite" not in {t.task_spec.name for t in workflow.get_tasks(state=16)}


@pytest.mark.parametrize(("name", "kind", "source"), ATTACKS, ids=_ids(ATTACKS))
def test_attack_never_runs_with_the_deployment_check_on(sqlite_session, name, kind, source):
    try:
        deploy(session=sqlite_session, files={"attaque.bpmn": diagram(kind, source)})
    except DiagramError as err:
        assert err.element_id == "piege" or "piege" in err.message or kind == "expression"
        return
    instance = runtime.start(session=sqlite_session, key="attaque", variables={"x": 1})
    assert instance.status == "error", name
