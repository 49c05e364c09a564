"""Import of DECP records (format v2) into marchés, buyers, holders and dispositions.

Mapping: `id` + `acheteur.id` (SIRET) is the key; the buyer is the organisation with that SIRET
(created if unknown); `objet` → subject, `codeCPV` → CPV (its division gives the nature: 45 works,
03-44 and 48 supplies, the rest services), `nature` "Accord-cadre" → framework, `dureeMois`,
`dateNotification` (execution starts then), `montant` → estimated and notified amount (and maximum
of a framework), `lieuExecution` → place and territory (commune, else département, else the
default territory), `titulaires[]` with typeIdentifiant SIRET → holders (other identifiers are
reported and skipped), `considerationsSociales` → disposition (see DISPOSITION_OF).

A marché the import creates takes every field from DECP on each import. A marché already followed
(same buyer, reference or consultation reference = the DECP id) keeps its lifecycle data: the
import only fills what is empty and adds holders. Each record runs in a savepoint: a bad one is
reported (id, field, reason) and skipped, the others are kept. Re-importing an unchanged record
does nothing (content hash).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from workflows.access import Actor, require_admin_or_coordinator
from workflows.engine import timers
from workflows.engine.errors import FormInvalid
from workflows.marches import service as marches
from workflows.marches.models import Marche
from workflows.referentiel import service as referentiel
from workflows.referentiel.models import Organisation, TerritoryArea
from workflows.values import add_months, to_date, to_decimal

from .models import DecpRecord

CLAUSE = "Clause sociale"
KNOWN = {CLAUSE, "Critère social", "Marché réservé", "Pas de considération sociale"}
# frozenset of considerations → (disposition, article of the Code de la commande publique)
DISPOSITION_OF = {
    frozenset({CLAUSE}): ("clause_insertion", "L2112-2"),
    frozenset({CLAUSE, "Critère social"}): ("clause_et_critere", "L2112-2 ; R2152-7"),
    frozenset({"Critère social"}): ("clause_et_critere", "R2152-7"),
}
FIELD_NAMES = {
    "subject": "objet",
    "cpv_code": "codeCPV",
    "estimated_amount_ht": "montant",
    "duration_months": "dureeMois",
    "nature": "codeCPV",
    "siret": "titulaires.id",
}


class RecordError(Exception):
    """A DECP record that cannot be imported: which field, and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.reason = field, reason


@dataclass(frozen=True)
class Rejection:
    decp_id: str
    field: str
    reason: str


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    warnings: list[Rejection] = field(default_factory=list)


def disposition_of(values: Any) -> tuple[str, str | None]:
    """(disposition, article) from `considerationsSociales` (a list or one string)."""
    items = [values] if isinstance(values, str) else list(values or [])
    found = {str(v).strip() for v in items if str(v).strip()}
    unknown = found - KNOWN
    if unknown:
        raise RecordError("considerationsSociales", f"valeur inconnue : {sorted(unknown)[0]}")
    if "Marché réservé" in found:
        return "marche_reserve", None
    found.discard("Pas de considération sociale")
    return DISPOSITION_OF.get(frozenset(found), ("aucune", None))


def nature_of(cpv: str) -> str:
    """Works, supplies or services from the CPV division."""
    division = int(cpv[:2])
    if division == 45:
        return "travaux"
    return "fournitures" if division < 45 or division == 48 else "services"


def _text(record: dict, name: str, limit: int) -> str:
    value = record.get(name)
    if value is None or not str(value).strip():
        raise RecordError(name, "obligatoire")
    return str(value).strip()[:limit]


