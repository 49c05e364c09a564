"""Personal data of beneficiaries: who may see a record, the access log, export, erasure, retention.

A beneficiary record is visible to admins and to the facilitators and coordinators of the territory
that follows the person and of every territory of the marchés the person worked on; never to
buyers. Every read is logged. Erasure (on request) and retention anonymise the record in place
— name, birth year, postcode, validators and prescribers go; sex, age band, territory, criteria
kinds, hours and outcomes stay — so the bilans and indicators keep adding up; a person with no
hours and no outcome is deleted outright.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, false, func, or_, select, true
from sqlalchemy.orm import Session

from workflows.access import SYSTEM, Actor, require
from workflows.beneficiaires.models import CRITERIA, Beneficiary
from workflows.engine import timers
from workflows.engine.errors import NotFound
from workflows.execution.models import HoursRecord, Outcome
from workflows.marches import service as marches
from workflows.marches.models import Marche, MarcheTerritory
from workflows.referentiel.models import Holder, Territory
from workflows.values import add_months, end_of_month, invalid, jsonable

from .models import BeneficiaryAccess

REFUSED = "Fiche réservée aux facilitateurs des territoires concernés."


def _marche_ids(beneficiary_id: int):
    return (
        select(HoursRecord.marche_id)
        .where(HoursRecord.beneficiary_id == beneficiary_id)
        .union(select(Outcome.marche_id).where(Outcome.beneficiary_id == beneficiary_id))
    )


def territories_of(*, session: Session, beneficiary: Beneficiary) -> set[int]:
    """The person's territory and those (lead and attached) of the marchés they worked on."""
    ids = _marche_ids(beneficiary.id).subquery()
    lead = session.scalars(select(Marche.territory_id).where(Marche.id.in_(select(ids))))
    attached = session.scalars(
        select(MarcheTerritory.territory_id).where(MarcheTerritory.marche_id.in_(select(ids)))
    )
    return {beneficiary.territory_id, *lead, *attached}


def can_see(*, session: Session, actor: Actor, beneficiary: Beneficiary) -> bool:
    """Admins, and facilitators or coordinators of one of the person's territories."""
    if actor.is_admin:
        return True
    if not actor.facilitates:
        return False
    return actor.covers(territories_of(session=session, beneficiary=beneficiary))


def visible(actor: Actor) -> ColumnElement[bool]:
    """SQL condition on Beneficiary: the records this actor may list."""
    if actor.is_admin:
        return true()
    if not (actor.facilitates and actor.territory_ids):
        return false()
    on_marches = select(HoursRecord.beneficiary_id).join(Marche).where(marches.visible(actor))
    with_outcomes = select(Outcome.beneficiary_id).join(Marche).where(marches.visible(actor))
    return or_(
        Beneficiary.territory_id.in_(sorted(actor.territory_ids)),
        Beneficiary.id.in_(on_marches),
        Beneficiary.id.in_(with_outcomes),
    )


def log(*, session: Session, actor: Actor, beneficiary_id: int, action: str) -> None:
    """Append one line to the access log."""
    session.add(
        BeneficiaryAccess(
            beneficiary_id=beneficiary_id,
            login=actor.login,
            role=actor.role,
            action=action,
            at=timers.now(),
        )
    )


def read(
    *, session: Session, actor: Actor, beneficiary_id: int, action: str = "lecture"
) -> Beneficiary:
    """The record, if the actor may see it; the access is logged."""
    beneficiary = session.get(Beneficiary, beneficiary_id)
    if beneficiary is None:
        raise NotFound(f"bénéficiaire {beneficiary_id} introuvable")
    require(can_see(session=session, actor=actor, beneficiary=beneficiary), REFUSED)
    log(session=session, actor=actor, beneficiary_id=beneficiary.id, action=action)
    session.flush()
    return beneficiary


def get_access_log(
    *, session: Session, actor: Actor, beneficiary_id: int
) -> list[BeneficiaryAccess]:
    """Who accessed the record, oldest first (reading the log is itself logged)."""
    read(session=session, actor=actor, beneficiary_id=beneficiary_id)
    return list(
        session.scalars(
            select(BeneficiaryAccess)
            .where(BeneficiaryAccess.beneficiary_id == beneficiary_id)
            .order_by(BeneficiaryAccess.id)
        )
    )


def export_person(*, session: Session, actor: Actor, beneficiary_id: int) -> dict[str, Any]:
    """Everything held about one person (right of access, RGPD art. 15), as JSON-ready data."""
    person = read(session=session, actor=actor, beneficiary_id=beneficiary_id, action="export")
    return jsonable(
        {
            "personne": _identity(session, person),
            "criteres_eligibilite": [
                {
                    "critere": c.kind,
                    "libelle": CRITERIA.get(c.kind, c.kind),
                    "valide_le": c.validated_on,
                    "validateur": c.validator,
                    "prescripteur": c.prescriber,
                }
                for c in person.criteria
            ],
            "heures": _hours_of(session, person.id),
            "sorties": _outcomes_of(session, person.id),
            "acces": [
                {"le": a.at, "par": a.login, "role": a.role, "action": a.action}
                for a in session.scalars(
                    select(BeneficiaryAccess)
                    .where(BeneficiaryAccess.beneficiary_id == person.id)
                    .order_by(BeneficiaryAccess.id)
                )
            ],
            "genere_le": timers.now(),
        }
    )


