"""Meetings and territory objectives per period."""

from __future__ import annotations

from datetime import date

import pytest

from tests.workflows.factories import ADMIN, buyer, facilitator, marche, territory
from workflows.access import Forbidden
from workflows.engine.errors import FormInvalid
from workflows.gouvernance import service as gouvernance


def test_meetings_belong_to_a_marche_or_a_territory_the_actor_follows(session):
    here, elsewhere = territory(session), territory(session, code="E", name="Est")
    m = marche(session, buyer_id=buyer(session).id, territory_id=here.id)
    camille = facilitator(here)
    gouvernance.create_meeting(
        session=session, actor=camille, kind="visite", held_on="2026-04-02", marche_id=m.id
    )
    gouvernance.create_meeting(
        session=session,
        actor=camille,
        kind="comite_technique",
        held_on=date(2026, 6, 15),
        territory_id=here.id,
        theme="acheteurs",
        title="Comité technique acheteurs (semestriel)",
    )
    assert [
        x.kind for x in gouvernance.get_all_meetings(session=session, actor=camille, marche_id=m.id)
    ] == ["visite"]
    assert [
        x.theme
        for x in gouvernance.get_all_meetings(session=session, actor=camille, territory_id=here.id)
    ] == ["acheteurs"]
    with pytest.raises(Forbidden):
        gouvernance.create_meeting(
            session=session,
            actor=camille,
            kind="comite_suivi",
            held_on="2026-06-01",
            territory_id=elsewhere.id,
        )
    with pytest.raises(FormInvalid):
        gouvernance.create_meeting(
            session=session, actor=camille, kind="apero", held_on="2026-06-01", marche_id=m.id
        )


def test_objectives_per_period_are_set_once_and_changed_in_place(session):
    essonne = territory(session, code="91", name="Essonne")
    for target in (1_800_000, 2_000_000):
        gouvernance.set_objective(
            session=session,
            actor=ADMIN,
            territory_id=essonne.id,
            indicator="heures",
            period_start="2018-01-01",
            period_end="2020-12-31",
            target=target,
        )
    gouvernance.set_objective(
        session=session,
        actor=ADMIN,
        territory_id=essonne.id,
        indicator="beneficiaires",
        period_start="2018-01-01",
        period_end="2020-12-31",
        target=3500,
    )
    found = gouvernance.get_objectives(
        session=session, territory_id=essonne.id, on=date(2019, 6, 1)
    )
    assert [(o.indicator, o.target) for o in found] == [
        ("beneficiaires", 3500),
        ("heures", 2_000_000),
    ]
    assert (
        gouvernance.get_objectives(session=session, territory_id=essonne.id, on=date(2021, 1, 1))
        == []
    )
    with pytest.raises(Forbidden):
        gouvernance.set_objective(
            session=session,
            actor=facilitator(essonne),
            territory_id=essonne.id,
            indicator="heures",
            period_start="2021-01-01",
            period_end="2021-12-31",
            target=1,
        )
