"""Marchés: registration (which starts the lifecycle), scoping, lots, territories, holders."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy import update as sa_update
from sqlalchemy.orm import Session

from workflows.access import Actor, require
from workflows.engine import runtime
from workflows.engine.errors import FormInvalid, NotFound
from workflows.engine.models import HumanTask, Instance
from workflows.referentiel import service as referentiel
from workflows.referentiel.models import Holder
from workflows.values import add_months, invalid, optional_decimal, to_date, to_decimal

from .models import NATURES, Lot, Marche, MarcheHolder, MarcheTerritory

PROCESS_KEY = "marche_clause_sociale"
REQUIRED = ("subject", "nature", "cpv_code", "estimated_amount_ht", "duration_months")
CPV = re.compile(r"^(\d{8})(-\d)?$")
SIRET_IN_TEXT = re.compile(r"(?<!\d)(\d{3}\s?\d{3}\s?\d{3}\s?\d{5})(?!\d)")


def visible(actor: Actor) -> ColumnElement[bool]:
    """SQL condition on Marche: the marchés this actor may see."""
    if actor.is_admin:
        return true()
    if actor.role == "acheteur":
        return Marche.buyer_id == actor.organisation_id if actor.organisation_id else false()
    if actor.facilitates and actor.territory_ids:
        ids = sorted(actor.territory_ids)
        attached = select(MarcheTerritory.marche_id).where(MarcheTerritory.territory_id.in_(ids))
        return or_(Marche.territory_id.in_(ids), Marche.id.in_(attached))
    return false()


def can_see(actor: Actor, marche: Marche) -> bool:
    """The buyer of the marché, its territories' facilitators and coordinators, or an admin."""
    if actor.role == "acheteur":
        return actor.organisation_id is not None and marche.buyer_id == actor.organisation_id
    return actor.is_admin or actor.covers(marche.territory_ids)


def get(*, session: Session, actor: Actor, marche_id: int) -> Marche:
    """The marché, if the actor may see it."""
    marche = session.get(Marche, marche_id)
    if marche is None:
        raise NotFound(f"marché {marche_id} introuvable")
    require(can_see(actor, marche), "Ce marché relève d'un autre acheteur ou territoire.")
    return marche


def require_facilitation(actor: Actor, marche: Marche) -> None:
    """Facilitators (and coordinators) of the marché's territories, or an admin."""
    require(
        actor.covers(marche.territory_ids),
        "Réservé aux facilitateurs des territoires de ce marché.",
    )


def get_by_reference(*, session: Session, actor: Actor, reference: str) -> Marche:
    """The marché with this reference, if the actor may see it."""
    marche_id = session.scalar(select(Marche.id).where(Marche.reference == reference))
    if marche_id is None:
        raise NotFound(f"marché « {reference} » introuvable")
    return get(session=session, actor=actor, marche_id=marche_id)


def get_by_instance(*, session: Session, instance_id: int) -> Marche | None:
    """The marché a lifecycle instance drives, if any (no scoping: for the engine listener)."""
    return session.scalar(select(Marche).where(Marche.instance_id == instance_id))


def get_all(
    *, session: Session, actor: Actor, phase: str | None = None, territory_id: int | None = None
) -> list[Marche]:
    """The marchés the actor may see, newest first."""
    query = select(Marche).where(visible(actor)).order_by(Marche.id.desc())
    if phase:
        query = query.where(Marche.phase == phase)
    if territory_id:
        query = query.where(Marche.territory_id == territory_id)
    return list(session.scalars(query))