def _parse(record: Any) -> dict[str, Any]:
    """The record checked and converted, or RecordError naming the DECP field."""
    if not isinstance(record, dict):
        raise RecordError("marche", "un objet est attendu")
    decp_id = _text(record, "id", 100)
    buyer = record.get("acheteur") if isinstance(record.get("acheteur"), dict) else {}
    try:
        siret = referentiel.clean_siret(str(buyer.get("id") or ""))
    except FormInvalid:
        raise RecordError("acheteur.id", "SIRET de l'acheteur invalide") from None
    cpv = re.match(r"^\s*(\d{8})(-\d)?\s*$", str(record.get("codeCPV") or ""))
    if not cpv:
        raise RecordError("codeCPV", "code CPV à 8 chiffres attendu")
    duration = record.get("dureeMois")
    if isinstance(duration, bool) or not str(duration).strip().isdigit():
        raise RecordError("dureeMois", "nombre entier de mois attendu")
    if not 1 <= int(duration) <= 120:
        raise RecordError("dureeMois", "entre 1 et 120 mois")
    try:
        notified = to_date(str(record.get("dateNotification") or "")[:10], "dateNotification")
        amount = to_decimal(record.get("montant"), "montant")
    except FormInvalid as exc:
        name = next(iter(exc.errors))
        raise RecordError(name, "date AAAA-MM-JJ ou montant positif attendu") from None
    place = record.get("lieuExecution") if isinstance(record.get("lieuExecution"), dict) else {}
    disposition, article = disposition_of(record.get("considerationsSociales"))
    return {
        "decp_id": decp_id,
        "siret": siret,
        "buyer_name": str(buyer.get("nom") or f"Acheteur {siret}")[:300],
        "subject": _text(record, "objet", 500),
        "cpv": cpv.group(1),
        "framework": str(record.get("nature") or "").strip().lower() == "accord-cadre",
        "duration": int(duration),
        "notified": notified,
        "amount": amount,
        "place": (str(place.get("typeCode") or ""), str(place.get("code") or "").strip()),
        "disposition": disposition,
        "article": article,
        "considerations": record.get("considerationsSociales"),
        "holders": record.get("titulaires") or [],
        "procedure": str(record.get("procedure") or "")[:200] or None,
    }


def _territory(session: Session, place: tuple[str, str], default: int | None) -> int:
    kind, code = place
    candidates: list[tuple[str, str]] = []
    if code and "commune" in kind.lower():
        candidates.append(("commune", code))
    if code and any(w in kind.lower() for w in ("commune", "postal", "département", "departement")):
        candidates.append(("departement", code[:3] if code.startswith("97") else code[:2]))
    for area_kind, area_code in candidates:
        found = session.scalar(
            select(TerritoryArea.territory_id)
            .where(TerritoryArea.kind == area_kind, TerritoryArea.code == area_code)
            .order_by(TerritoryArea.territory_id)
        )
        if found:
            return found
    if default is None:
        raise RecordError("lieuExecution", "aucun territoire ne couvre ce lieu d'exécution")
    return default


def _buyer(session: Session, actor: Actor, siret: str, name: str) -> Organisation:
    found = session.scalar(select(Organisation).where(Organisation.siret == siret))
    return found or referentiel.create_organisation(
        session=session, actor=actor, kind="acheteur", name=name, siret=siret
    )


def _holders(session, actor, marche, holders, decp_id: str, report: ImportReport) -> None:
    for index, holder in enumerate(holders if isinstance(holders, list) else [holders]):
        if not isinstance(holder, dict):
            raise RecordError(f"titulaires[{index}]", "un objet est attendu")
        kind, ident = str(holder.get("typeIdentifiant") or ""), str(holder.get("id") or "")
        if kind.upper() != "SIRET":
            report.warnings.append(
                Rejection(decp_id, f"titulaires[{index}]", f"identifiant {kind} non importé")
            )
            continue
        name = str(holder.get("denominationSociale") or ident)
        try:
            marches.add_holder(
                session=session, actor=actor, marche_id=marche.id, siret=ident, name=name
            )
        except FormInvalid:
            raise RecordError(f"titulaires[{index}].id", "SIRET du titulaire invalide") from None


def _apply(marche: Marche, data: dict[str, Any], *, own: bool) -> None:
    """Copy the DECP fields: all of them on an imported marché, only the empty ones otherwise."""
    values = {
        "subject": data["subject"],
        "cpv_code": data["cpv"],
        "nature": nature_of(data["cpv"]),
        "is_framework": data["framework"],
        "estimated_amount_ht": data["amount"],
        "max_amount_ht": data["amount"] if data["framework"] else None,
        "final_amount_ht": data["amount"],
        "duration_months": data["duration"],
        "place_of_execution": " ".join(data["place"]).strip() or None,
        "notification_date": data["notified"],
        "start_date": data["notified"],
        "planned_end_date": add_months(data["notified"], data["duration"]),
        "disposition": data["disposition"],
        "disposition_article": data["article"],
    }
    for name, value in values.items():
        if own or getattr(marche, name) is None:
            setattr(marche, name, value)
    if own:
        marche.phase = "execution"


