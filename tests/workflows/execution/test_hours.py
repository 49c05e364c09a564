"""Hours records: eligibility before the contract start, routes and structures, outcomes."""

from __future__ import annotations

from datetime import date

import pytest

from tests.workflows.factories import (
    ADMIN,
    SIRETS,
    beneficiaries_add,
    buyer,
    buyer_actor,
    facilitator,
    marche,
    notified,
    person,
    territory,
)
from workflows.access import Forbidden
from workflows.engine.errors import FormInvalid
from workflows.execution import service as execution
from workflows.execution.models import DURABLE_OUTCOMES
from workflows.marches import service as marches
from workflows.referentiel import service as referentiel


def setting(session):
    here = territory(session)
    acheteur = buyer(session)
    m = notified(session, marche(session, buyer_id=acheteur.id, territory_id=here.id))
    (holder, _), *_ = marches.get_holders(session=session, marche_id=m.id)
    return here, acheteur, m, holder, facilitator(here)


def record(session, actor, m, holder, beneficiary, **fields):
    values = {
        "month": date(2026, 3, 1),
        "hours": 70,
        "route": "embauche_directe",
        "contract_type": "cdd",
        "contract_start": date(2026, 3, 2),
    }
    values.update(fields)
    return execution.record_hours(
        session=session,
        actor=actor,
        marche_id=m.id,
        holder_id=holder.id,
        beneficiary_id=beneficiary.id,
        **values,
    )


@pytest.mark.parametrize(
    ("validated", "counted"),
    [(date(2026, 2, 10), True), (date(2026, 3, 2), True), (date(2026, 3, 3), False)],
)
def test_hours_count_only_if_eligibility_was_validated_by_the_contract_start(
    session, validated, counted
):
    here, _, m, holder, camille = setting(session)
    karim = person(session, camille, here.id, eligible_on=validated)
    hours = record(session, camille, m, holder, karim)
    assert hours.counted is counted
    if not counted:
        assert "03/03/2026" in hours.flag and "non comptées" in hours.flag


def test_unvalidated_hours_are_kept_flagged_then_counted_once_validated_in_time(session):
    here, _, m, holder, camille = setting(session)
    julie = person(session, camille, here.id, eligible_on=None, first_name="Julie", sex="F")
    march = record(session, camille, m, holder, julie)
    april = record(session, camille, m, holder, julie, month="2026-04-15")
    assert (march.counted, april.month) == (False, date(2026, 4, 1))
    assert "non validée" in march.flag
    beneficiaries_add(session, camille, julie.id, date(2026, 3, 20))  # after the start: no change
    session.refresh(march)
    assert not march.counted and "20/03/2026" in march.flag
    beneficiaries_add(session, camille, julie.id, date(2026, 2, 1), kind="jeune_peu_qualifie")
    session.refresh(march)
    session.refresh(april)
    assert (march.counted, march.flag, april.counted) == (True, None, True)


def test_routes_need_the_matching_inclusive_structure(session):
    here, _, m, holder, camille = setting(session)
    karim = person(session, camille, here.id)
    etti = referentiel.create_structure(
        session=session, actor=ADMIN, kind="ETTI", name="Intérim Solidaire 94"
    )
    aci = referentiel.create_structure(session=session, actor=ADMIN, kind="ACI", name="Ateliers")
    with pytest.raises(FormInvalid) as missing:
        record(session, camille, m, holder, karim, route="etti", contract_type="interim")
    assert "structure_id" in missing.value.errors
    with pytest.raises(FormInvalid):
        record(session, camille, m, holder, karim, route="etti", structure_id=aci.id)
    with pytest.raises(FormInvalid):
        record(session, camille, m, holder, karim, structure_id=etti.id)  # direct hire
    ok = record(
        session, camille, m, holder, karim, route="etti", structure_id=etti.id, training_hours=7
    )
    subcontracted = record(
        session,
        camille,
        m,
        holder,
        karim,
        route="sous_traitance",
        structure_id=aci.id,
        counting_method="conversion_montant",
    )
    assert (ok.route, ok.training_hours, subcontracted.counting_method) == (
        "etti",
        7,
        "conversion_montant",
    )


def test_a_record_is_checked_against_the_marche(session):
    here, acheteur, m, holder, camille = setting(session)
    karim = person(session, camille, here.id)
    stranger = referentiel.get_or_create_holder(session=session, siret=SIRETS[2], name="Autre")
    checks = [
        ({"hours": 800}, "hours"),
        ({"month": date(2026, 2, 1)}, "month"),
        ({"route": "detachement"}, "route"),
        ({"contract_type": "stage"}, "contract_type"),
        ({"counting_method": "estimation"}, "counting_method"),
    ]
    for fields, name in checks:
        with pytest.raises(FormInvalid) as refused:
            record(session, camille, m, holder, karim, **fields)
        assert name in refused.value.errors
    with pytest.raises(FormInvalid) as refused:
        record(session, camille, m, stranger, karim)
    assert "holder_id" in refused.value.errors
    with pytest.raises(Forbidden):
        record(session, buyer_actor(acheteur), m, holder, karim)
    assert execution.get_all_hours(session=session, actor=camille, marche_id=m.id) == []


def test_outcomes_at_the_end_of_each_contract(session):
    here, _, m, holder, camille = setting(session)
    karim = person(session, camille, here.id)
    outcome = execution.record_outcome(
        session=session,
        actor=camille,
        marche_id=m.id,
        beneficiary_id=karim.id,
        holder_id=holder.id,
        contract_start="2026-03-02",
        contract_end="2026-09-30",
        kind="cdi",
    )
    assert outcome.kind in DURABLE_OUTCOMES and outcome.recorded_by == "camille"
    with pytest.raises(FormInvalid) as refused:
        execution.record_outcome(
            session=session,
            actor=camille,
            marche_id=m.id,
            beneficiary_id=karim.id,
            contract_start="2026-03-02",
            contract_end="2026-03-01",
            kind="cdi",
        )
    assert "contract_end" in refused.value.errors
    assert execution.get_all_outcomes(session=session, actor=camille, marche_id=m.id) == [outcome]