def clean_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Checked and converted marché fields, or FormInvalid naming every bad one."""
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = dict(fields)
    checks = {
        "nature": lambda v: v if v in NATURES else _bad("valeurs : " + ", ".join(NATURES)),
        "cpv_code": _cpv,
        "estimated_amount_ht": lambda v: to_decimal(v, "estimated_amount_ht"),
        "max_amount_ht": lambda v: optional_decimal(v, "max_amount_ht"),
        "final_amount_ht": lambda v: optional_decimal(v, "final_amount_ht"),
        "duration_months": _duration,
        "subject": lambda v: v.strip() if v and v.strip() else _bad("obligatoire"),
    }
    for name, check in checks.items():
        if name in fields:
            try:
                cleaned[name] = check(fields[name])
            except FormInvalid as exc:
                errors[name] = next(iter(exc.errors.values()), exc.message)
    if errors:
        raise FormInvalid("Le marché contient des erreurs.", errors=errors)
    return cleaned


def _bad(message: str):
    raise FormInvalid(message, errors={"_": message})


def _cpv(value: Any) -> str:
    match = CPV.match(str(value or "").strip())
    if not match:
        _bad("code CPV à 8 chiffres attendu (ex. 45214200 ou 45214200-2)")
    return match.group(1)


def _duration(value: Any) -> int:
    if isinstance(value, bool) or not str(value).strip().isdigit():
        _bad("un nombre entier de mois est attendu")
    if not 1 <= int(value) <= 120:
        _bad("entre 1 et 120 mois")
    return int(value)


def _check_creator(actor: Actor, buyer_id: int, territory_id: int) -> None:
    if actor.role == "acheteur":
        require(actor.organisation_id == buyer_id, "Un acheteur enregistre ses propres marchés.")
    else:
        require(actor.covers([territory_id]), "Ce territoire n'est pas le vôtre.")


def create_marche(
    *,
    session: Session,
    actor: Actor,
    reference: str,
    buyer_id: int,
    territory_id: int,
    attached_territories: dict[int, int | None] | None = None,
    lots: Iterable[dict[str, Any]] = (),
    start_process: bool = True,
    **fields: Any,
) -> Marche:
    """Register a purchase project and start its lifecycle (business key = the reference).

    `fields`: subject, nature, cpv_code, estimated_amount_ht, duration_months, and optionally
    place_of_execution, is_framework, max_amount_ht, lead_facilitator_id.
    `attached_territories`: other territories the marché spans → their facilitator (or None).
    """
    _check_creator(actor, buyer_id, territory_id)
    unknown = set(fields) - set(Marche.__table__.columns.keys())
    if unknown:
        raise invalid(sorted(unknown)[0], "champ inconnu")
    missing = [name for name in REQUIRED if fields.get(name) in (None, "")]
    if missing:
        raise FormInvalid(
            "Champs obligatoires manquants.", errors=dict.fromkeys(missing, "obligatoire")
        )
    if not reference or session.scalar(select(Marche.id).where(Marche.reference == reference)):
        raise invalid("reference", "référence absente ou déjà utilisée")
    referentiel.get_organisation(session=session, organisation_id=buyer_id)
    referentiel.get_territory(session=session, territory_id=territory_id)
    marche = Marche(
        reference=reference,
        buyer_id=buyer_id,
        territory_id=territory_id,
        created_by=actor.login,
        **clean_fields(fields),
    )
    for other, facilitator_id in (attached_territories or {}).items():
        if other != territory_id:
            marche.attached.append(
                MarcheTerritory(territory_id=other, facilitator_id=facilitator_id)
            )
    session.add(marche)
    session.flush()
    for number, lot in enumerate(lots, start=1):
        add_lot(session=session, actor=actor, marche_id=marche.id, **{"number": number, **lot})
    if start_process:
        instance = runtime.start(
            session=session,
            key=PROCESS_KEY,
            business_key=reference,
            variables=process_variables(session=session, marche=marche),
            actor=actor.login,
            buyer_id=marche.buyer_id,
            territory_id=marche.territory_id,
        )
        marche.instance_id = instance.id
        session.flush()
    return marche


def process_variables(*, session: Session, marche: Marche) -> dict[str, Any]:
    """Start variables of the lifecycle: the analyse_amont form comes pre-filled from the marché."""
    params = referentiel.parameters(session=session, territory_id=marche.territory_id)
    variables: dict[str, Any] = {
        "objet": marche.subject,
        "montant_estime_ht": float(marche.estimated_amount_ht),
        "duree_mois": marche.duration_months,
        "nature": marche.nature,
        "code_cpv": marche.cpv_code,
        "accord_cadre": bool(marche.is_framework),
        "taux_insertion": float(params.insertion_rate),
        "cout_horaire": float(params.hourly_cost),
        "nb_structures_locales": referentiel.count_structures(
            session=session, territory_ids=marche.territory_ids
        ),
    }
    if marche.max_amount_ht is not None:
        variables["montant_maximum_ht"] = float(marche.max_amount_ht)
    if marche.place_of_execution:
        variables["lieu_execution"] = marche.place_of_execution
    if marche.lots:
        variables["lots"] = " ; ".join(lot.title for lot in marche.lots)
    return variables


def update(*, session: Session, actor: Actor, marche_id: int, **fields: Any) -> Marche:
    """Change the marché's analysis fields (subject, amounts, duration, nature, CPV, place…)."""
    marche = get(session=session, actor=actor, marche_id=marche_id)
    scope_before = (marche.buyer_id, marche.territory_id)
    for name, value in clean_fields(fields).items():
        if name not in Marche.__table__.columns or name in ("id", "reference", "instance_id"):
            raise invalid(name, "champ inconnu ou non modifiable")
        setattr(marche, name, value)
    moved = (marche.buyer_id, marche.territory_id) != scope_before
    if moved and marche.instance_id is not None:  # who sees its instance and inbox rows follows
        scope = {"buyer_id": marche.buyer_id, "territory_id": marche.territory_id}
        session.execute(
            sa_update(Instance).where(Instance.id == marche.instance_id).values(**scope)
        )
        session.execute(
            sa_update(HumanTask).where(HumanTask.instance_id == marche.instance_id).values(**scope)
        )
    return marche


