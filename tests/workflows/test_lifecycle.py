"""The charter lifecycle of bpmn/, each path from start to end, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.conftest import BPMN_DIR
from workflows.engine import runtime, timers
from workflows.engine.deploy import deploy, read_files
from workflows.engine.models import Event, HumanTask, Instance, Timer

ANALYSE = {
    "objet": "Réhabilitation du groupe scolaire Jean-Jaurès",
    "montant_estime_ht": 1_000_000,
    "duree_mois": 3,
    "nature": "travaux",
    "code_cpv": "45214200",
    "lieu_execution": "Créteil",
}


class Clock:
    now = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    Clock.now = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
    timers.set_clock(lambda: Clock.now)
    yield Clock
    timers.set_clock(None)


@pytest.fixture
def lifecycle(session, clock):
    deploy(session=session, files=read_files([BPMN_DIR]))
    session.commit()
    return session


def open_tasks(session, instance_id) -> dict[str, HumanTask]:
    rows = session.scalars(
        select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.state == "open")
    )
    return {r.element_id: r for r in rows}


def do(session, instance, element_id, data=None, actor="test"):
    """Complete the open task `element_id` and commit; fails if it is not open."""
    tasks = open_tasks(session, instance.id)
    assert element_id in tasks, f"{element_id} attendu, ouvertes : {sorted(tasks)}"
    result = runtime.complete_task(
        session=session, task_id=tasks[element_id].id, data=data or {}, actor=actor
    )
    session.commit()
    assert result.status in ("running", "completed"), result.error_message
    return result


def start_marche(session, disposition):
    instance = runtime.start(session=session, key="marche_clause_sociale", business_key="M-001")
    session.commit()
    assert instance.status == "running", instance.error_message
    assert set(open_tasks(session, instance.id)) == {"analyse_amont"}
    do(session, instance, "analyse_amont", ANALYSE, actor="acheteur")
    do(session, instance, "choisir_disposition", {"disposition": disposition}, actor="acheteur")
    return instance


def values(session, instance):
    return runtime.variables(session=session, instance_id=instance.id)


def test_the_buyer_sees_the_advice_when_choosing(lifecycle):
    instance = runtime.start(session=lifecycle, key="marche_clause_sociale", business_key="M-002")
    do(lifecycle, instance, "analyse_amont", {**ANALYSE, "nb_structures_locales": 2})
    assert set(open_tasks(lifecycle, instance.id)) == {"choisir_disposition"}
    data = values(lifecycle, instance)
    # DMN disposition_conseillee: works of 1 000 000 € HT → clause and award criterion
    assert (data["disposition_conseillee"], data["article_conseille"]) == (
        "clause_et_critere",
        "L2112-2 ; R2152-7",
    )
    assert "R2152-7" in data["motif_conseil"]


def test_no_disposition_closes_with_a_reason(lifecycle):
    instance = start_marche(lifecycle, "aucune")
    do(lifecycle, instance, "motiver_absence", {"motif_absence": "Fournitures sur catalogue"})
    assert lifecycle.get(Instance, instance.id).status == "completed"
    assert values(lifecycle, instance)["motif_absence"] == "Fournitures sur catalogue"


def consult(session, instance):
    do(
        session,
        instance,
        "rediger_consultation",
        {"reference_consultation": "2027-AO-12", "date_publication": "2027-01-10"},
    )
    return instance


def notify_and_follow(session, instance, clock, *, monthly: bool):
    """Notification, kickoff, one monthly report per month as the clock moves, then the bilan."""
    do(
        session,
        instance,
        "enregistrer_notification",
        {
            "titulaires": "BTP Val-de-Marne (SIRET 12345678900011)",
            "date_notification": "2027-02-01",
            "montant_final_ht": 980_000,
        },
    )
    do(session, instance, "tenir_reunion_lancement", {"date_reunion": "2027-02-10"})
    if monthly:
        timer = session.scalars(
            select(Timer).where(
                Timer.instance_id == instance.id, Timer.element_id == "attente_rapport"
            )
        ).one()
        # First report due one month after notification, at 09:00 (UTC+1).
        assert timer.due_at == datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
        for month, hours in enumerate([120, 95.5, 140], start=1):
            clock.now = datetime(2027, 2 + month, 1, 8, 0, 1, tzinfo=UTC)
            assert instance.id in runtime.due_timer_instances(session=session)
            runtime.fire_timers(session=session, instance_id=instance.id)
            session.commit()
            do(session, instance, "saisir_rapport", {"heures_realisees_mois": hours})
        data = values(session, instance)
        assert data["nb_rapports"] == 3
        assert data["heures_realisees"] == 355.5
    do(
        session,
        instance,
        "rediger_bilan",
        {"bilan_qualitatif": "Objectif atteint, deux CDI signés.", "sorties_durables": 2},
    )
    assert session.get(Instance, instance.id).status == "completed"
    assert session.scalars(select(Timer).where(Timer.instance_id == instance.id)).all() == []


def calibrate(session, instance, *, refuse_first: bool = False):
    tasks = open_tasks(session, instance.id)
    assert set(tasks) == {"calibrer_heures"}
    assert tasks["calibrer_heures"].candidate_groups == ["facilitateur"]
    data = values(session, instance)
    # DMN: travaux, CPV division 45 → 50 % labour; 1 000 000 × 50 % × 5 % ÷ 30 €/h = 833 h
    assert data["part_main_oeuvre"] == 0.5
    assert data["heures_calculees"] == 833
    if refuse_first:
        do(session, instance, "calibrer_heures", {"heures_retenues": 700})
        do(
            session,
            instance,
            "valider_calibrage",
            {"calibrage_valide": False, "motif_refus": "Trop bas pour ce chantier"},
        )
    do(
        session,
        instance,
        "calibrer_heures",
        {"heures_retenues": 800, "justification_calibrage": "Technicité élevée du lot gros œuvre"},
        actor="facilitateur",
    )
    do(session, instance, "valider_calibrage", {"calibrage_valide": True}, actor="acheteur")


def test_insertion_clause_runs_to_the_bilan(lifecycle, clock):
    instance = start_marche(lifecycle, "clause_insertion")
    calibrate(lifecycle, instance, refuse_first=True)
    consult(lifecycle, instance)
    assert "analyser_offres" not in open_tasks(lifecycle, instance.id)
    notify_and_follow(lifecycle, instance, clock, monthly=True)
    data = values(lifecycle, instance)
    assert data["heures_retenues"] == 800
    completed = lifecycle.scalars(
        select(Event.element_id).where(
            Event.instance_id == instance.id, Event.kind == "task.completed"
        )
    ).all()
    assert completed.count("calibrer_heures") == 2
    assert completed.count("saisir_rapport") == 3


def test_clause_and_criterion_includes_offer_analysis(lifecycle, clock):
    instance = start_marche(lifecycle, "clause_et_critere")
    calibrate(lifecycle, instance)
    consult(lifecycle, instance)
    do(
        lifecycle,
        instance,
        "analyser_offres",
        {"analyse_critere": "Offre B la plus engagée", "ponderation_critere": 15},
    )
    notify_and_follow(lifecycle, instance, clock, monthly=True)


def test_reserved_market_skips_calibration_and_monthly_reports(lifecycle, clock):
    instance = start_marche(lifecycle, "marche_reserve")
    assert set(open_tasks(lifecycle, instance.id)) == {"rediger_consultation"}
    consult(lifecycle, instance)
    notify_and_follow(lifecycle, instance, clock, monthly=False)
    assert "heures_calculees" not in values(lifecycle, instance)


def test_notification_reminders_then_escalation_to_the_coordinator(lifecycle, clock):
    instance = start_marche(lifecycle, "marche_reserve")
    consult(lifecycle, instance)
    task = open_tasks(lifecycle, instance.id)["enregistrer_notification"]
    assert task.due_at == clock.now + timedelta(days=21)
    due = {t.element_id: t.due_at for t in lifecycle.scalars(select(Timer))}
    assert due["escalade_notification_timer"] == clock.now + timedelta(days=30)
    for _week in (1, 2):
        clock.now += timedelta(days=7, minutes=1)
        runtime.fire_timers(session=lifecycle, instance_id=instance.id)
        lifecycle.commit()
        assert set(open_tasks(lifecycle, instance.id)) == {"enregistrer_notification"}
    clock.now += timedelta(days=17)
    runtime.fire_timers(session=lifecycle, instance_id=instance.id)
    lifecycle.commit()
    tasks = open_tasks(lifecycle, instance.id)
    assert set(tasks) == {"relancer_notification"}
    assert tasks["relancer_notification"].candidate_groups == ["coordinateur"]
    data = lifecycle.get(Instance, instance.id)
    workflow = runtime.restore(lifecycle, data)
    assert workflow.data["data_objects"]["relances_notification"] >= 2
    do(lifecycle, instance, "relancer_notification", {})
    assert set(open_tasks(lifecycle, instance.id)) == {"enregistrer_notification"}


@pytest.mark.parametrize("key", ["comite_technique", "comite_pilotage"])
def test_committees_wait_for_their_cycle(lifecycle, clock, key):
    instance = runtime.start(session=lifecycle, key=key, business_key="Territoire Grand Paris Sud")
    lifecycle.commit()
    (timer,) = lifecycle.scalars(select(Timer).where(Timer.instance_id == instance.id))
    first = {
        "comite_technique": datetime(2027, 1, 15, 8, 0, tzinfo=UTC),
        "comite_pilotage": datetime(2027, 3, 1, 8, 0, tzinfo=UTC),
    }[key]
    assert (timer.kind, timer.due_at) == ("cycle", first)
    assert open_tasks(lifecycle, instance.id) == {}
    clock.now = first + timedelta(seconds=1)
    runtime.fire_timers(session=lifecycle, instance_id=instance.id)
    lifecycle.commit()
    assert len(open_tasks(lifecycle, instance.id)) == 1
    (timer,) = lifecycle.scalars(select(Timer).where(Timer.instance_id == instance.id))
    assert timer.due_at > first + timedelta(days=150)  # next occurrence, months later


def test_convention_renewal_reminder_before_the_three_month_notice(lifecycle, clock):
    instance = runtime.start(
        session=lifecycle,
        key="convention_partenariat",
        variables={"date_debut": "2027-01-01", "duree_annees": 1},
    )
    lifecycle.commit()
    assert instance.status == "running", instance.error_message
    data = values(lifecycle, instance)
    assert data["fin_periode"] == "2028-01-01"
    assert data["date_limite_preavis"] == "2027-10-01"
    (timer,) = lifecycle.scalars(select(Timer).where(Timer.instance_id == instance.id))
    assert timer.due_at == datetime(2027, 9, 1, 8, 0, tzinfo=UTC)  # one month before the notice
    clock.now = datetime(2027, 9, 1, 8, 0, 1, tzinfo=UTC)
    runtime.fire_timers(session=lifecycle, instance_id=instance.id)
    lifecycle.commit()
    task = open_tasks(lifecycle, instance.id)["decider_renouvellement"]
    assert task.candidate_groups == ["coordinateur"]
    do(lifecycle, instance, "decider_renouvellement", {"decision": "renouveler"})
    data = values(lifecycle, instance)
    assert data["fin_periode"] == "2029-01-01" and data["date_limite_preavis"] == "2028-10-01"
    clock.now = datetime(2028, 9, 1, 8, 0, 1, tzinfo=UTC)
    runtime.fire_timers(session=lifecycle, instance_id=instance.id)
    lifecycle.commit()
    do(lifecycle, instance, "decider_renouvellement", {"decision": "denoncer"})
    do(
        lifecycle,
        instance,
        "envoyer_denonciation",
        {"date_envoi_denonciation": "2028-09-15", "destinataires": "Préfecture, PLIE"},
    )
    assert lifecycle.get(Instance, instance.id).status == "completed"
