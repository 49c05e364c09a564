"""Running instances: forms, persistence, conflicts, errors, timers, lifecycle actions."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import SCENARIOS
from tests.workflows.engine.diagrams import chain, script
from workflows.engine import runtime, timers
from workflows.engine.db import transaction
from workflows.engine.deploy import deploy, read_files
from workflows.engine.errors import (
    FormInvalid,
    InstanceNotRunning,
    MigrationRefused,
    StaleInstance,
    TaskNotReady,
)
from workflows.engine.models import Event, HumanTask, Instance, ProcessDefinition, Timer

VALID = {"objet": "Réfection de voirie", "montant": 1_000_000, "nature": "travaux"}


@pytest.fixture
def scenarios(session):
    deploy(session=session, files=read_files([SCENARIOS / "engine"]))
    session.commit()
    return session


@pytest.fixture
def frozen():
    """Freeze the engine clock; tests move it by assigning `frozen.now`."""

    class Clock:
        now = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)

    timers.set_clock(lambda: Clock.now)
    yield Clock
    timers.set_clock(None)


def open_tasks(session, instance_id) -> list[HumanTask]:
    return session.scalars(
        select(HumanTask)
        .where(HumanTask.instance_id == instance_id, HumanTask.state == "open")
        .order_by(HumanTask.element_id)
    ).all()


def test_inbox_row_carries_the_camunda_attributes(scenarios, frozen):
    instance = runtime.start(session=scenarios, key="formulaire", business_key="M-2027-01")
    scenarios.commit()
    (task,) = open_tasks(scenarios, instance.id)
    assert task.name == "Saisir le projet d'achat"
    assert task.lane == "Acheteur"
    assert task.candidate_groups == ["acheteur", "coordinateur"]
    assert task.candidate_users == ["alice"]
    assert task.assignee == "bob"
    assert task.form_key == "form:saisir"
    assert task.properties == {"phase": "analyse"}
    assert task.due_at == frozen.now + timedelta(days=10)
    assert task.follow_up_at == frozen.now + timedelta(days=3)
    assert [f["id"] for f in task.form["fields"]][:3] == ["objet", "montant", "duree_mois"]
    assert instance.business_key == "M-2027-01"


def test_form_errors_name_each_field_and_change_nothing(scenarios):
    instance = runtime.start(session=scenarios, key="formulaire")
    scenarios.commit()
    before = (instance.state, instance.lock_version)
    (task,) = open_tasks(scenarios, instance.id)
    bad = {
        "objet": "ab",
        "montant": "beaucoup",
        "duree_mois": 500,
        "accord_cadre": "peut-être",
        "date_debut": "31/02/2027",
        "nature": "autre",
        "reference": "REF-2",
        "pirate": 1,
    }
    with pytest.raises(FormInvalid) as err:
        runtime.complete_task(session=scenarios, task_id=task.id, data=bad)
    scenarios.rollback()
    assert set(err.value.errors) == set(bad)
    assert "3 caractères" in err.value.errors["objet"]
    assert "120" in err.value.errors["duree_mois"]
    scenarios.refresh(instance)
    assert (instance.state, instance.lock_version) == before
    assert open_tasks(scenarios, instance.id)[0].id == task.id


def test_form_values_are_converted_and_defaults_applied(scenarios):
    instance = runtime.start(session=scenarios, key="formulaire")
    (task,) = open_tasks(scenarios, instance.id)
    data = {**VALID, "montant": "1 000 000,50", "date_debut": "15/01/2027"}
    runtime.complete_task(session=scenarios, task_id=task.id, data=data, actor="acheteur1")
    scenarios.commit()
    values = runtime.variables(session=scenarios, instance_id=instance.id)
    assert values["montant"] == 1_000_000.5
    assert values["date_debut"] == "2027-01-15"
    assert values["duree_mois"] == 12 and values["accord_cadre"] is False
    assert values["reference"] == "REF-1"
    assert values["heures"] == 833  # 1 000 000 € × 50 % × 5 % ÷ 30 €/h, by the script task


def test_save_restore_round_trip_mid_workflow(scenarios):
    instance = runtime.start(session=scenarios, key="formulaire")
    (task,) = open_tasks(scenarios, instance.id)
    runtime.complete_task(session=scenarios, task_id=task.id, data=VALID)
    scenarios.commit()
    stored = instance.state
    workflow = runtime.restore(scenarios, instance)
    ready = [t.task_spec.name for t in workflow.get_tasks(state=16, manual=True)]
    assert ready == ["verifier"]
    assert workflow.last_task.data["heures"] == 833
    from workflows.engine.serializer import dump_state

    assert dump_state(workflow) == stored
    (task,) = open_tasks(scenarios, instance.id)
    done = runtime.complete_task(session=scenarios, task_id=task.id, data={"heures_retenues": 900})
    assert done.status == "completed"
    assert runtime.variables(session=scenarios, instance_id=instance.id)["heures_retenues"] == 900


def test_one_transaction_writes_state_inbox_timers_and_audit(scenarios, frozen):
    instance = runtime.start(session=scenarios, key="formulaire")
    (task,) = open_tasks(scenarios, instance.id)
    runtime.complete_task(session=scenarios, task_id=task.id, data=VALID, actor="alice")
    scenarios.rollback()  # nothing of the completion survives a rollback
    assert scenarios.get(Instance, instance.id) is None
    instance = runtime.start(session=scenarios, key="formulaire")
    (task,) = open_tasks(scenarios, instance.id)
    runtime.complete_task(session=scenarios, task_id=task.id, data=VALID, actor="alice")
    scenarios.commit()
    kinds = scenarios.scalars(
        select(Event.kind).where(Event.instance_id == instance.id).order_by(Event.id)
    ).all()
    assert kinds == ["instance.started", "task.completed"]
    event = scenarios.scalars(select(Event).where(Event.kind == "task.completed")).one()
    assert event.actor == "alice" and event.data["data"]["objet"] == VALID["objet"]
    timer_rows = {t.element_id: t for t in scenarios.scalars(select(Timer))}
    assert set(timer_rows) == {"relance_verifier", "echeance_ferme"}
    assert timer_rows["relance_verifier"].due_at == frozen.now + timedelta(days=7)
    assert timer_rows["echeance_ferme"].due_at == datetime(2099, 3, 1, 8, 0, tzinfo=UTC)
    assert timer_rows["relance_verifier"].kind == "duration"
    (verifier,) = open_tasks(scenarios, instance.id)
    # add_business_days(today(), 5) from Monday 1 March 2027: Monday 8 March, end of day in Paris
    assert verifier.due_at == datetime(2027, 3, 8, 22, 59, 59, tzinfo=UTC)


def test_timers_fire_when_due_and_rows_follow(scenarios, frozen):
    instance = runtime.start(session=scenarios, key="formulaire")
    (task,) = open_tasks(scenarios, instance.id)
    runtime.complete_task(session=scenarios, task_id=task.id, data=VALID)
    scenarios.commit()
    assert runtime.due_timer_instances(session=scenarios) == []
    frozen.now += timedelta(days=8)
    assert runtime.due_timer_instances(session=scenarios) == [instance.id]
    runtime.fire_timers(session=scenarios, instance_id=instance.id)
    scenarios.commit()
    # The non-interrupting reminder fired; the task is still open; no timer is due any more.
    assert [t.element_id for t in open_tasks(scenarios, instance.id)] == ["verifier"]
    assert runtime.due_timer_instances(session=scenarios) == []
    assert {t.element_id for t in scenarios.scalars(select(Timer))} == {"echeance_ferme"}
    frozen.now = datetime(2099, 3, 2, tzinfo=UTC)
    runtime.fire_timers(session=scenarios, instance_id=instance.id)
    scenarios.commit()
    # The interrupting deadline withdrew the task and ended the instance.
    assert scenarios.get(Instance, instance.id).status == "completed"
    (row,) = scenarios.scalars(select(HumanTask).where(HumanTask.element_id == "verifier"))
    assert row.state == "cancelled"
    assert scenarios.scalars(select(Timer)).all() == []


def test_late_cycle_fires_once_not_once_per_missed_occurrence(scenarios, frozen):
    instance = runtime.start(session=scenarios, key="cycle", variables={"rappels": 0})
    scenarios.commit()
    workflow = runtime.restore(scenarios, instance)
    fired = [t for t in workflow.get_tasks() if t.task_spec.name == "compter"]
    assert len(fired) == 1  # weekly since 2020: one catch-up, not ~370
    (timer,) = scenarios.scalars(select(Timer))
    assert timer.kind == "cycle"
    assert frozen.now < timer.due_at <= frozen.now + timedelta(weeks=1)
    assert timer.due_at.weekday() == 0  # still on the cycle's Monday
    frozen.now = timer.due_at + timedelta(weeks=5, hours=1)  # five more missed
    runtime.fire_timers(session=scenarios, instance_id=instance.id)
    workflow = runtime.restore(scenarios, instance)
    assert len([t for t in workflow.get_tasks() if t.task_spec.name == "compter"]) == 2


def test_two_concurrent_completions_one_wins_other_conflicts(db):
    with transaction(db.factory) as s:
        deploy(session=s, files=read_files([SCENARIOS / "engine"]))
        instance = runtime.start(session=s, key="formulaire")
    with db.factory() as s:
        (task,) = open_tasks(s, instance.id)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def complete(objet: str) -> None:
        try:
            with transaction(db.factory) as s:
                barrier.wait(timeout=10)
                runtime.complete_task(session=s, task_id=task.id, data={**VALID, "objet": objet})
            outcomes.append("ok:" + objet)
        except (StaleInstance, TaskNotReady) as exc:
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=complete, args=(o,)) for o in ("premier", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(outcomes) == 2
    winners = [o for o in outcomes if o.startswith("ok:")]
    assert len(winners) == 1, outcomes
    with db.factory() as s:
        values = runtime.variables(session=s, instance_id=instance.id)
        assert values["objet"] == winners[0][3:]
        assert s.get(Instance, instance.id).lock_version == 2
        completed = s.scalars(select(Event).where(Event.kind == "task.completed")).all()
        assert len(completed) == 1


def test_stale_expected_version_is_a_conflict(scenarios):
    instance = runtime.start(session=scenarios, key="formulaire")
    (task,) = open_tasks(scenarios, instance.id)
    with pytest.raises(StaleInstance):
        runtime.complete_task(session=scenarios, task_id=task.id, data=VALID, expected_version=7)


def test_suspend_blocks_completion_and_resume_fires_missed_timers(scenarios, frozen):
    instance = runtime.start(session=scenarios, key="formulaire")
    (task,) = open_tasks(scenarios, instance.id)
    runtime.complete_task(session=scenarios, task_id=task.id, data=VALID)
    runtime.suspend(session=scenarios, instance_id=instance.id, actor="admin")
    scenarios.commit()
    (verifier,) = open_tasks(scenarios, instance.id)
    with pytest.raises(InstanceNotRunning):
        runtime.complete_task(session=scenarios, task_id=verifier.id, data={})
    frozen.now += timedelta(days=8)
    assert runtime.due_timer_instances(session=scenarios) == []  # suspended: timers wait
    with pytest.raises(InstanceNotRunning):
        runtime.suspend(session=scenarios, instance_id=instance.id)
    runtime.resume(session=scenarios, instance_id=instance.id, actor="admin")
    scenarios.commit()
    assert {t.element_id for t in scenarios.scalars(select(Timer))} == {"echeance_ferme"}
    kinds = scenarios.scalars(select(Event.kind).where(Event.instance_id == instance.id)).all()
    assert {"instance.suspended", "instance.resumed", "timers.fired"} <= set(kinds)


def test_cancel_withdraws_tasks_and_timers(scenarios):
    instance = runtime.start(session=scenarios, key="formulaire")
    (task,) = open_tasks(scenarios, instance.id)
    runtime.complete_task(session=scenarios, task_id=task.id, data=VALID)
    runtime.cancel(session=scenarios, instance_id=instance.id, actor="admin", reason="doublon")
    scenarios.commit()
    assert scenarios.get(Instance, instance.id).status == "cancelled"
    assert open_tasks(scenarios, instance.id) == []
    assert scenarios.scalars(select(Timer)).all() == []
    with pytest.raises(InstanceNotRunning):
        runtime.cancel(session=scenarios, instance_id=instance.id)


def test_failing_script_puts_instance_in_error_and_retry_after_fix(scenarios):
    instance = runtime.start(
        session=scenarios, key="erreur", variables={"total": 10, "diviseur": 0}
    )
    scenarios.commit()
    assert instance.status == "error"
    assert instance.error_element == "diviser"
    assert "division by zero" in instance.error_message
    assert open_tasks(scenarios, instance.id) == []
    with pytest.raises(InstanceNotRunning):
        runtime.resume(session=scenarios, instance_id=instance.id)
    fixed = runtime.retry(session=scenarios, instance_id=instance.id, variables={"diviseur": 4})
    scenarios.commit()
    assert fixed.status == "running" and fixed.error_message is None
    assert runtime.variables(session=scenarios, instance_id=instance.id)["ratio"] == 2.5
    assert [t.element_id for t in open_tasks(scenarios, instance.id)] == ["suite"]


def test_retry_after_deploying_a_fixed_script_and_migrating(scenarios):
    broken = chain("calcul", [script("calculer", "resultat = 1 / 0"), "suite"])
    fixed = chain("calcul", [script("calculer", "resultat = 1 / 1"), "suite"])
    deploy(session=scenarios, files={"calcul.bpmn": broken})
    instance = runtime.start(session=scenarios, key="calcul")
    assert instance.status == "error"
    deploy(session=scenarios, files={"calcul.bpmn": fixed})
    runtime.migrate(session=scenarios, instance_id=instance.id)
    runtime.retry(session=scenarios, instance_id=instance.id)
    scenarios.commit()
    assert scenarios.get(Instance, instance.id).status == "running"
    assert runtime.variables(session=scenarios, instance_id=instance.id)["resultat"] == 1


def test_migrate_moves_an_instance_when_its_steps_still_exist(scenarios):
    deploy(session=scenarios, files={"m.bpmn": chain("m", ["a", "b"])})
    instance = runtime.start(session=scenarios, key="m")
    deploy(session=scenarios, files={"m.bpmn": chain("m", ["a", "nouvelle", "b"])})
    runtime.migrate(session=scenarios, instance_id=instance.id)
    scenarios.commit()
    assert scenarios.get(ProcessDefinition, instance.definition_id).version == 2
    (a,) = open_tasks(scenarios, instance.id)
    runtime.complete_task(session=scenarios, task_id=a.id)
    # The step added in version 2 now comes next.
    assert [t.element_id for t in open_tasks(scenarios, instance.id)] == ["nouvelle"]
    kinds = scenarios.scalars(select(Event.kind).where(Event.instance_id == instance.id)).all()
    assert "instance.migrated" in kinds


def test_migrate_refuses_when_the_current_step_disappears(scenarios):
    deploy(session=scenarios, files={"m.bpmn": chain("m", ["a", "b"])})
    instance = runtime.start(session=scenarios, key="m")
    deploy(session=scenarios, files={"m.bpmn": chain("m", ["b"])})
    scenarios.commit()
    with pytest.raises(MigrationRefused) as err:
        runtime.migrate(session=scenarios, instance_id=instance.id)
    assert "a" in err.value.message
    scenarios.rollback()
    assert scenarios.get(ProcessDefinition, instance.definition_id).version == 1
    with pytest.raises(MigrationRefused):
        runtime.migrate(session=scenarios, instance_id=instance.id, version=1)


def test_completing_a_finished_task_is_refused(scenarios):
    instance = runtime.start(session=scenarios, key="formulaire")
    (task,) = open_tasks(scenarios, instance.id)
    runtime.complete_task(session=scenarios, task_id=task.id, data=VALID)
    with pytest.raises(TaskNotReady):
        runtime.complete_task(session=scenarios, task_id=task.id, data=VALID)


def test_task_listener_adds_data_or_refuses_completion(scenarios):
    from workflows.engine.errors import FormInvalid as Refused

    seen = []

    def listener(session, instance, row, data, before):
        seen.append((row.element_id, data.get("objet"), before.get("objet")))
        if data.get("objet") == "interdit":
            raise Refused("objet refusé", errors={"objet": "valeur interdite"})
        return {"marche_id": 42}

    runtime.on_task_completed(listener)
    try:
        instance = runtime.start(session=scenarios, key="formulaire")
        (task,) = open_tasks(scenarios, instance.id)
        with pytest.raises(Refused):
            runtime.complete_task(
                session=scenarios, task_id=task.id, data={**VALID, "objet": "interdit"}
            )
        runtime.complete_task(session=scenarios, task_id=task.id, data=VALID)
    finally:
        runtime.TASK_LISTENERS.remove(listener)
    assert seen == [("saisir", "interdit", None), ("saisir", VALID["objet"], None)]
    assert runtime.variables(session=scenarios, instance_id=instance.id)["marche_id"] == 42


def test_decision_tables_evaluate_outside_processes(session):
    from tests.conftest import BPMN_DIR
    from workflows.engine import decisions
    from workflows.engine.errors import NotFound

    deploy(session=session, files=read_files([BPMN_DIR]))
    share = decisions.evaluate(
        session=session,
        key="part_main_oeuvre",
        variables={"nature": "services", "code_cpv": "90910000"},
    )
    assert share == {"part_main_oeuvre": 0.75}
    with pytest.raises(NotFound):
        decisions.evaluate(session=session, key="absente", variables={})


def test_a_timer_date_without_offset_is_paris_time(session, frozen):
    wait = (
        '    <bpmn:intermediateCatchEvent id="attendre"><bpmn:timerEventDefinition>'
        "<bpmn:timeDate>2027-07-14T10:00:00</bpmn:timeDate>"
        "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>\n"
    )
    deploy(session=session, files={"t.bpmn": chain("t", [wait, "apres"])})
    instance = runtime.start(session=session, key="t")
    session.commit()
    (timer,) = session.scalars(select(Timer).where(Timer.instance_id == instance.id))
    assert timer.due_at == datetime(2027, 7, 14, 8, 0, tzinfo=UTC)  # 10:00 in Paris in summer
    frozen.now = datetime(2027, 7, 14, 7, 59, tzinfo=UTC)
    runtime.fire_timers(session=session, instance_id=instance.id)
    assert open_tasks(session, instance.id) == []
    frozen.now = datetime(2027, 7, 14, 8, 0, 1, tzinfo=UTC)
    runtime.fire_timers(session=session, instance_id=instance.id)
    assert [t.element_id for t in open_tasks(session, instance.id)] == ["apres"]
