"""Beneficiaries' personal data: who sees a record, the access log, erasure, retention, export."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from tests.workflows.factories import (
    ADMIN,
    buyer,
    buyer_actor,
    facilitator,
    marche,
    notified,
    person,
    territory,
    with_target,
)
from workflows.access import Actor, Forbidden
from workflows.beneficiaires import service as beneficiaires
from workflows.beneficiaires.models import Beneficiary, EligibilityCriterion
from workflows.engine.errors import FormInvalid
from workflows.execution import progress as tracking
from workflows.execution import service as execution
from workflows.marches import service as marches
from workflows.rgpd import service as rgpd
from workflows.rgpd.models import BeneficiaryAccess


def world(session):
    """A marché led by one territory and spanning a second, a third territory elsewhere."""
    lead, attached, elsewhere = (
        territory(session, code=c, name=n) for c, n in (("N", "Nord"), ("S", "Sud"), ("E", "Est"))
    )
    acheteur = buyer(session)
    m = notified(
        session,
        marche(
            session,
            buyer_id=acheteur.id,
            territory_id=lead.id,
            attached_territories={attached.id: None},
        ),
    )
    with_target(session, m, 500)
    return lead, attached, elsewhere, acheteur, m


def work(session, actor, m, who, month=date(2026, 3, 1), hours=70):
    (holder, _), *_ = marches.get_holders(session=session, marche_id=m.id)
    return execution.record_hours(
        session=session,
        actor=actor,
        marche_id=m.id,
        holder_id=holder.id,
        beneficiary_id=who.id,
        month=month,
        hours=hours,
        route="embauche_directe",
        contract_type="cdd",
        contract_start=date(2026, 3, 2),
    )


def accesses(session, beneficiary_id):
    return session.execute(
        select(BeneficiaryAccess.login, BeneficiaryAccess.action)
        .where(BeneficiaryAccess.beneficiary_id == beneficiary_id)
        .order_by(BeneficiaryAccess.id)
    ).all()


def test_records_are_for_the_facilitators_of_the_marches_territories(session):
    lead, attached, elsewhere, acheteur, m = world(session)
    registrar = facilitator(elsewhere, login="registrar")
    karim = person(session, registrar, elsewhere.id)  # registered by another territory
    partner = facilitator(attached, login="partner")
    with pytest.raises(Forbidden):
        beneficiaires.get(session=session, actor=partner, beneficiary_id=karim.id)
    work(session, facilitator(lead), m, karim)  # he works on the marché: its territories see him
    assert beneficiaires.get(session=session, actor=partner, beneficiary_id=karim.id) is karim
    coordinator = Actor(login="coord", role="coordinateur", territory_ids=frozenset({lead.id}))
    assert beneficiaires.get(session=session, actor=coordinator, beneficiary_id=karim.id)
    for outsider in (
        buyer_actor(acheteur),  # never buyers, even of the marché
        Actor(login="other", role="facilitateur", territory_ids=frozenset({999})),
        Actor(login="acheteur-admin", role="acheteur"),
    ):
        with pytest.raises(Forbidden):
            beneficiaires.get(session=session, actor=outsider, beneficiary_id=karim.id)
    assert beneficiaires.get_all(session=session, actor=partner) == [karim]
    assert beneficiaires.get_all(session=session, actor=buyer_actor(acheteur)) == []
    assert beneficiaires.get_all(session=session, actor=ADMIN, marche_id=m.id) == [karim]


def test_every_read_is_logged(session):
    lead, *_ = world(session)
    camille = facilitator(lead)
    julie = person(session, camille, lead.id, first_name="Julie", sex="F")
    beneficiaires.get(session=session, actor=camille, beneficiary_id=julie.id)
    beneficiaires.get_all(session=session, actor=ADMIN)
    rgpd.export_person(session=session, actor=camille, beneficiary_id=julie.id)
    assert accesses(session, julie.id) == [
        ("camille", "creation"),
        ("camille", "modification"),  # the eligibility criterion
        ("camille", "lecture"),
        ("admin", "liste"),
        ("camille", "export"),
    ]


def test_personal_data_is_minimal_and_checked(session):
    lead, *_ = world(session)
    camille = facilitator(lead)
    young = person(session, camille, lead.id, birth_year=2005, postcode="94000", eligible_on=None)
    assert (young.age_band, young.pseudonym[:2]) == ("moins de 26 ans", "B-")
    assert not hasattr(young, "birth_date")
    for field, value in (("sex", "?"), ("postcode", "Créteil"), ("birth_year", 1850)):
        with pytest.raises(FormInvalid) as refused:
            beneficiaires.update_person(
                session=session, actor=camille, beneficiary_id=young.id, **{field: value}
            )
        assert field in refused.value.errors
    with pytest.raises(FormInvalid):
        beneficiaires.add_criterion(
            session=session,
            actor=camille,
            beneficiary_id=young.id,
            kind="rqth",
            validated_on=date(2099, 1, 1),
        )


def test_erasure_forgets_the_person_and_keeps_the_totals(session):
    lead, _, _, _, m = world(session)
    camille = facilitator(lead)
    karim = person(session, camille, lead.id, postcode="94000")
    work(session, camille, m, karim)
    before = tracking.progress(session=session, actor=camille, marche_id=m.id)
    pseudonym = karim.pseudonym
    rgpd.erase_person(session=session, actor=camille, beneficiary_id=karim.id)
    assert (karim.first_name, karim.last_name, karim.birth_year, karim.postcode) == (
        None,
        None,
        None,
        None,
    )
    assert karim.erased_at is not None and karim.pseudonym != pseudonym
    assert (karim.sex, karim.age_band, karim.territory_id) == ("H", "26 à 49 ans", lead.id)
    assert [(c.kind, c.validator, c.prescriber) for c in karim.criteria] == [("rsa", None, None)]
    after = tracking.progress(session=session, actor=camille, marche_id=m.id)
    assert (after.delivered, after.target) == (before.delivered, before.target) == (70, 500)
    exported = rgpd.export_person(session=session, actor=ADMIN, beneficiary_id=karim.id)
    assert exported["personne"]["nom"] is None and exported["heures"][0]["heures"] == "70.00"
    with pytest.raises(FormInvalid):
        beneficiaires.update_person(
            session=session, actor=camille, beneficiary_id=karim.id, last_name="Benali"
        )


def test_retention_anonymises_or_deletes_people_without_recent_contracts(session):
    lead, _, _, _, m = world(session)
    camille = facilitator(lead)
    old = person(session, camille, lead.id)
    work(session, camille, m, old, month=date(2026, 3, 1))
    recent = person(session, camille, lead.id, first_name="Julie")
    work(session, camille, m, recent, month=date(2026, 10, 1))
    never_hired = person(session, camille, lead.id, first_name="Paul")
    never_hired.created_at = never_hired.created_at.replace(year=2024)
    session.flush()
    with pytest.raises(Forbidden):
        rgpd.apply_retention(session=session, months=6, actor=camille)
    report = rgpd.apply_retention(session=session, months=6, today=date(2026, 11, 15))
    assert (report.anonymised, report.deleted) == ([old.id], [never_hired.id])
    assert old.erased_at is not None and old.last_name is None
    assert recent.last_name == "Benali"
    assert session.get(Beneficiary, never_hired.id) is None
    gone = [EligibilityCriterion.beneficiary_id == never_hired.id]
    assert session.scalar(select(func.count()).select_from(EligibilityCriterion).where(*gone)) == 0
    again = rgpd.apply_retention(session=session, months=6, today=date(2026, 11, 15))
    assert (again.anonymised, again.deleted) == ([], [])


def test_export_holds_everything_about_one_person(session):
    lead, _, _, _, m = world(session)
    camille = facilitator(lead)
    karim = person(session, camille, lead.id, postcode="94000")
    work(session, camille, m, karim)
    execution.record_outcome(
        session=session,
        actor=camille,
        marche_id=m.id,
        beneficiary_id=karim.id,
        contract_start="2026-03-02",
        contract_end="2026-09-30",
        kind="cdd_6_mois_plus",
    )
    data = rgpd.export_person(session=session, actor=camille, beneficiary_id=karim.id)
    assert data["personne"]["nom"] == "Benali" and data["personne"]["code_postal"] == "94000"
    assert data["criteres_eligibilite"][0]["critere"] == "rsa"
    assert data["heures"][0]["marche"] == m.reference
    assert data["heures"][0]["mois"] == "2026-03-01" and data["heures"][0]["comptees"] is True
    assert data["sorties"] == [
        {
            "marche": m.reference,
            "debut_contrat": "2026-03-02",
            "fin_contrat": "2026-09-30",
            "sortie": "cdd_6_mois_plus",
        }
    ]
    assert [a["action"] for a in data["acces"]][-1] == "export"
    with pytest.raises(Forbidden):
        rgpd.export_person(
            session=session, actor=buyer_actor(buyer(session, "X")), beneficiary_id=karim.id
        )
