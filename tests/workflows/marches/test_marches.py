"""Marchés: registration starts the lifecycle; buyers and facilitators see only their own."""

from __future__ import annotations

from datetime import date

import pytest

from tests.workflows.factories import (
    ADMIN,
    SIRETS,
    buyer,
    buyer_actor,
    deploy_all,
    facilitator,
    marche,
    territory,
)
from workflows.access import Forbidden
from workflows.engine import runtime
from workflows.engine.errors import FormInvalid
from workflows.engine.models import HumanTask, Instance
from workflows.marches import service as marches


def test_registering_a_marche_starts_its_lifecycle_pre_filled(session):
    deploy_all(session)
    here, acheteur = territory(session, hourly_cost=25), buyer(session)
    m = marche(
        session,
        actor=buyer_actor(acheteur),
        buyer_id=acheteur.id,
        territory_id=here.id,
        start_process=True,
        place_of_execution="Créteil (94)",
        lots=[{"title": "Gros œuvre"}, {"title": "Peinture"}],
    )
    instance = session.get(Instance, m.instance_id)
    assert (instance.business_key, instance.status) == ("M-2027-001", "running")
    assert instance.started_by == f"achats-{acheteur.id}"
    task = session.query(HumanTask).filter_by(instance_id=instance.id).one()
    assert task.element_id == "analyse_amont"
    data = runtime.variables(session=session, instance_id=instance.id)
    assert data["objet"] == "Réhabilitation du groupe scolaire Jean-Jaurès"
    assert (data["montant_estime_ht"], data["duree_mois"], data["code_cpv"]) == (
        1_000_000,
        12,
        "45262500",
    )
    assert (data["cout_horaire"], data["taux_insertion"]) == (25, 0.05)
    assert data["lots"] == "Gros œuvre ; Peinture"
    assert marches.get_by_instance(session=session, instance_id=instance.id) is m


def test_buyers_and_facilitators_see_their_own_marches(session):
    north, south, east = (territory(session, code=c, name=c) for c in ("N", "S", "E"))
    mine, theirs = buyer(session, "Ville de Créteil"), buyer(session, "GPSEA")
    spanning = marche(
        session,
        buyer_id=mine.id,
        territory_id=north.id,
        attached_territories={south.id: None},
    )
    other = marche(session, buyer_id=theirs.id, territory_id=east.id, reference="M-2")
    assert marches.get_all(session=session, actor=buyer_actor(mine)) == [spanning]
    with pytest.raises(Forbidden):
        marches.get(session=session, actor=buyer_actor(mine), marche_id=other.id)
    assert marches.get_all(session=session, actor=facilitator(south)) == [spanning]
    assert marches.get_all(session=session, actor=facilitator(east)) == [other]
    with pytest.raises(Forbidden):
        marches.get(session=session, actor=facilitator(east), marche_id=spanning.id)
    assert len(marches.get_all(session=session, actor=ADMIN)) == 2
    assert spanning.territory_ids == {north.id, south.id}


def test_a_marche_spanning_territories_gets_their_facilitators_attached(session):
    north, south = territory(session, code="N", name="Nord"), territory(session, code="S", name="S")
    m = marche(session, buyer_id=buyer(session).id, territory_id=north.id)
    lead = facilitator(north)
    marches.attach_territory(session=session, actor=lead, marche_id=m.id, territory_id=south.id)
    assert [a.territory_id for a in m.attached] == [south.id]
    assert marches.get(session=session, actor=facilitator(south, login="lea"), marche_id=m.id)
    with pytest.raises(FormInvalid):
        marches.attach_territory(session=session, actor=lead, marche_id=m.id, territory_id=north.id)


