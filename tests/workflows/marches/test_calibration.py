"""Calibration of the insertion hours: the charter formula, its inputs, rounding and overrides."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.workflows.factories import (
    ADMIN,
    buyer,
    buyer_actor,
    deploy_tables,
    facilitator,
    marche,
    territory,
)
from workflows.access import Forbidden
from workflows.engine.errors import FormInvalid
from workflows.marches import calibration
from workflows.marches import service as marches
from workflows.referentiel import service as referentiel


def test_seed_example_one_million_at_half_labour_gives_833_hours():
    # Essonne charter art. 4.3: 1 000 000 € × 50 % × 5 % ÷ 30 €/h = 833.33 h
    hours = calibration.formula_hours(
        amount_ht=Decimal(1_000_000),
        labour_share=Decimal("0.5"),
        insertion_rate=Decimal("0.05"),
        hourly_cost=Decimal(30),
    )
    assert hours == 833


@pytest.mark.parametrize(
    ("amount", "hours"),
    [("999000", 833), ("998999.99", 832), ("1001000", 834), ("0", 0)],
)
def test_rounding_is_to_the_nearest_hour_halves_up(amount, hours):
    # 999 000 × 0.5 × 0.05 ÷ 30 = 832.5 exactly: the half goes up
    assert (
        calibration.formula_hours(
            amount_ht=Decimal(amount),
            labour_share=Decimal("0.5"),
            insertion_rate=Decimal("0.05"),
            hourly_cost=Decimal(30),
        )
        == hours
    )


def test_ratio_style_one_hour_per_two_thousand_euros():
    assert (
        calibration.ratio_hours(amount_ht=Decimal(1_000_000), euros_per_hour=Decimal(2000)) == 500
    )


@pytest.mark.parametrize(
    ("nature", "cpv", "share"),
    [
        ("travaux", "45442100", "0.7"),  # peinture
        ("travaux", "45262500", "0.5"),  # maçonnerie
        ("travaux", "45262400", "0.2"),  # charpente métallique
        ("travaux", "45233140", "0.25"),  # voirie
        ("services", "90910000", "0.75"),  # nettoyage
        ("services", "79713000", "0.75"),  # gardiennage
        ("fournitures", "39130000", "0.2"),
    ],
)
def test_labour_share_comes_from_the_trade_table(session, nature, cpv, share):
    deploy_tables(session)
    assert calibration.labour_share(session=session, nature=nature, cpv_code=cpv) == Decimal(share)


def _world(session, **territory_fields):
    deploy_tables(session)
    here = territory(session, **territory_fields)
    return here, buyer(session), facilitator(here)


def test_calibrating_a_marche_keeps_every_input(session):
    here, acheteur, camille = _world(session)
    m = marche(session, buyer_id=acheteur.id, territory_id=here.id)
    clause = calibration.calibrate_hours(session=session, actor=camille, marche_id=m.id)
    assert clause.calculated_hours == clause.hours_target == 833
    assert (clause.method, clause.amount_basis, clause.amount_ht) == (
        "formule",
        "estime",
        1_000_000,
    )
    assert (clause.labour_share, clause.insertion_rate, clause.hourly_cost) == (
        Decimal("0.5"),
        Decimal("0.05"),
        Decimal(30),
    )
    assert (clause.legal_article, clause.calibrated_by) == ("L2112-2", "camille")


def test_the_territory_sets_the_rate_floor_and_the_hourly_cost(session):
    here, acheteur, camille = _world(session, insertion_rate=Decimal("0.06"), hourly_cost=25)
    m = marche(session, buyer_id=acheteur.id, territory_id=here.id)
    clause = calibration.calibrate_hours(session=session, actor=camille, marche_id=m.id)
    assert clause.hours_target == 1200  # 1 000 000 × 0.5 × 0.06 ÷ 25
    with pytest.raises(FormInvalid) as refused:
        calibration.calibrate_hours(
            session=session, actor=camille, marche_id=m.id, insertion_rate="0.05"
        )
    assert (
        "insertion_rate" in refused.value.errors and "6 %" in refused.value.errors["insertion_rate"]
    )
    higher = calibration.calibrate_hours(
        session=session, actor=camille, marche_id=m.id, insertion_rate="0.1"
    )
    assert higher.hours_target == 2000


def test_a_charter_may_use_the_ratio_style(session):
    charter = referentiel.create_charter(
        session=session,
        actor=ADMIN,
        name="Charte au ratio",
        calibration_method="ratio",
        euros_per_hour=Decimal(2000),
    )
    here, acheteur, camille = _world(session, charter_id=charter.id)
    m = marche(session, buyer_id=acheteur.id, territory_id=here.id)
    clause = calibration.calibrate_hours(session=session, actor=camille, marche_id=m.id)
    assert (clause.method, clause.euros_per_hour, clause.hours_target) == ("ratio", 2000, 500)
    assert clause.labour_share is None


def test_framework_contracts_calibrate_on_their_maximum_amount(session):
    here, acheteur, camille = _world(session)
    m = marche(
        session,
        buyer_id=acheteur.id,
        territory_id=here.id,
        is_framework=True,
        estimated_amount_ht="400000",
        max_amount_ht="800000",
    )
    on_max = calibration.calibrate_hours(session=session, actor=camille, marche_id=m.id)
    assert (on_max.amount_basis, on_max.hours_target) == ("maximum", 667)  # 666.67
    on_estimate = calibration.calibrate_hours(
        session=session, actor=camille, marche_id=m.id, basis="estime"
    )
    assert on_estimate.hours_target == 333
    with pytest.raises(FormInvalid):
        calibration.calibrate_hours(session=session, actor=camille, marche_id=m.id, basis="notifie")


def test_each_lot_calibrates_on_its_own_trade_and_the_marche_adds_them_up(session):
    here, acheteur, camille = _world(session)
    m = marche(
        session,
        buyer_id=acheteur.id,
        territory_id=here.id,
        lots=[
            {"title": "Peinture", "cpv_code": "45442100", "estimated_amount_ht": "300000"},
            {"title": "Voirie", "cpv_code": "45233140-3", "estimated_amount_ht": "600000"},
        ],
    )
    painting, roads = m.lots
    first = calibration.calibrate_hours(
        session=session, actor=camille, marche_id=m.id, lot_id=painting.id
    )
    second = calibration.calibrate_hours(
        session=session, actor=camille, marche_id=m.id, lot_id=roads.id
    )
    assert (first.hours_target, second.hours_target) == (350, 250)  # 70 % and 25 % of labour
    assert calibration.target_hours(m) == 600


def test_an_override_needs_a_justification_and_keeps_its_history(session):
    here, acheteur, camille = _world(session)
    m = marche(session, buyer_id=acheteur.id, territory_id=here.id)
    clause = calibration.calibrate_hours(session=session, actor=camille, marche_id=m.id)
    with pytest.raises(FormInvalid) as refused:
        calibration.override_hours(
            session=session, actor=camille, clause_id=clause.id, hours=700, justification=" "
        )
    assert "justification" in refused.value.errors
    override = calibration.override_hours(
        session=session,
        actor=camille,
        clause_id=clause.id,
        hours=700,
        justification="Lot très technique, public disponible limité",
    )
    assert (override.author, override.previous_value, override.value) == ("camille", 833, 700)
    assert override.at is not None and clause.hours_target == 700
    calibration.validate_calibration(
        session=session, actor=buyer_actor(acheteur), clause_id=clause.id, validated=True
    )
    assert clause.validated_by == f"achats-{acheteur.id}"
    marches.update(session=session, actor=camille, marche_id=m.id, estimated_amount_ht="1200000")
    again = calibration.calibrate_hours(session=session, actor=camille, marche_id=m.id)
    assert again.hours_target == 1000 and again.validated_at is None
    assert [o.value for o in again.overrides] == [700]


def test_only_the_marches_facilitators_calibrate(session):
    here, acheteur, _ = _world(session)
    elsewhere = territory(session, code="AUTRE", name="Autre territoire")
    m = marche(session, buyer_id=acheteur.id, territory_id=here.id)
    for actor in (buyer_actor(acheteur), facilitator(elsewhere, login="lea")):
        with pytest.raises(Forbidden):
            calibration.calibrate_hours(session=session, actor=actor, marche_id=m.id)