def _import_one(session, actor, raw, default_territory_id, report) -> str:
    data = _parse(raw)
    digest = hashlib.sha256(
        json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str).encode()
    ).hexdigest()
    key = (DecpRecord.decp_id == data["decp_id"], DecpRecord.buyer_siret == data["siret"])
    record = session.scalar(select(DecpRecord).where(*key))
    if record is not None and record.content_hash == digest:
        return "unchanged"
    buyer = _buyer(session, actor, data["siret"], data["buyer_name"])
    if record is not None:
        marche, own = session.get(Marche, record.marche_id), record.created_marche
    else:
        marche = session.scalar(
            select(Marche).where(
                Marche.buyer_id == buyer.id,
                or_(
                    Marche.reference == data["decp_id"],
                    Marche.consultation_reference == data["decp_id"],
                ),
            )
        )
        own = marche is None
        if marche is None:
            marche = _create(session, actor, data, buyer, default_territory_id)
        record = DecpRecord(
            decp_id=data["decp_id"], buyer_siret=data["siret"], marche_id=marche.id,
            created_marche=own, content_hash="",
        )  # fmt: skip
        session.add(record)
    _apply(marche, data, own=own)
    _holders(session, actor, marche, data["holders"], data["decp_id"], report)
    considerations = data["considerations"]
    if isinstance(considerations, list):
        considerations = " ; ".join(str(c) for c in considerations)
    created = not record.content_hash
    record.considerations, record.procedure = considerations, data["procedure"]
    record.content_hash, record.updated_at = digest, timers.now()
    session.flush()
    return "created" if created and own else "updated"


def _create(session, actor, data, buyer, default_territory_id) -> Marche:
    territory_id = _territory(session, data["place"], default_territory_id)
    reference = data["decp_id"]
    if session.scalar(select(Marche.id).where(Marche.reference == reference)):
        reference = f"{data['decp_id']}/{data['siret']}"
    return marches.create_marche(
        session=session, actor=actor, reference=reference, buyer_id=buyer.id,
        territory_id=territory_id, start_process=False, subject=data["subject"],
        nature=nature_of(data["cpv"]), cpv_code=data["cpv"],
        estimated_amount_ht=data["amount"], duration_months=data["duration"],
    )  # fmt: skip


def import_records(
    *,
    session: Session,
    actor: Actor,
    records: Iterable[Any],
    default_territory_id: int | None = None,
) -> ImportReport:
    """Create or update marchés from DECP records, each in a savepoint; bad ones are reported."""
    require_admin_or_coordinator(actor)
    report = ImportReport()
    for index, raw in enumerate(records):
        decp_id = (
            str(raw.get("id") or f"#{index + 1}") if isinstance(raw, dict) else f"#{index + 1}"
        )
        try:
            with session.begin_nested():
                outcome = _import_one(session, actor, raw, default_territory_id, report)
        except RecordError as exc:
            report.rejected.append(Rejection(decp_id, exc.field, exc.reason))
            continue
        except FormInvalid as exc:
            name, reason = next(iter(exc.errors.items()), ("marche", exc.message))
            report.rejected.append(Rejection(decp_id, FIELD_NAMES.get(name, name), reason))
            continue
        setattr(report, outcome, getattr(report, outcome) + 1)
    return report


def to_reconcile(*, session: Session, actor: Actor) -> list[tuple[DecpRecord, Marche]]:
    """Marchés with a « Clause sociale » in DECP that only the import knows (no lifecycle)."""
    rows = session.execute(
        select(DecpRecord, Marche)
        .join(Marche, Marche.id == DecpRecord.marche_id)
        .where(
            DecpRecord.created_marche.is_(True),
            DecpRecord.considerations.contains(CLAUSE),
            Marche.instance_id.is_(None),
            marches.visible(actor),
        )
        .order_by(Marche.reference)
    )
    return [(record, marche) for record, marche in rows]


def acknowledge(*, session: Session, actor: Actor, marche_id: int) -> None:
    """The facilitator has taken the imported marché in hand: off the reconciliation list."""
    marche = marches.get(session=session, actor=actor, marche_id=marche_id)
    marches.require_facilitation(actor, marche)
    for record in session.scalars(select(DecpRecord).where(DecpRecord.marche_id == marche.id)):
        record.created_marche = False
    session.flush()
