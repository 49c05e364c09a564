"""Disposition advice for the upstream analysis, and the buyer's recorded choice.

The rules are the DMN table `disposition_conseillee` (bpmn/disposition_sociale.dmn), which admins
edit; the same table runs in the lifecycle (task `conseiller_disposition`) so the buyer sees the
advice when choosing. A choice against the advice needs a justification: the guichet régional
charter asks to be told when its recommendation is not followed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from workflows.access import Actor
from workflows.engine import decisions, timers
from workflows.engine.errors import FormInvalid
from workflows.referentiel import service as referentiel

from . import service
from .models import ARTICLES, DISPOSITIONS, RESERVATIONS, Clause, Marche

DECISION_KEY = "disposition_conseillee"


@dataclass(frozen=True)
class Advice:
    disposition: str
    reservation: str | None
    article: str | None
    reason: str

    @classmethod
    def from_outputs(cls, outputs: dict[str, Any]) -> Advice:
        """From the table's outputs (the lifecycle's variables of the same names)."""
        return cls(
            disposition=outputs.get("disposition_conseillee") or "aucune",
            reservation=outputs.get("reservation_conseillee") or None,
            article=outputs.get("article_conseille") or None,
            reason=outputs.get("motif_conseil") or "",
        )


def legal_article(disposition: str, reservation: str | None = None) -> str | None:
    """The Code de la commande publique article(s) of a disposition."""
    key = (disposition, reservation if disposition == "marche_reserve" else None)
    return ARTICLES.get(key)


def evaluate(
    *,
    session: Session,
    nature: str,
    amount_ht: Any,
    duration_months: int,
    cpv_code: str,
    local_structures: int,
) -> Advice:
    """Run the advice table on a purchase project's characteristics."""
    outputs = decisions.evaluate(
        session=session,
        key=DECISION_KEY,
        variables={
            "nature": nature,
            "montant_estime_ht": float(amount_ht),
            "duree_mois": int(duration_months),
            "code_cpv": cpv_code,
            "nb_structures_locales": int(local_structures),
        },
    )
    return Advice.from_outputs(outputs)


def advise_disposition(
    *, session: Session, actor: Actor, marche_id: int, local_structures: int | None = None
) -> Advice:
    """Advise the marché and keep the advice on it; local supply defaults to the referential."""
    marche = service.get(session=session, actor=actor, marche_id=marche_id)
    if local_structures is None:
        local_structures = referentiel.count_structures(
            session=session, territory_ids=marche.territory_ids
        )
    advice = evaluate(
        session=session,
        nature=marche.nature,
        amount_ht=service.amount(marche),
        duration_months=marche.duration_months,
        cpv_code=marche.cpv_code,
        local_structures=local_structures,
    )
    store_advice(marche, advice, local_structures)
    session.flush()
    return advice


def store_advice(marche: Marche, advice: Advice, local_structures: int | None) -> None:
    """Keep the advice (and the local supply it assumed) on the marché."""
    marche.local_structures = local_structures
    marche.advice_disposition = advice.disposition
    marche.advice_reservation = advice.reservation
    marche.advice_article = advice.article
    marche.advice_reason = advice.reason


def is_against(marche: Marche, disposition: str, reservation: str | None) -> bool:
    """True when an advice exists and the choice differs from it (reservation included)."""
    if marche.advice_disposition is None:
        return False
    if disposition != marche.advice_disposition:
        return True
    return disposition == "marche_reserve" and reservation != marche.advice_reservation


def _check_choice(disposition: str, reservation: str | None) -> None:
    if disposition not in DISPOSITIONS:
        raise FormInvalid(
            "Disposition inconnue.", errors={"disposition": "valeurs : " + ", ".join(DISPOSITIONS)}
        )
    if disposition == "marche_reserve" and reservation not in RESERVATIONS:
        raise FormInvalid(
            "Précisez la réservation.",
            errors={"type_reservation": "valeurs : " + ", ".join(RESERVATIONS)},
        )


def record_choice(
    *,
    session: Session,
    actor: Actor,
    marche_id: int,
    disposition: str,
    reservation: str | None = None,
    justification: str | None = None,
) -> Marche:
    """The buyer's final choice; against the advice, a justification is required."""
    marche = service.get(session=session, actor=actor, marche_id=marche_id)
    _check_choice(disposition, reservation)
    reservation = reservation if disposition == "marche_reserve" else None
    against = is_against(marche, disposition, reservation)
    if against and not (justification or "").strip():
        raise FormInvalid(
            "Le choix s'écarte de la disposition conseillée : justifiez-le "
            "(le guichet régional demande à en être informé).",
            errors={
                "justification_disposition": "obligatoire quand le choix s'écarte du conseil "
                f"({DISPOSITIONS.get(marche.advice_disposition, marche.advice_disposition)})"
            },
        )
    marche.disposition = disposition
    marche.reservation = reservation
    marche.disposition_article = legal_article(disposition, reservation)
    marche.against_advice = against
    marche.disposition_justification = (justification or "").strip() or None
    marche.disposition_chosen_at = timers.now()
    _set_clause(marche, disposition, reservation)
    session.flush()
    return marche


def _set_clause(marche: Marche, disposition: str, reservation: str | None) -> None:
    """The marché-level clause follows the choice; none is kept for "aucune"."""
    clause = next((c for c in marche.clauses if c.lot_id is None), None)
    if disposition == "aucune":
        if clause is not None:
            marche.clauses.remove(clause)
        return
    if clause is None:
        clause = Clause(disposition=disposition)
        marche.clauses.append(clause)
    clause.disposition = disposition
    clause.reservation = reservation
    clause.legal_article = legal_article(disposition, reservation)