def _identity(session: Session, person: Beneficiary) -> dict[str, Any]:
    territory = session.get(Territory, person.territory_id)
    return {
        "pseudonyme": person.pseudonym,
        "prenom": person.first_name,
        "nom": person.last_name,
        "annee_naissance": person.birth_year,
        "tranche_age": person.age_band,
        "sexe": person.sex,
        "code_postal": person.postcode,
        "territoire": territory.name if territory else None,
        "enregistre_le": person.created_at,
        "enregistre_par": person.created_by,
        "efface_le": person.erased_at,
    }


def _hours_of(session: Session, beneficiary_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(HoursRecord, Marche.reference, Holder.name)
        .join(Marche, Marche.id == HoursRecord.marche_id)
        .join(Holder, Holder.id == HoursRecord.holder_id)
        .where(HoursRecord.beneficiary_id == beneficiary_id)
        .order_by(HoursRecord.month, HoursRecord.id)
    )
    return [
        {
            "marche": reference,
            "titulaire": holder,
            "mois": r.month,
            "heures": r.hours,
            "heures_formation": r.training_hours,
            "voie": r.route,
            "type_contrat": r.contract_type,
            "debut_contrat": r.contract_start,
            "methode_decompte": r.counting_method,
            "comptees": r.counted,
            "signalement": r.flag,
        }
        for r, reference, holder in rows
    ]


def _outcomes_of(session: Session, beneficiary_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Outcome, Marche.reference)
        .join(Marche, Marche.id == Outcome.marche_id)
        .where(Outcome.beneficiary_id == beneficiary_id)
        .order_by(Outcome.contract_end)
    )
    return [
        {
            "marche": reference,
            "debut_contrat": o.contract_start,
            "fin_contrat": o.contract_end,
            "sortie": o.kind,
        }
        for o, reference in rows
    ]


def anonymise(beneficiary: Beneficiary) -> None:
    """Strip what identifies the person; keep what the aggregates need."""
    beneficiary.first_name = beneficiary.last_name = None
    beneficiary.birth_year = None
    beneficiary.postcode = None
    # A fresh pseudonym breaks the link with exports made before the erasure.
    beneficiary.pseudonym = "ANON-" + secrets.token_hex(6).upper()
    for criterion in beneficiary.criteria:
        criterion.validator = criterion.prescriber = None
    beneficiary.erased_at = timers.now()


def erase_person(*, session: Session, actor: Actor, beneficiary_id: int) -> Beneficiary:
    """Erase a person on request (RGPD art. 17): anonymised in place, aggregates kept."""
    beneficiary = read(
        session=session, actor=actor, beneficiary_id=beneficiary_id, action="effacement"
    )
    if beneficiary.erased_at is None:
        anonymise(beneficiary)
    session.flush()
    return beneficiary


@dataclass
class RetentionReport:
    anonymised: list[int] = field(default_factory=list)
    deleted: list[int] = field(default_factory=list)


def last_activity(*, session: Session) -> dict[int, tuple[date, bool]]:
    """For each beneficiary not yet erased: (end of the last contract activity, has records)."""
    hours = (
        select(HoursRecord.beneficiary_id, func.max(HoursRecord.month).label("last"))
        .group_by(HoursRecord.beneficiary_id)
        .subquery()
    )
    outcomes = (
        select(Outcome.beneficiary_id, func.max(Outcome.contract_end).label("last"))
        .group_by(Outcome.beneficiary_id)
        .subquery()
    )
    rows = session.execute(
        select(Beneficiary.id, Beneficiary.created_at, hours.c.last, outcomes.c.last)
        .outerjoin(hours, hours.c.beneficiary_id == Beneficiary.id)
        .outerjoin(outcomes, outcomes.c.beneficiary_id == Beneficiary.id)
        .where(Beneficiary.erased_at.is_(None))
    )
    result = {}
    for beneficiary_id, created_at, last_month, last_end in rows:
        dates = [end_of_month(last_month)] if last_month else []
        dates += [last_end] if last_end else []
        # Without any contract yet, the registration date starts the clock.
        result[beneficiary_id] = (max(dates or [created_at.date()]), bool(dates))
    return result


def apply_retention(
    *, session: Session, months: int, today: date | None = None, actor: Actor = SYSTEM
) -> RetentionReport:
    """Anonymise (or delete, when nothing depends on them) people inactive for `months` months."""
    require(actor.is_admin, "Réservé aux administrateurs.")
    if months < 1:
        raise invalid("months", "la durée de conservation doit être d'au moins un mois")
    cutoff = add_months(today or timers.now().date(), -months)
    report = RetentionReport()
    for beneficiary_id, (last, has_records) in sorted(last_activity(session=session).items()):
        if last >= cutoff:
            continue
        beneficiary = session.get(Beneficiary, beneficiary_id)
        if has_records:
            anonymise(beneficiary)
            log(session=session, actor=actor, beneficiary_id=beneficiary_id, action="effacement")
            report.anonymised.append(beneficiary_id)
        else:
            session.delete(beneficiary)
            report.deleted.append(beneficiary_id)
    session.flush()
    return report
