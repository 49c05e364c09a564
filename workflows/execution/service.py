"""Execution follow-up: hours records (per holder, lot, beneficiary, month, route) and outcomes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.access import Actor
from workflows.beneficiaires import service as beneficiaires
from workflows.beneficiaires.models import Beneficiary
from workflows.engine.errors import NotFound
from workflows.marches import service as marches
from workflows.marches.models import Marche, MarcheHolder
from workflows.referentiel import service as referentiel
from workflows.values import first_of_month, invalid, to_date, to_decimal

from .models import (
    CONTRACT_TYPES,
    COUNTING_METHODS,
    OUTCOME_KINDS,
    ROUTE_STRUCTURES,
    ROUTES,
    HoursRecord,
    Outcome,
)

# More than every hour of a 31-day month is a typing error, not a record.
MAX_MONTHLY_HOURS = Decimal(744)


def _choice(value: str, allowed: dict[str, str], field: str) -> str:
    if value not in allowed:
        raise invalid(field, "valeurs : " + ", ".join(allowed))
    return value


def _followed(session: Session, actor: Actor, marche_id: int) -> Marche:
    marche = marches.get(session=session, actor=actor, marche_id=marche_id)
    marches.require_facilitation(actor, marche)
    return marche


def _check_holder(session: Session, marche: Marche, holder_id: int, lot_id: int | None) -> None:
    links = session.scalars(
        select(MarcheHolder.lot_id).where(
            MarcheHolder.marche_id == marche.id, MarcheHolder.holder_id == holder_id
        )
    ).all()
    if not links:
        raise invalid("holder_id", "cette entreprise n'est pas titulaire du marché")
    if lot_id is not None:
        marches.get_lot(session=session, marche=marche, lot_id=lot_id)
        if None not in links and lot_id not in links:
            raise invalid("lot_id", "cette entreprise n'est pas titulaire de ce lot")


def _check_structure(session: Session, route: str, structure_id: int | None) -> None:
    kinds = ROUTE_STRUCTURES[route]
    if not kinds:
        if structure_id is not None:
            raise invalid("structure_id", "pas de structure pour une embauche directe")
        return
    if structure_id is None:
        raise invalid("structure_id", "précisez la structure (" + ", ".join(sorted(kinds)) + ")")
    structure = referentiel.get_structure(session=session, structure_id=structure_id)
    if structure.kind not in kinds:
        raise invalid(
            "structure_id", f"une structure {', '.join(sorted(kinds))} est attendue pour cette voie"
        )


def record_hours(
    *,
    session: Session,
    actor: Actor,
    marche_id: int,
    holder_id: int,
    beneficiary_id: int,
    month: Any,
    hours: Any,
    route: str,
    contract_type: str,
    contract_start: Any,
    counting_method: str = "heures_travaillees",
    training_hours: Any = 0,
    lot_id: int | None = None,
    structure_id: int | None = None,
) -> HoursRecord:
    """Record one month of hours; they count only if eligibility preceded the contract start."""
    marche = _followed(session, actor, marche_id)
    _check_holder(session, marche, holder_id, lot_id)
    _check_structure(session, _choice(route, ROUTES, "route"), structure_id)
    if session.get(Beneficiary, beneficiary_id) is None:
        raise NotFound(f"bénéficiaire {beneficiary_id} introuvable")
    start = to_date(contract_start, "contract_start")
    since = beneficiaires.eligible_since(session=session, beneficiary_id=beneficiary_id)
    counted, flag = beneficiaires.counting_status(since, start)
    record = HoursRecord(
        marche_id=marche.id,
        lot_id=lot_id,
        holder_id=holder_id,
        beneficiary_id=beneficiary_id,
        structure_id=structure_id,
        route=route,
        contract_start=start,
        counted=counted,
        flag=flag,
        created_by=actor.login,
        **_hours_fields(month, hours, training_hours, contract_type, counting_method, start),
    )
    session.add(record)
    session.flush()
    return record


def _hours_fields(month, hours, training_hours, contract_type, counting_method, start):
    """The record's month, hours and kinds, checked."""
    amount = to_decimal(hours, "hours")
    if amount > MAX_MONTHLY_HOURS:
        raise invalid("hours", f"au plus {MAX_MONTHLY_HOURS} heures par mois")
    period = first_of_month(to_date(month, "month"))
    if period < first_of_month(start):
        raise invalid("month", "mois antérieur au début du contrat")
    return {
        "month": period,
        "hours": amount,
        "training_hours": to_decimal(training_hours, "training_hours"),
        "contract_type": _choice(contract_type, CONTRACT_TYPES, "contract_type"),
        "counting_method": _choice(counting_method, COUNTING_METHODS, "counting_method"),
    }


def get_all_hours(
    *, session: Session, actor: Actor, marche_id: int, month: date | None = None
) -> list[HoursRecord]:
    """A marché's hours records (facilitators: they name beneficiaries by id)."""
    _followed(session, actor, marche_id)
    query = select(HoursRecord).where(HoursRecord.marche_id == marche_id)
    if month is not None:
        query = query.where(HoursRecord.month == first_of_month(month))
    return list(session.scalars(query.order_by(HoursRecord.month, HoursRecord.id)))


def delete_hours(*, session: Session, actor: Actor, record_id: int) -> None:
    """Remove a record entered by mistake."""
    record = session.get(HoursRecord, record_id)
    if record is None:
        raise NotFound(f"relevé d'heures {record_id} introuvable")
    _followed(session, actor, record.marche_id)
    session.delete(record)
    session.flush()


def record_outcome(
    *,
    session: Session,
    actor: Actor,
    marche_id: int,
    beneficiary_id: int,
    contract_start: Any,
    contract_end: Any,
    kind: str,
    holder_id: int | None = None,
) -> Outcome:
    """What became of the person at the end of their contract (sortie)."""
    marche = _followed(session, actor, marche_id)
    if holder_id is not None:
        _check_holder(session, marche, holder_id, None)
    if session.get(Beneficiary, beneficiary_id) is None:
        raise NotFound(f"bénéficiaire {beneficiary_id} introuvable")
    start, end = to_date(contract_start, "contract_start"), to_date(contract_end, "contract_end")
    if end < start:
        raise invalid("contract_end", "la fin du contrat précède son début")
    outcome = Outcome(
        marche_id=marche.id,
        beneficiary_id=beneficiary_id,
        holder_id=holder_id,
        contract_start=start,
        contract_end=end,
        kind=_choice(kind, OUTCOME_KINDS, "kind"),
        recorded_by=actor.login,
    )
    session.add(outcome)
    session.flush()
    return outcome


def get_all_outcomes(*, session: Session, actor: Actor, marche_id: int) -> list[Outcome]:
    """A marché's outcomes, by contract end (facilitators)."""
    _followed(session, actor, marche_id)
    return list(
        session.scalars(
            select(Outcome).where(Outcome.marche_id == marche_id).order_by(Outcome.contract_end)
        )
    )