def add_lot(
    *,
    session: Session,
    actor: Actor,
    marche_id: int,
    number: int,
    title: str,
    cpv_code: str | None = None,
    estimated_amount_ht: Any = None,
) -> Lot:
    """Add lot `number` to the marché (its own CPV code and amount allow a per-lot calibration)."""
    marche = get(session=session, actor=actor, marche_id=marche_id)
    if any(lot.number == number for lot in marche.lots):
        raise invalid("number", f"le lot {number} existe déjà")
    lot = Lot(
        number=number,
        title=title,
        cpv_code=_cpv(cpv_code) if cpv_code else None,
        estimated_amount_ht=optional_decimal(estimated_amount_ht, "estimated_amount_ht"),
    )
    marche.lots.append(lot)
    session.flush()
    return lot


def get_lot(*, session: Session, marche: Marche, lot_id: int) -> Lot:
    """A lot of this marché, or FormInvalid naming lot_id."""
    lot = session.get(Lot, lot_id)
    if lot is None or lot.marche_id != marche.id:
        raise invalid("lot_id", "ce lot n'appartient pas au marché")
    return lot


def attach_territory(
    *,
    session: Session,
    actor: Actor,
    marche_id: int,
    territory_id: int,
    facilitator_id: int | None = None,
) -> MarcheTerritory:
    """Involve another territory (and its facilitator) in a marché that spans it."""
    marche = get(session=session, actor=actor, marche_id=marche_id)
    referentiel.get_territory(session=session, territory_id=territory_id)
    for link in marche.attached:
        if link.territory_id == territory_id:
            link.facilitator_id = facilitator_id or link.facilitator_id
            session.flush()
            return link
    if territory_id == marche.territory_id:
        raise invalid("territory_id", "c'est déjà le territoire chef de file")
    link = MarcheTerritory(territory_id=territory_id, facilitator_id=facilitator_id)
    marche.attached.append(link)
    session.flush()
    return link


def add_holder(
    *,
    session: Session,
    actor: Actor,
    marche_id: int,
    siret: str,
    name: str,
    lot_id: int | None = None,
) -> Holder:
    """Record a company as holder of the marché (or of one lot)."""
    marche = get(session=session, actor=actor, marche_id=marche_id)
    if lot_id is not None:
        get_lot(session=session, marche=marche, lot_id=lot_id)
    holder = referentiel.get_or_create_holder(session=session, siret=siret, name=name)
    exists = session.scalar(
        select(MarcheHolder.id).where(
            MarcheHolder.marche_id == marche.id,
            MarcheHolder.holder_id == holder.id,
            MarcheHolder.lot_id.is_(None) if lot_id is None else MarcheHolder.lot_id == lot_id,
        )
    )
    if not exists:
        session.add(MarcheHolder(marche_id=marche.id, holder_id=holder.id, lot_id=lot_id))
        session.flush()
    return holder


def get_holders(*, session: Session, marche_id: int) -> list[tuple[Holder, int | None]]:
    """(holder, lot id) pairs of a marché."""
    rows = session.execute(
        select(Holder, MarcheHolder.lot_id)
        .join(MarcheHolder, MarcheHolder.holder_id == Holder.id)
        .where(MarcheHolder.marche_id == marche_id)
        .order_by(MarcheHolder.id)
    )
    return [(holder, lot_id) for holder, lot_id in rows]


def parse_holders(text: str) -> list[tuple[str, str]]:
    """(SIRET, name) pairs from free text such as "BTP Val-de-Marne (SIRET 123 456 789 00011)"."""
    found = []
    for chunk in re.split(r"[;\n]+", text or ""):
        match = SIRET_IN_TEXT.search(chunk)
        if not match:
            continue
        name = chunk[: match.start()] + chunk[match.end() :]
        name = re.sub(r"\bSIRE[TN]\b\s*:?", "", name, flags=re.IGNORECASE)
        found.append((re.sub(r"\D", "", match.group(1)), name.strip(" ,:-–—()[]\t")))
    return found


def record_notification(
    *,
    session: Session,
    actor: Actor,
    marche_id: int,
    notification_date: Any,
    final_amount_ht: Any,
    holders: Iterable[tuple[str, str]] = (),
    start_date: Any = None,
) -> Marche:
    """The award: date, final amount, holders; execution starts then unless told otherwise."""
    marche = get(session=session, actor=actor, marche_id=marche_id)
    marche.notification_date = to_date(notification_date, "date_notification")
    marche.final_amount_ht = to_decimal(final_amount_ht, "montant_final_ht")
    marche.start_date = (
        to_date(start_date, "start_date") if start_date else marche.notification_date
    )
    marche.planned_end_date = add_months(marche.start_date, marche.duration_months)
    for siret, name in holders:
        add_holder(session=session, actor=actor, marche_id=marche.id, siret=siret, name=name)
    session.flush()
    return marche


def execution_period(marche: Marche) -> tuple[date, date] | None:
    """(start, planned end) once notified, else None."""
    start = marche.start_date or marche.notification_date
    if start is None:
        return None
    return start, marche.planned_end_date or add_months(start, marche.duration_months)


def amount(marche: Marche) -> Decimal:
    """The notified amount once known, else the estimate."""
    return (
        marche.final_amount_ht if marche.final_amount_ht is not None else marche.estimated_amount_ht
    )
