"""Reference data: SIRET checks, calibration parameters by territory, accounts, local supply."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.workflows.factories import ADMIN, SIRETS, territory
from workflows.access import Actor, Forbidden
from workflows.engine.errors import FormInvalid
from workflows.referentiel import service as referentiel


def test_siret_needs_fourteen_digits_and_a_valid_key():
    assert referentiel.siret_valid(SIRETS[0])
    assert not referentiel.siret_valid("51234567800018")  # key off by one
    assert not referentiel.siret_valid("5123456780001")
    assert referentiel.siret_valid("35600000012346")  # La Poste: digit sum multiple of 5
    assert referentiel.clean_siret("512 345 678 00019") == SIRETS[0]
    with pytest.raises(FormInvalid) as refused:
        referentiel.clean_siret("123", field="titulaires")
    assert "titulaires" in refused.value.errors


def test_parameters_come_from_the_territory_then_its_charter_then_the_defaults(session):
    assert referentiel.parameters(session=session, territory_id=None) == referentiel.DEFAULTS
    charter = referentiel.create_charter(
        session=session,
        actor=ADMIN,
        name="Charte Inclusiv'Essonne 2018-2020",
        insertion_rate=Decimal("0.07"),
        hourly_cost=Decimal("28"),
    )
    essonne = territory(session, code="91-NO", name="Nord-Ouest Essonne", charter_id=charter.id)
    local = territory(
        session, code="91-SUD", name="Sud Essonne", charter_id=charter.id, hourly_cost=25
    )
    assert referentiel.parameters(session=session, territory_id=essonne.id).insertion_rate == (
        Decimal("0.07")
    )
    own = referentiel.parameters(session=session, territory_id=local.id)
    assert (own.insertion_rate, own.hourly_cost, own.late_margin) == (
        Decimal("0.07"),
        Decimal("25"),
        Decimal("0.10"),
    )


def test_actor_for_a_facilitator_and_a_coordinator(session):
    north, south = (
        territory(session, code="N", name="Nord"),
        territory(session, code="S", name="Sud"),
    )
    referentiel.create_facilitator(
        session=session, actor=ADMIN, login="lea", full_name="Léa Petit", territory_ids=[north.id]
    )
    boss = referentiel.create_facilitator(
        session=session, actor=ADMIN, login="coord", full_name="Paul Roux"
    )
    south.coordinator_id = boss.id
    session.flush()
    lea = referentiel.actor_for(session=session, login="lea")
    assert (lea.role, lea.territory_ids) == ("facilitateur", frozenset({north.id}))
    coordinator = referentiel.actor_for(session=session, login="coord")
    assert (coordinator.role, coordinator.territory_ids) == ("coordinateur", frozenset({south.id}))


def test_local_supply_counts_structures_of_the_territories(session):
    here, elsewhere = territory(session, code="A", name="A"), territory(session, code="B", name="B")
    for kind, where in (("ACI", here), ("ETTI", here), ("ESAT", elsewhere)):
        referentiel.create_structure(
            session=session, actor=ADMIN, kind=kind, name=f"{kind} test", territory_id=where.id
        )
    assert referentiel.count_structures(session=session, territory_ids=[here.id]) == 2
    assert referentiel.count_structures(session=session, territory_ids=[here.id, elsewhere.id]) == 3
    assert (
        referentiel.count_structures(session=session, territory_ids=[here.id], kinds=["EA", "ESAT"])
        == 0
    )
    with pytest.raises(FormInvalid):
        referentiel.create_structure(session=session, actor=ADMIN, kind="SCOP", name="x")


def test_reference_data_is_kept_by_admins_and_coordinators(session):
    with pytest.raises(Forbidden):
        referentiel.create_organisation(
            session=session,
            actor=Actor(login="camille", role="facilitateur"),
            kind="acheteur",
            name="Ville de Créteil",
        )
    holder = referentiel.get_or_create_holder(session=session, siret=SIRETS[1], name="Propreté 94")
    again = referentiel.get_or_create_holder(session=session, siret=SIRETS[1], name="Autre nom")
    assert again.id == holder.id and again.name == "Propreté 94"
