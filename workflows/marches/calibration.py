"""Calibration of the insertion hours (Essonne charter art. 4.3) and the facilitator's overrides.

    heures = montant HT × part de main-d'œuvre × taux d'insertion ÷ coût horaire chargé
    or, where a charter says so:  heures = montant HT ÷ N (1 heure par N € HT)

Rounding rule: the product is computed exactly in decimal, then rounded once, to the nearest
whole hour, halves up (833.33 → 833 ; 832.5 → 833) — the same as the lifecycle's `calculer_heures`.
The labour share comes from the DMN table `part_main_oeuvre` (bpmn/part_main_oeuvre.dmn) by
nature and CPV code; the insertion rate (a floor: 5 % by default), the hourly cost, the method and
N come from the territory, else its charter. Framework contracts calibrate on their maximum amount
when they have one, else on the estimate; the notified amount can be chosen once known.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.orm import Session

from workflows.access import Actor
from workflows.engine import decisions, timers
from workflows.engine.errors import FormInvalid, NotFound
from workflows.referentiel import service as referentiel
from workflows.values import invalid, optional_decimal, percent, to_decimal

from . import service
from .advice import legal_article
from .models import CalibrationOverride, Clause, Lot, Marche

LABOUR_SHARE_KEY = "part_main_oeuvre"
CALIBRATED = ("clause_insertion", "clause_et_critere")
BASES = ("estime", "maximum", "notifie")


def round_hours(hours: Decimal) -> int:
    """Nearest whole hour, halves up."""
    return int(hours.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def formula_hours(
    *, amount_ht: Decimal, labour_share: Decimal, insertion_rate: Decimal, hourly_cost: Decimal
) -> int:
    """Amount HT × labour share × insertion rate ÷ hourly cost, rounded."""
    if hourly_cost <= 0:
        raise invalid("hourly_cost", "le coût horaire doit être positif")
    return round_hours(amount_ht * labour_share * insertion_rate / hourly_cost)


def ratio_hours(*, amount_ht: Decimal, euros_per_hour: Decimal) -> int:
    """One hour per `euros_per_hour` € HT, rounded."""
    if euros_per_hour <= 0:
        raise invalid("euros_per_hour", "le ratio doit être positif")
    return round_hours(amount_ht / euros_per_hour)


def labour_share(*, session: Session, nature: str, cpv_code: str) -> Decimal:
    """The labour share of the trade, from the editable DMN table."""
    outputs = decisions.evaluate(
        session=session, key=LABOUR_SHARE_KEY, variables={"nature": nature, "code_cpv": cpv_code}
    )
    return Decimal(str(outputs["part_main_oeuvre"]))


def amount_basis(marche: Marche, lot: Lot | None, basis: str | None) -> tuple[str, Decimal]:
    """(basis, amount HT) the calibration uses for the marché or the lot."""
    if basis is None:
        basis = "maximum" if marche.is_framework and marche.max_amount_ht and not lot else "estime"
    if basis not in BASES:
        raise invalid("basis", "valeurs : " + ", ".join(BASES))
    if lot is not None:
        value = lot.final_amount_ht if basis == "notifie" else lot.estimated_amount_ht
    else:
        value = {
            "estime": marche.estimated_amount_ht,
            "maximum": marche.max_amount_ht,
            "notifie": marche.final_amount_ht,
        }[basis]
    if value is None:
        raise invalid("basis", f"aucun montant « {basis} » n'est renseigné")
    return basis, value


def _clause_for(marche: Marche, lot: Lot | None) -> Clause:
    """The clause to calibrate, created for a lot that has none yet."""
    lot_id = lot.id if lot else None
    clause = next((c for c in marche.clauses if c.lot_id == lot_id), None)
    if clause is None:
        parent = next((c for c in marche.clauses if c.lot_id is None), None)
        if lot is None and marche.disposition in (None, *CALIBRATED):
            disposition = marche.disposition or "clause_insertion"
            clause = Clause(disposition=disposition, legal_article=legal_article(disposition))
        elif lot is not None and (parent is None or parent.disposition in CALIBRATED):
            disposition = parent.disposition if parent else "clause_insertion"
            clause = Clause(
                lot_id=lot_id, disposition=disposition, legal_article=legal_article(disposition)
            )
        else:
            raise invalid("disposition", "cette disposition ne porte pas d'heures d'insertion")
        marche.clauses.append(clause)
    if clause.disposition not in CALIBRATED:
        raise invalid("disposition", "cette disposition ne porte pas d'heures d'insertion")
    return clause


def calibrate_hours(
    *,
    session: Session,
    actor: Actor,
    marche_id: int,
    lot_id: int | None = None,
    basis: str | None = None,
    **overrides: Any,
) -> Clause:
    """Compute the hours target of the marché (or one lot) and keep every input used.

    `overrides` may set insertion_rate (not below the territory's floor), hourly_cost,
    labour_share (instead of the table), method ("formule" / "ratio") and euros_per_hour.
    """
    marche = service.get(session=session, actor=actor, marche_id=marche_id)
    service.require_facilitation(actor, marche)
    lot = service.get_lot(session=session, marche=marche, lot_id=lot_id) if lot_id else None
    clause = _clause_for(marche, lot)
    params = referentiel.parameters(session=session, territory_id=marche.territory_id)
    clause.amount_basis, clause.amount_ht = amount_basis(marche, lot, basis)
    clause.method = overrides.get("method") or params.method
    if clause.method == "ratio":
        _apply_ratio(clause, overrides, params)
    elif clause.method == "formule":
        _apply_formula(session, clause, marche, lot, overrides, params)
    else:
        raise invalid("method", "valeurs : formule, ratio")
    clause.hours_target = clause.calculated_hours
    clause.calibrated_at = timers.now()
    clause.calibrated_by = actor.login
    clause.validated_at = clause.validated_by = None
    session.flush()
    return clause


def _apply_ratio(clause: Clause, overrides: dict[str, Any], params) -> None:
    euros = optional_decimal(overrides.get("euros_per_hour"), "euros_per_hour")
    euros = euros or params.euros_per_hour
    if euros is None:
        raise invalid("euros_per_hour", "aucun ratio (€ HT par heure) n'est configuré")
    clause.euros_per_hour = euros
    clause.labour_share = clause.insertion_rate = clause.hourly_cost = None
    clause.calculated_hours = Decimal(ratio_hours(amount_ht=clause.amount_ht, euros_per_hour=euros))


def _apply_formula(session, clause, marche, lot, overrides, params) -> None:
    rate = optional_decimal(overrides.get("insertion_rate"), "insertion_rate")
    if rate is not None and rate < params.insertion_rate:
        raise invalid(
            "insertion_rate",
            "le taux d'insertion ne peut pas être inférieur au plancher de "
            f"{percent(params.insertion_rate)} de la charte",
        )
    share = optional_decimal(overrides.get("labour_share"), "labour_share")
    if share is None:
        cpv = (lot.cpv_code if lot else None) or marche.cpv_code
        share = labour_share(session=session, nature=marche.nature, cpv_code=cpv)
    if share > 1:
        raise invalid("labour_share", "une part entre 0 et 1 est attendue")
    clause.labour_share = share
    clause.insertion_rate = rate or params.insertion_rate
    clause.hourly_cost = optional_decimal(overrides.get("hourly_cost"), "hourly_cost")
    clause.hourly_cost = clause.hourly_cost or params.hourly_cost
    clause.euros_per_hour = None
    clause.calculated_hours = Decimal(
        formula_hours(
            amount_ht=clause.amount_ht,
            labour_share=share,
            insertion_rate=clause.insertion_rate,
            hourly_cost=clause.hourly_cost,
        )
    )


def get_clause(*, session: Session, actor: Actor, clause_id: int) -> Clause:
    """The clause, if the actor may see its marché."""
    clause = session.get(Clause, clause_id)
    if clause is None:
        raise NotFound(f"clause {clause_id} introuvable")
    service.get(session=session, actor=actor, marche_id=clause.marche_id)
    return clause


def override_hours(
    *, session: Session, actor: Actor, clause_id: int, hours: Any, justification: str | None
) -> CalibrationOverride:
    """The facilitator sets the target "to make it realistic"; a justification is required."""
    clause = get_clause(session=session, actor=actor, clause_id=clause_id)
    service.require_facilitation(actor, clause.marche)
    return apply_override(
        session=session, clause=clause, hours=hours, justification=justification, author=actor.login
    )


def apply_override(
    *,
    session: Session,
    clause: Clause,
    hours: Any,
    justification: str | None,
    author: str | None,
    field: str = "justification",
) -> CalibrationOverride:
    """Record the override (author, previous and new value, justification, time)."""
    value = to_decimal(hours, "hours")
    if not (justification or "").strip():
        raise FormInvalid(
            "Tout ajustement du calibrage doit être justifié.",
            errors={field: "obligatoire quand les heures retenues diffèrent du calcul"},
        )
    override = CalibrationOverride(
        author=author,
        previous_value=clause.hours_target,
        value=value,
        justification=justification.strip(),
        at=timers.now(),
    )
    clause.overrides.append(override)
    clause.hours_target = value
    clause.validated_at = clause.validated_by = None
    session.flush()
    return override


def validate_calibration(
    *, session: Session, actor: Actor, clause_id: int, validated: bool
) -> Clause:
    """The buyer validates (or refuses) the calibrated target."""
    clause = get_clause(session=session, actor=actor, clause_id=clause_id)
    clause.validated_at = timers.now() if validated else None
    clause.validated_by = actor.login if validated else None
    session.flush()
    return clause


def target_hours(marche: Marche) -> Decimal | None:
    """The marché's target: the sum of its lots' targets when lots are calibrated, else its own."""
    lots = [c.hours_target for c in marche.clauses if c.lot_id and c.hours_target is not None]
    if lots:
        return sum(lots, Decimal(0))
    own = next((c for c in marche.clauses if c.lot_id is None), None)
    return own.hours_target if own else None
