"""Disposition advice (DMN table disposition_conseillee) and the buyer's recorded choice."""

from __future__ import annotations

import pytest

from tests.workflows.factories import ADMIN, buyer, buyer_actor, deploy_tables, marche, territory
from workflows.engine.errors import FormInvalid
from workflows.marches import advice
from workflows.marches.models import LEGACY_ARTICLES
from workflows.referentiel import service as referentiel

CASES = [
    # nature, CPV, amount HT, months, local structures → disposition, reservation, article
    ("services", "85311000", 500_000, 12, 0, "marche_reserve", "ess", "L2113-15"),
    ("services", "92500000", 150_000, 24, 0, "marche_reserve", "ess", "L2113-15"),
    ("fournitures", "18100000", 100_000, 12, 1, "marche_reserve", "ea_esat", "L2113-12"),
    ("fournitures", "18100000", 100_000, 12, 0, "aucune", None, None),
    ("services", "77310000", 200_000, 24, 2, "marche_reserve", "siae", "L2113-13"),
    ("services", "77310000", 200_000, 24, 1, "clause_insertion", None, "L2112-2"),
    ("services", "90910000", 640_000, 36, 5, "clause_insertion", None, "L2112-2"),
    ("travaux", "45214200", 50_000, 6, 0, "aucune", None, None),
    ("travaux", "45214200", 500_000, 2, 0, "aucune", None, None),
    ("travaux", "45214200", 1_000_000, 12, 0, "clause_et_critere", None, "L2112-2 ; R2152-7"),
    ("travaux", "45442100", 400_000, 8, 3, "clause_insertion", None, "L2112-2"),
    ("fournitures", "30190000", 500_000, 12, 0, "aucune", None, None),
]


@pytest.mark.parametrize(
    ("nature", "cpv", "amount", "months", "local", "disposition", "reservation", "article"), CASES
)
def test_advice_table_cases(
    sqlite_session, nature, cpv, amount, months, local, disposition, reservation, article
):
    deploy_tables(sqlite_session)
    found = advice.evaluate(
        session=sqlite_session,
        nature=nature,
        amount_ht=amount,
        duration_months=months,
        cpv_code=cpv,
        local_structures=local,
    )
    assert (found.disposition, found.reservation, found.article) == (
        disposition,
        reservation,
        article,
    )
    assert len(found.reason) > 40 and found.reason[0].isupper()  # a sentence, in French
    assert advice.legal_article(disposition, reservation) == article


def test_advice_counts_the_structures_of_the_marches_territories(session):
    deploy_tables(session)
    here = territory(session)
    for kind in ("ACI", "EI"):
        referentiel.create_structure(
            session=session, actor=ADMIN, kind=kind, name=f"{kind} du Val", territory_id=here.id
        )
    m = marche(
        session,
        buyer_id=buyer(session).id,
        territory_id=here.id,
        nature="services",
        cpv_code="77310000",
        estimated_amount_ht="180000",
        duration_months=24,
    )
    found = advice.advise_disposition(session=session, actor=ADMIN, marche_id=m.id)
    assert (found.disposition, found.reservation) == ("marche_reserve", "siae")
    assert (m.local_structures, m.advice_article) == (2, "L2113-13")
    assert "SIAE" in m.advice_reason


def test_a_choice_against_the_advice_must_be_justified(session):
    deploy_tables(session)
    here, acheteur = territory(session), buyer(session)
    m = marche(session, buyer_id=acheteur.id, territory_id=here.id)
    advice.advise_disposition(session=session, actor=ADMIN, marche_id=m.id)
    assert m.advice_disposition == "clause_et_critere"
    me = buyer_actor(acheteur)
    with pytest.raises(FormInvalid) as refused:
        advice.record_choice(
            session=session, actor=me, marche_id=m.id, disposition="clause_insertion"
        )
    assert "justification_disposition" in refused.value.errors
    assert m.disposition is None
    advice.record_choice(
        session=session,
        actor=me,
        marche_id=m.id,
        disposition="clause_insertion",
        justification="Critère écarté : lots très techniques",
    )
    assert (m.disposition, m.disposition_article, m.against_advice) == (
        "clause_insertion",
        "L2112-2",
        True,
    )
    assert m.clauses[0].disposition == "clause_insertion"


def test_following_the_advice_needs_no_justification_and_aucune_drops_the_clause(session):
    deploy_tables(session)
    here, acheteur = territory(session), buyer(session)
    m = marche(session, buyer_id=acheteur.id, territory_id=here.id)
    advice.advise_disposition(session=session, actor=ADMIN, marche_id=m.id)
    advice.record_choice(
        session=session, actor=ADMIN, marche_id=m.id, disposition="clause_et_critere"
    )
    assert (m.against_advice, m.disposition_article) == (False, "L2112-2 ; R2152-7")
    with pytest.raises(FormInvalid) as refused:
        advice.record_choice(
            session=session, actor=ADMIN, marche_id=m.id, disposition="marche_reserve"
        )
    assert "type_reservation" in refused.value.errors
    advice.record_choice(
        session=session, actor=ADMIN, marche_id=m.id, disposition="aucune", justification="x"
    )
    assert m.clauses == [] and m.disposition == "aucune"


def test_legacy_articles_map_to_the_2019_code():
    assert LEGACY_ARTICLES["CMP 2006 art. 14"] == "L2112-2"
    assert LEGACY_ARTICLES["Ordonnance 2015 art. 36-2"] == "L2113-13"
    assert LEGACY_ARTICLES["CMP 2006 art. 53"] == "R2152-7"
