"""Message correlation in the engine, without the server: receive, catch, boundary, start."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.conftest import SCENARIOS
from workflows.engine import messages, runtime
from workflows.engine.deploy import deploy, read_files
from workflows.engine.models import Event, HumanTask, Instance

SEND = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"
  targetNamespace="http://clausier.test/bpmn">
  <bpmn:message id="m" name="avis"/>
  <bpmn:process id="envoi" isExecutable="true">
    <bpmn:startEvent id="s"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="envoyer"/>
    <bpmn:sendTask id="envoyer" messageRef="m"/>
    <bpmn:sequenceFlow id="f2" sourceRef="envoyer" targetRef="jeter"/>
    <bpmn:intermediateThrowEvent id="jeter"><bpmn:messageEventDefinition messageRef="m"/>
    </bpmn:intermediateThrowEvent>
    <bpmn:sequenceFlow id="f3" sourceRef="jeter" targetRef="fin"/>
    <bpmn:endEvent id="fin"><bpmn:messageEventDefinition messageRef="m"/></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>"""


@pytest.fixture
def deployed(session):
    names = ["message_attente.bpmn", "message_depart.bpmn"]
    deploy(session=session, files=read_files([SCENARIOS / "engine" / n for n in names]))
    return session


def _all():
    return select(Instance)


def test_send_task_and_message_throw_events_deploy_and_run(session):
    deploy(session=session, files={"envoi.bpmn": SEND})
    instance = runtime.start(session=session, key="envoi")
    assert instance.status == "completed", instance.error_message


def test_receive_catch_and_boundary(deployed):
    s = deployed
    a = runtime.start(session=s, key="attente_message", business_key="A", variables={"n": 1})
    b = runtime.start(session=s, key="attente_message", business_key="B", variables={"n": 2})
    with pytest.raises(messages.Ambiguous) as caught:
        messages.correlate(session=s, name="convention_signee", candidates=_all(), may_start=None)
    assert caught.value.count == 2 and caught.value.status == 409
    [done] = messages.correlate(
        session=s,
        name="convention_signee",
        candidates=_all(),
        may_start=None,
        correlation_keys={"n": 1},
        variables={"signe_le": "2027-01-04"},
        actor="robot",
    )
    assert done.instance.id == a.id and done.element_ids == ["attendre_signature"]
    assert runtime.variables(session=s, instance_id=a.id)["signe_le"] == "2027-01-04"
    # only b still waits at the receive task
    [again] = messages.correlate(
        session=s, name="convention_signee", candidates=_all(), may_start=None
    )
    assert again.instance.id == b.id
    both = messages.correlate(
        session=s, name="pieces_recues", candidates=_all(), may_start=None, all_targets=True
    )
    assert sorted(r.instance.id for r in both) == [a.id, b.id]
    tasks = s.scalars(select(HumanTask).where(HumanTask.state == "open")).all()
    assert sorted(t.instance_id for t in tasks) == [a.id, b.id]
    messages.correlate(
        session=s,
        name="dossier_retire",
        candidates=_all().where(Instance.business_key == "A"),
        may_start=None,
    )
    s.commit()
    assert s.get(Instance, a.id).status == "completed"
    assert s.get(Instance, b.id).status == "running"
    task_a = s.scalar(select(HumanTask).where(HumanTask.instance_id == a.id))
    assert task_a.state == "cancelled"
    kinds = s.scalars(select(Event.kind).where(Event.instance_id == a.id).order_by(Event.id))
    assert list(kinds).count(messages.KIND) == 3
    with pytest.raises(messages.NoMatch):  # the instance has moved on
        messages.correlate(
            session=s,
            name="convention_signee",
            candidates=_all().where(Instance.id == a.id),
            may_start=None,
        )


def test_message_start_and_no_match(deployed):
    s = deployed
    checked = []
    [started] = messages.correlate(
        session=s,
        name="demande_recue",
        candidates=_all(),
        may_start=checked.append,
        business_key="T/1",
        variables={"objet": "voirie"},
        actor="robot",
    )
    assert started.started and checked[0].key == "depart_message"
    assert started.instance.business_key == "T/1" and started.instance.lock_version == 2
    task = s.scalar(select(HumanTask).where(HumanTask.instance_id == started.instance.id))
    assert task.element_id == "instruire" and task.state == "open"
    assert runtime.variables(session=s, instance_id=started.instance.id)["objet"] == "voirie"
    # a waiting message start event of a running instance is not a correlation target
    stuck = runtime.start(session=s, key="depart_message")
    assert stuck.status == "running"
    with pytest.raises(messages.NoMatch):
        messages.correlate(session=s, name="demande_recue", candidates=_all(), may_start=None)
    with pytest.raises(messages.NoMatch):
        messages.correlate(session=s, name="inconnu", candidates=_all(), may_start=print)
