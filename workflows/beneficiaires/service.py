"""Beneficiaries and eligibility: registration, scoped and logged reads, criteria, counting rule.

Counting rule: hours count towards a clause only when the person's eligibility was validated on
or before the start of the contract the hours belong to (the day of hiring counts); other hours are
kept, flagged with the reason, and counted again automatically once a criterion validated early
enough is recorded.
"""

from __future__ import annotations

import re
import secrets
from datetime import date
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from workflows.access import Actor, require
from workflows.engine import timers
from workflows.execution.models import HoursRecord
from workflows.rgpd import service as rgpd
from workflows.values import invalid, to_date

from .models import AGE_BANDS, CRITERIA, SEXES, Beneficiary, EligibilityCriterion

EDITABLE = ("first_name", "last_name", "birth_year", "sex", "postcode", "territory_id")


def age_band(birth_year: int | None, year: int) -> str | None:
    """The band of the charter's publics: under 26, 26 to 49, 50 and over."""
    if birth_year is None:
        return None
    age = year - birth_year
    return AGE_BANDS[0] if age < 26 else AGE_BANDS[2] if age >= 50 else AGE_BANDS[1]


def _clean(fields: dict[str, Any]) -> dict[str, Any]:
    cleaned = dict(fields)
    for name in ("first_name", "last_name"):
        if name in fields:
            if not (fields[name] or "").strip():
                raise invalid(name, "obligatoire")
            cleaned[name] = fields[name].strip()
    if fields.get("sex") is not None and fields["sex"] not in SEXES:
        raise invalid("sex", "valeurs : " + ", ".join(SEXES))
    if fields.get("postcode") is not None and not re.fullmatch(r"\d{5}", fields["postcode"]):
        raise invalid("postcode", "code postal à 5 chiffres attendu")
    year = fields.get("birth_year")
    if year is not None and not (1900 <= int(year) <= timers.now().year - 14):
        raise invalid("birth_year", "année de naissance invraisemblable")
    return cleaned


def _pseudonym(session: Session) -> str:
    while True:
        candidate = "B-" + secrets.token_hex(4).upper()
        if not session.scalar(select(Beneficiary.id).where(Beneficiary.pseudonym == candidate)):
            return candidate


def create(
    *,
    session: Session,
    actor: Actor,
    territory_id: int,
    first_name: str,
    last_name: str,
    birth_year: int | None = None,
    sex: str | None = None,
    postcode: str | None = None,
) -> Beneficiary:
    """Register a person followed by the actor's territory."""
    require(actor.covers([territory_id]), "Réservé aux facilitateurs de ce territoire.")
    fields = _clean(
        {
            "first_name": first_name,
            "last_name": last_name,
            "birth_year": birth_year,
            "sex": sex,
            "postcode": postcode,
        }
    )
    beneficiary = Beneficiary(
        pseudonym=_pseudonym(session),
        territory_id=territory_id,
        age_band=age_band(birth_year, timers.now().year),
        created_at=timers.now(),
        created_by=actor.login,
        **fields,
    )
    session.add(beneficiary)
    session.flush()
    rgpd.log(session=session, actor=actor, beneficiary_id=beneficiary.id, action="creation")
    session.flush()
    return beneficiary


def get(*, session: Session, actor: Actor, beneficiary_id: int) -> Beneficiary:
    """The record, if the actor may see it; the read is logged."""
    return rgpd.read(session=session, actor=actor, beneficiary_id=beneficiary_id)


def get_all(
    *, session: Session, actor: Actor, marche_id: int | None = None, territory_id: int | None = None
) -> list[Beneficiary]:
    """The records the actor may see (of a marché or territory); each one listed is logged."""
    query = select(Beneficiary).where(rgpd.visible(actor)).order_by(Beneficiary.id)
    if marche_id is not None:
        query = query.where(
            Beneficiary.id.in_(
                select(HoursRecord.beneficiary_id).where(HoursRecord.marche_id == marche_id)
            )
        )
    if territory_id is not None:
        query = query.where(Beneficiary.territory_id == territory_id)
    found = list(session.scalars(query))
    for beneficiary in found:
        rgpd.log(session=session, actor=actor, beneficiary_id=beneficiary.id, action="liste")
    session.flush()
    return found


def update_person(
    *, session: Session, actor: Actor, beneficiary_id: int, **fields: Any
) -> Beneficiary:
    """Correct a record (RGPD right of rectification); erased records stay erased."""
    beneficiary = rgpd.read(
        session=session, actor=actor, beneficiary_id=beneficiary_id, action="modification"
    )
    if beneficiary.erased_at is not None:
        raise invalid("beneficiary_id", "cette personne a été effacée")
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise invalid(sorted(unknown)[0], "champ inconnu ou non modifiable")
    for name, value in _clean(fields).items():
        setattr(beneficiary, name, value)
    if "birth_year" in fields:
        beneficiary.age_band = age_band(beneficiary.birth_year, beneficiary.created_at.year)
    session.flush()
    return beneficiary


def add_criterion(
    *,
    session: Session,
    actor: Actor,
    beneficiary_id: int,
    kind: str,
    validated_on: Any,
    prescriber: str | None = None,
) -> EligibilityCriterion:
    """Validate one eligibility criterion (the actor is the validator), then recount the hours."""
    beneficiary = rgpd.read(
        session=session, actor=actor, beneficiary_id=beneficiary_id, action="modification"
    )
    if kind not in CRITERIA:
        raise invalid("kind", "valeurs : " + ", ".join(CRITERIA))
    day = to_date(validated_on, "validated_on")
    if day > timers.now().date():
        raise invalid("validated_on", "une validation ne peut pas être datée dans le futur")
    criterion = EligibilityCriterion(
        kind=kind, validated_on=day, validator=actor.login, prescriber=prescriber
    )
    beneficiary.criteria.append(criterion)
    session.flush()
    recount(session=session, beneficiary_id=beneficiary.id)
    return criterion


def eligible_since(*, session: Session, beneficiary_id: int) -> date | None:
    """The earliest validation date of the person's criteria."""
    return session.scalar(
        select(func.min(EligibilityCriterion.validated_on)).where(
            EligibilityCriterion.beneficiary_id == beneficiary_id
        )
    )


def counting_status(since: date | None, contract_start: date) -> tuple[bool, str | None]:
    """(counted, reason if not) for hours of a contract starting on `contract_start`."""
    if since is None:
        return False, "Éligibilité non validée : heures conservées mais non comptées."
    if since > contract_start:
        return False, (
            f"Éligibilité validée le {since:%d/%m/%Y}, après le début du contrat "
            f"({contract_start:%d/%m/%Y}) : heures conservées mais non comptées."
        )
    return True, None


def recount(*, session: Session, beneficiary_id: int) -> None:
    """Apply the counting rule again to every hours record of the person."""
    since = eligible_since(session=session, beneficiary_id=beneficiary_id)
    starts = session.scalars(
        select(HoursRecord.contract_start)
        .where(HoursRecord.beneficiary_id == beneficiary_id)
        .distinct()
    )
    for start in list(starts):
        counted, flag = counting_status(since, start)
        session.execute(
            update(HoursRecord)
            .where(
                HoursRecord.beneficiary_id == beneficiary_id,
                HoursRecord.contract_start == start,
            )
            .values(counted=counted, flag=flag)
            .execution_options(synchronize_session="fetch")
        )
    session.flush()
