"""Deployment: versions by content, and diagrams refused with the reason and the element."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.conftest import SCENARIOS
from tests.workflows.engine.diagrams import chain, script
from workflows.engine import runtime
from workflows.engine.deploy import deploy, get_definition, read_files
from workflows.engine.errors import DiagramError
from workflows.engine.models import DecisionDefinition, Event, ProcessDefinition


def _count(session, model=ProcessDefinition) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_unchanged_file_is_not_redeployed_and_a_change_makes_version_two(session):
    first = deploy(session=session, files={"p.bpmn": chain("p", ["a"])}, actor="admin")
    again = deploy(session=session, files={"p.bpmn": chain("p", ["a"])}, actor="admin")
    changed = deploy(session=session, files={"p.bpmn": chain("p", ["a", "b"])}, actor="admin")
    session.commit()
    assert [(d.version, d.created) for d in first + again + changed] == [
        (1, True),
        (1, False),
        (2, True),
    ]
    assert _count(session) == 2
    assert get_definition(session=session, key="p").version == 2
    kinds = session.scalars(select(Event.kind).where(Event.kind == "definition.deployed")).all()
    assert len(kinds) == 2


def test_running_instances_stay_on_their_version_and_start_takes_the_latest(session):
    deploy(session=session, files={"p.bpmn": chain("p", ["a"])})
    old = runtime.start(session=session, key="p")
    deploy(session=session, files={"p.bpmn": chain("p", ["a", "b"])})
    new = runtime.start(session=session, key="p")
    pinned = runtime.start(session=session, key="p", version=1)
    session.commit()
    versions = {
        i.id: session.get(ProcessDefinition, i.definition_id).version for i in (old, new, pinned)
    }
    assert versions == {old.id: 1, new.id: 2, pinned.id: 1}
    # The old instance still runs its own version to the end: one task, then done.
    (task,) = _open_tasks(session, old.id)
    assert runtime.complete_task(session=session, task_id=task.id).status == "completed"


def _open_tasks(session, instance_id):
    from workflows.engine.models import HumanTask

    return session.scalars(
        select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.state == "open")
    ).all()


def test_invalid_diagram_is_refused_with_element_and_previous_version_stays(session):
    deploy(session=session, files={"p.bpmn": chain("p", ["a"])})
    session.commit()
    broken = chain("p", ["a"]).replace(b'targetRef="fin"', b'targetRef="nulle_part"')
    with pytest.raises(DiagramError) as err:
        deploy(session=session, files={"p.bpmn": broken})
    session.rollback()
    assert err.value.file_name == "p.bpmn"
    assert "nulle_part" in err.value.message or err.value.element_id
    assert get_definition(session=session, key="p").version == 1
    assert _count(session) == 1


def test_one_bad_file_refuses_the_whole_deployment(session):
    with pytest.raises(DiagramError):
        deploy(session=session, files={"ok.bpmn": chain("ok", ["a"]), "ko.bpmn": b"<pas du xml"})
    session.rollback()
    assert _count(session) == 0


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="lol" name="&lol3;" isExecutable="true"/>
</bpmn:definitions>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE foo [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
  <bpmn:process id="xxe" name="&xxe;" isExecutable="true"/>
</bpmn:definitions>"""

XXE_NETWORK = b"""<?xml version="1.0"?>
<!DOCTYPE foo SYSTEM "http://127.0.0.1:9/evil.dtd">
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"/>"""


@pytest.mark.parametrize(
    "content", [BILLION_LAUGHS, XXE, XXE_NETWORK], ids=["billion-laughs", "xxe-file", "xxe-network"]
)
def test_entity_and_dtd_attacks_are_refused(session, content):
    with pytest.raises(DiagramError) as err:
        deploy(session=session, files={"attaque.bpmn": content})
    assert "DOCTYPE" in err.value.message
    assert err.value.file_name == "attaque.bpmn"


def test_oversized_diagram_is_refused(session):
    padding = b"<!-- " + b"x" * (3 * 1024 * 1024) + b" -->"
    with pytest.raises(DiagramError) as err:
        deploy(session=session, files={"gros.bpmn": chain("gros", ["a"]) + padding})
    assert "volumineux" in err.value.message


def test_unknown_xml_is_refused(session):
    with pytest.raises(DiagramError) as err:
        deploy(session=session, files={"x.bpmn": b"<html><body/></html>"})
    assert "espace de noms" in err.value.message


def test_unsafe_script_is_refused_at_deployment_with_its_element(session):
    bad = chain("p", [script("calcul", "import os\nx = os.getcwd()")])
    with pytest.raises(DiagramError) as err:
        deploy(session=session, files={"p.bpmn": bad})
    assert err.value.element_id == "calcul"
    assert _count(session) == 0


def test_missing_decision_table_is_refused(session):
    task = '    <bpmn:businessRuleTask id="regle" camunda:decisionRef="inexistante"/>\n'
    with pytest.raises(DiagramError) as err:
        deploy(session=session, files={"p.bpmn": chain("p", [task])})
    assert "inexistante" in err.value.message


def test_repository_diagrams_deploy_with_decisions(session):
    from tests.conftest import BPMN_DIR

    results = deploy(session=session, files=read_files([BPMN_DIR]))
    keys = {(r.kind, r.key) for r in results}
    assert {
        ("process", "marche_clause_sociale"),
        ("process", "comite_technique"),
        ("process", "comite_pilotage"),
        ("process", "convention_partenariat"),
        ("decision", "part_main_oeuvre"),
    } <= keys
    assert _count(session, DecisionDefinition) >= 1
    # A changed decision table makes a new version of the process that uses it.
    dmn = (BPMN_DIR / "part_main_oeuvre.dmn").read_bytes()
    changed = dmn.replace(b"</definitions>", b"<!-- revu --></definitions>")
    files = read_files([BPMN_DIR])
    files["part_main_oeuvre.dmn"] = changed
    again = {(r.key, r.version, r.created) for r in deploy(session=session, files=files)}
    assert ("part_main_oeuvre", 2, True) in again
    assert ("marche_clause_sociale", 2, True) in again
    assert ("comite_technique", 1, False) in again


def test_scenario_diagrams_deploy(session):
    results = deploy(session=session, files=read_files([SCENARIOS / "engine"]))
    assert {r.key for r in results} >= {"formulaire", "erreur", "cycle"}