def test_registration_checks_who_and_what(session):
    here, mine, theirs = territory(session), buyer(session), buyer(session, "Autre acheteur")
    with pytest.raises(Forbidden):
        marche(session, actor=buyer_actor(mine), buyer_id=theirs.id, territory_id=here.id)
    marche(session, buyer_id=mine.id, territory_id=here.id)
    with pytest.raises(FormInvalid) as duplicate:
        marche(session, buyer_id=mine.id, territory_id=here.id)
    assert "reference" in duplicate.value.errors
    with pytest.raises(FormInvalid) as refused:
        marche(
            session,
            buyer_id=mine.id,
            territory_id=here.id,
            reference="M-3",
            nature="prestations",
            cpv_code="4521",
            estimated_amount_ht="-5",
            duration_months=0,
        )
    assert set(refused.value.errors) == {
        "nature",
        "cpv_code",
        "estimated_amount_ht",
        "duration_months",
    }
    with pytest.raises(FormInvalid) as incomplete:
        marches.create_marche(
            session=session, actor=ADMIN, reference="M-4", buyer_id=mine.id, territory_id=here.id
        )
    assert set(incomplete.value.errors) == set(marches.REQUIRED)


def test_holders_are_read_from_the_notification_text():
    text = f"BTP Val-de-Marne (SIRET {SIRETS[0]}) ; Propreté 94 – 421 345 678 00021\nSans SIRET"
    assert marches.parse_holders(text) == [
        (SIRETS[0], "BTP Val-de-Marne"),
        (SIRETS[1], "Propreté 94"),
    ]


def test_notification_sets_the_execution_period_and_the_holders(session):
    here = territory(session)
    m = marche(session, buyer_id=buyer(session).id, territory_id=here.id, duration_months=1)
    marches.record_notification(
        session=session,
        actor=ADMIN,
        marche_id=m.id,
        notification_date="31/01/2027",
        final_amount_ht="980 000,50",
        holders=[(SIRETS[0], "BTP Val-de-Marne")],
    )
    assert (m.notification_date, m.start_date, m.planned_end_date) == (
        date(2027, 1, 31),
        date(2027, 1, 31),
        date(2027, 2, 28),
    )
    assert str(m.final_amount_ht) == "980000.50"
    [(holder, lot)] = marches.get_holders(session=session, marche_id=m.id)
    assert (holder.siret, holder.name, lot) == (SIRETS[0], "BTP Val-de-Marne", None)
    with pytest.raises(FormInvalid) as refused:
        marches.add_holder(session=session, actor=ADMIN, marche_id=m.id, siret="123", name="X")
    assert "siret" in refused.value.errors


def test_moving_a_marche_to_another_buyer_and_territory_moves_who_sees_its_tasks(session):
    from server.api import scope

    deploy_all(session)
    here, there = territory(session), territory(session, code="EST", name="Est")
    first, second = buyer(session), buyer(session, name="Ville de Maisons-Alfort")
    m = marche(session, buyer_id=first.id, territory_id=here.id, start_process=True)

    def seen(actor) -> set[int]:
        return {t.instance_id for t in session.scalars(scope.tasks(session, actor, "open"))}

    assert seen(buyer_actor(first)) == seen(facilitator(here)) == {m.instance_id}
    assert seen(buyer_actor(second)) == seen(facilitator(there)) == set()
    marches.update(
        session=session, actor=ADMIN, marche_id=m.id, buyer_id=second.id, territory_id=there.id
    )
    assert seen(buyer_actor(first)) == seen(facilitator(here)) == set()
    assert seen(buyer_actor(second)) == seen(facilitator(there)) == {m.instance_id}
    instance = session.get(Instance, m.instance_id)
    assert (instance.buyer_id, instance.territory_id) == (second.id, there.id)
    # a territory the marché spans without leading it sees it through the attachment
    m2 = marche(
        session,
        buyer_id=first.id,
        territory_id=here.id,
        reference="M-2",
        start_process=True,
        attached_territories={there.id: None},
    )
    assert m2.instance_id in seen(facilitator(there)) and m2.instance_id in seen(facilitator(here))
    assert m2.instance_id not in seen(buyer_actor(second))
