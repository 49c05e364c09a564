"""Services of the reference data (organisations, territories, holders, structures…)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflows.access import Actor, require_admin_or_coordinator
from workflows.engine.errors import FormInvalid, NotFound

from .models import (
    AREA_KINDS,
    ORGANISATION_KINDS,
    STRUCTURE_KINDS,
    Charter,
    Facilitator,
    Holder,
    InclusiveStructure,
    Organisation,
    Territory,
    TerritoryArea,
)

# La Poste's establishments share one SIREN and follow another checksum (sum of digits % 5).
LA_POSTE_SIREN = "356000000"


@dataclass(frozen=True)
class CalibrationParameters:
    """The calibration practice in force on a territory."""

    insertion_rate: Decimal = Decimal("0.05")
    hourly_cost: Decimal = Decimal("30")
    method: str = "formule"
    euros_per_hour: Decimal | None = None
    late_margin: Decimal = Decimal("0.10")


DEFAULTS = CalibrationParameters()


def siret_valid(siret: str) -> bool:
    """14 digits with a valid Luhn key (La Poste's establishments excepted)."""
    if not re.fullmatch(r"\d{14}", siret):
        return False
    if siret.startswith(LA_POSTE_SIREN):
        return sum(int(c) for c in siret) % 5 == 0
    total = 0
    for index, char in enumerate(reversed(siret)):
        digit = int(char) * (2 if index % 2 else 1)
        total += digit - 9 if digit > 9 else digit
    return total % 10 == 0


def clean_siret(value: str, *, field: str = "siret") -> str:
    """The SIRET without spaces, or FormInvalid naming `field`."""
    siret = re.sub(r"[\s.\u202f\u00a0]", "", value or "")
    if not siret_valid(siret):
        raise FormInvalid(
            f"SIRET invalide : « {value} ».",
            errors={field: "14 chiffres avec une clé de contrôle valide sont attendus"},
        )
    return siret


def _choice(value: str, allowed: Iterable[str], field: str) -> str:
    allowed = list(allowed)
    if value not in allowed:
        raise FormInvalid(
            f"Valeur non permise pour {field}.",
            errors={field: "valeurs possibles : " + ", ".join(allowed)},
        )
    return value


def create_organisation(
    *,
    session: Session,
    actor: Actor,
    kind: str,
    name: str,
    siret: str | None = None,
    postcode: str | None = None,
    city: str | None = None,
) -> Organisation:
    """Register a buyer, facilitator structure, coordination or partner."""
    require_admin_or_coordinator(actor)
    organisation = Organisation(
        kind=_choice(kind, ORGANISATION_KINDS, "kind"),
        name=name,
        siret=clean_siret(siret) if siret else None,
        postcode=postcode,
        city=city,
    )
    session.add(organisation)
    session.flush()
    return organisation


def get_organisation(*, session: Session, organisation_id: int) -> Organisation:
    """The organisation, or NotFound."""
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound(f"organisation {organisation_id} introuvable")
    return organisation


def create_charter(*, session: Session, actor: Actor, name: str, **params) -> Charter:
    """Register a charter and its calibration practice (rate, hourly cost, method, margin)."""
    require_admin_or_coordinator(actor)
    if "calibration_method" in params:
        _choice(params["calibration_method"], ("formule", "ratio"), "calibration_method")
    charter = Charter(name=name, **params)
    session.add(charter)
    session.flush()
    return charter


def create_territory(
    *,
    session: Session,
    actor: Actor,
    code: str,
    name: str,
    areas: Iterable[tuple[str, str, str]] = (),
    **fields,
) -> Territory:
    """Register a territory with its areas as (kind, INSEE code, name) triples."""
    require_admin_or_coordinator(actor)
    if session.scalar(select(Territory.id).where(Territory.code == code)):
        raise FormInvalid("Ce code de territoire existe déjà.", errors={"code": "déjà pris"})
    territory = Territory(code=code, name=name, **fields)
    for kind, area_code, area_name in areas:
        _choice(kind, AREA_KINDS, "areas")
        territory.areas.append(TerritoryArea(kind=kind, code=area_code, name=area_name))
    session.add(territory)
    session.flush()
    return territory


def get_territory(*, session: Session, territory_id: int) -> Territory:
    """The territory, or NotFound."""
    territory = session.get(Territory, territory_id)
    if territory is None:
        raise NotFound(f"territoire {territory_id} introuvable")
    return territory


def territory_of_key(session: Session, business_key: str) -> tuple[None, int | None]:
    """Scope of an instance without marché (committee, convention…): no buyer, and the
    territory whose code is the business key or prefixes it followed by "/" (longest code)."""
    prefixes = [business_key] + [business_key[:i] for i, c in enumerate(business_key) if c == "/"]
    found = session.execute(
        select(Territory.id, Territory.code).where(Territory.code.in_(prefixes))
    ).all()
    return None, (max(found, key=lambda row: len(row.code)).id if found else None)


def get_all_territories(*, session: Session) -> list[Territory]:
    """Every territory, by name (reference data: not scoped)."""
    return list(session.scalars(select(Territory).order_by(Territory.name)))


def create_facilitator(
    *,
    session: Session,
    actor: Actor,
    login: str,
    full_name: str,
    email: str | None = None,
    organisation_id: int | None = None,
    territory_ids: Iterable[int] = (),
) -> Facilitator:
    """Register a facilitator and attach them to their territories."""
    require_admin_or_coordinator(actor)
    facilitator = Facilitator(
        login=login, full_name=full_name, email=email, organisation_id=organisation_id
    )
    session.add(facilitator)
    session.flush()
    for territory_id in territory_ids:
        get_territory(session=session, territory_id=territory_id).facilitators.append(facilitator)
    session.flush()
    return facilitator


def get_facilitator(*, session: Session, facilitator_id: int) -> Facilitator:
    """The facilitator, or NotFound."""
    facilitator = session.get(Facilitator, facilitator_id)
    if facilitator is None:
        raise NotFound(f"facilitateur {facilitator_id} introuvable")
    return facilitator


def actor_for(*, session: Session, login: str) -> Actor:
    """The Actor of a facilitator or coordinator account, with the territories they cover."""
    facilitator = session.scalar(select(Facilitator).where(Facilitator.login == login))
    if facilitator is None:
        raise NotFound(f"facilitateur « {login} » introuvable")
    covered = set(
        session.scalars(select(Territory.id).where(Territory.facilitators.contains(facilitator)))
    )
    coordinated = set(
        session.scalars(select(Territory.id).where(Territory.coordinator_id == facilitator.id))
    )
    return Actor(
        login=login,
        role="coordinateur" if coordinated else "facilitateur",
        organisation_id=facilitator.organisation_id,
        territory_ids=frozenset(covered | coordinated),
    )


def get_or_create_holder(
    *, session: Session, siret: str, name: str, postcode: str | None = None
) -> Holder:
    """The holder with this SIRET, created on first sight (its name kept as first given)."""
    siret = clean_siret(siret)
    holder = session.scalar(select(Holder).where(Holder.siret == siret))
    if holder is None:
        holder = Holder(siret=siret, name=name.strip() or siret, postcode=postcode)
        session.add(holder)
        session.flush()
    return holder


def get_holder(*, session: Session, holder_id: int) -> Holder:
    """The holder, or NotFound."""
    holder = session.get(Holder, holder_id)
    if holder is None:
        raise NotFound(f"titulaire {holder_id} introuvable")
    return holder


def create_structure(
    *,
    session: Session,
    actor: Actor,
    kind: str,
    name: str,
    siret: str | None = None,
    territory_id: int | None = None,
    postcode: str | None = None,
    city: str | None = None,
) -> InclusiveStructure:
    """Register an inclusive structure (EI, ETTI, AI, ACI, GEIQ, EA, ESAT)."""
    require_admin_or_coordinator(actor)
    structure = InclusiveStructure(
        kind=_choice(kind, STRUCTURE_KINDS, "kind"),
        name=name,
        siret=clean_siret(siret) if siret else None,
        territory_id=territory_id,
        postcode=postcode,
        city=city,
    )
    session.add(structure)
    session.flush()
    return structure


def get_structure(*, session: Session, structure_id: int) -> InclusiveStructure:
    """The inclusive structure, or NotFound."""
    structure = session.get(InclusiveStructure, structure_id)
    if structure is None:
        raise NotFound(f"structure {structure_id} introuvable")
    return structure


def count_structures(
    *, session: Session, territory_ids: Iterable[int], kinds: Iterable[str] | None = None
) -> int:
    """How many inclusive structures the territories count (the advice's local-supply input)."""
    query = select(func.count(InclusiveStructure.id)).where(
        InclusiveStructure.territory_id.in_(list(territory_ids))
    )
    if kinds is not None:
        query = query.where(InclusiveStructure.kind.in_(list(kinds)))
    return session.scalar(query) or 0


def parameters(*, session: Session, territory_id: int | None) -> CalibrationParameters:
    """The territory's own values, else its charter's, else the defaults (5 %, 30 €/h, 10 %)."""
    territory = session.get(Territory, territory_id) if territory_id else None
    if territory is None:
        return DEFAULTS
    charter = territory.charter

    def pick(name: str):
        own = getattr(territory, name)
        if own is not None:
            return own
        inherited = getattr(charter, name, None) if charter else None
        return inherited if inherited is not None else getattr(DEFAULTS, name)

    return CalibrationParameters(
        insertion_rate=pick("insertion_rate"),
        hourly_cost=pick("hourly_cost"),
        method=territory.calibration_method
        or (charter.calibration_method if charter else None)
        or DEFAULTS.method,
        euros_per_hour=pick("euros_per_hour"),
        late_margin=pick("late_margin"),
    )
