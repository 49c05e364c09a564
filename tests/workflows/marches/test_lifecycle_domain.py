"""The lifecycle diagram drives the domain records of a registered marché."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from tests.workflows.factories import SIRETS, buyer, buyer_actor, deploy_all, marche, territory
from workflows.engine import runtime, timers
from workflows.engine.errors import FormInvalid
from workflows.engine.models import HumanTask
from workflows.gouvernance.models import Meeting
from workflows.marches.models import Marche


@pytest.fixture
def clock():
    timers.set_clock(lambda: datetime(2027, 1, 4, 8, 0, tzinfo=UTC))
    yield
    timers.set_clock(None)


def open_task(session, m: Marche) -> HumanTask:
    (task,) = session.scalars(
        select(HumanTask).where(HumanTask.instance_id == m.instance_id, HumanTask.state == "open")
    )
    return task


def do(session, m: Marche, element_id: str, data: dict | None = None, actor: str = "test"):
    task = open_task(session, m)
    assert task.element_id == element_id
    runtime.complete_task(session=session, task_id=task.id, data=data or {}, actor=actor)
    session.commit()


def registered(session) -> Marche:
    deploy_all(session)
    acheteur = buyer(session)
    m = marche(
        session,
        actor=buyer_actor(acheteur),
        buyer_id=acheteur.id,
        territory_id=territory(session).id,
        start_process=True,
    )
    session.commit()
    return m


def test_a_marche_runs_from_analysis_to_bilan_with_its_records(session, clock):
    m = registered(session)
    do(session, m, "analyse_amont", {"montant_estime_ht": 1_200_000, "lots": "Gros œuvre"})
    assert (m.estimated_amount_ht, [lot.title for lot in m.lots]) == (1_200_000, ["Gros œuvre"])
    assert m.advice_disposition == "clause_et_critere"  # kept as soon as the project is analysed
    shown = runtime.variables(session=session, instance_id=m.instance_id)
    assert shown["disposition_conseillee"] == "clause_et_critere" and shown["motif_conseil"]
    with pytest.raises(FormInvalid) as refused:
        do(session, m, "choisir_disposition", {"disposition": "clause_insertion"})
    session.rollback()
    assert "justification_disposition" in refused.value.errors
    assert open_task(session, m).element_id == "choisir_disposition"  # nothing was recorded
    do(
        session,
        m,
        "choisir_disposition",
        {"disposition": "clause_insertion", "justification_disposition": "Lots techniques"},
    )
    assert (m.disposition, m.against_advice, m.phase) == ("clause_insertion", True, "calibrage")
    with pytest.raises(FormInvalid) as unjustified:
        do(session, m, "calibrer_heures", {"heures_retenues": 900})
    session.rollback()
    assert "justification_calibrage" in unjustified.value.errors
    do(session, m, "calibrer_heures", {"heures_retenues": 900, "justification_calibrage": "Public"})
    (clause,) = m.clauses
    assert (clause.calculated_hours, clause.hours_target, clause.labour_share) == (1000, 900, 0.5)
    assert [(o.previous_value, o.value) for o in clause.overrides] == [(1000, 900)]
    do(session, m, "valider_calibrage", {"calibrage_valide": True})
    assert clause.validated_at is not None and m.phase == "consultation"
    do(
        session,
        m,
        "rediger_consultation",
        {"reference_consultation": "2027-AO-12", "date_publication": "2027-01-10"},
    )
    do(
        session,
        m,
        "enregistrer_notification",
        {
            "titulaires": f"BTP Val-de-Marne (SIRET {SIRETS[0]})",
            "date_notification": "2027-02-01",
            "montant_final_ht": 1_150_000,
        },
    )
    assert (m.notification_date, m.planned_end_date, m.final_amount_ht) == (
        date(2027, 2, 1),
        date(2028, 2, 1),
        1_150_000,
    )
    assert m.holders_text.startswith("BTP") and m.phase == "lancement"
    do(session, m, "tenir_reunion_lancement", {"date_reunion": "2027-02-10", "compte_rendu": "OK"})
    (meeting,) = session.scalars(select(Meeting).where(Meeting.marche_id == m.id))
    assert (meeting.kind, meeting.held_on, m.phase) == ("lancement", date(2027, 2, 10), "execution")


def test_a_calibration_kept_as_computed_is_no_override(session, clock):
    m = registered(session)
    do(session, m, "analyse_amont")
    do(session, m, "choisir_disposition", {"disposition": "clause_et_critere"})
    do(session, m, "calibrer_heures")
    (clause,) = m.clauses
    assert (clause.hours_target, clause.overrides, m.against_advice) == (833, [], False)


def test_a_bad_siret_refuses_the_notification(session, clock):
    m = registered(session)
    do(session, m, "analyse_amont")
    do(
        session,
        m,
        "choisir_disposition",
        {
            "disposition": "marche_reserve",
            "type_reservation": "siae",
            "justification_disposition": "Trois SIAE locales",
        },
    )
    do(
        session,
        m,
        "rediger_consultation",
        {"reference_consultation": "R", "date_publication": "2027-01-10"},
    )
    with pytest.raises(FormInvalid) as refused:
        do(
            session,
            m,
            "enregistrer_notification",
            {
                "titulaires": "X (12345678901234)",
                "date_notification": "2027-02-01",
                "montant_final_ht": 1,
            },
        )
    assert "titulaires" in refused.value.errors


def test_the_bilan_closes_a_reserved_marche_and_no_disposition_is_recorded(session, clock):
    m = registered(session)
    do(session, m, "analyse_amont", {"nature": "services", "code_cpv": "85311000"})
    assert m.advice_reservation == "ess"
    do(
        session,
        m,
        "choisir_disposition",
        {"disposition": "marche_reserve", "type_reservation": "ess"},
    )
    assert (m.disposition_article, m.against_advice) == ("L2113-15", False)
    do(
        session,
        m,
        "rediger_consultation",
        {"reference_consultation": "R", "date_publication": "2027-01-10"},
    )
    do(
        session,
        m,
        "enregistrer_notification",
        {
            "titulaires": "Association (sans SIRET)",
            "date_notification": "2027-02-01",
            "montant_final_ht": 90_000,
        },
    )
    do(session, m, "tenir_reunion_lancement", {"date_reunion": "2027-02-10"})
    do(session, m, "rediger_bilan", {"bilan_qualitatif": "Douze salariés en parcours."})
    assert (m.bilan_text, m.bilan_date, m.phase) == (
        "Douze salariés en parcours.",
        date(2027, 1, 4),
        "clos",
    )


def test_instances_without_a_marche_are_left_alone(session, clock):
    deploy_all(session)
    instance = runtime.start(session=session, key="marche_clause_sociale", business_key="X-1")
    (task,) = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id))
    runtime.complete_task(
        session=session,
        task_id=task.id,
        data={
            "objet": "Voirie",
            "montant_estime_ht": 10,
            "duree_mois": 1,
            "nature": "travaux",
            "code_cpv": "ABCDEFGH",  # the domain would refuse it
        },
    )
    assert session.scalars(select(Marche)).all() == []


def test_a_framework_contract_is_calibrated_on_its_maximum_amount(session, clock):
    m = registered(session)
    do(session, m, "analyse_amont", {"accord_cadre": True, "montant_maximum_ht": 2_000_000})
    assert (m.is_framework, m.max_amount_ht) == (True, 2_000_000)
    do(
        session,
        m,
        "choisir_disposition",
        {
            "disposition": "clause_insertion",
            "justification_disposition": "Accord-cadre à bons de commande",
        },
    )
    do(session, m, "calibrer_heures")
    (clause,) = m.clauses
    assert (clause.amount_basis, clause.amount_ht, clause.hours_target) == (
        "maximum",
        2_000_000,
        1667,
    )
