"""The lifecycle drives the domain: each completed lifecycle task updates its marché.

Registered on the engine with `runtime.on_task_completed`; runs inside `complete_task`, in the same
transaction, after form validation: a refusal here (FormInvalid naming a form field) refuses the
completion. Instances started without a marché row (tests, the CLI `start`) are left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from workflows.access import Actor
from workflows.engine import runtime, timers
from workflows.engine.errors import FormInvalid, NotFound
from workflows.engine.models import HumanTask, Instance
from workflows.gouvernance import service as gouvernance
from workflows.values import to_date

from . import advice, calibration, service
from .models import Lot, Marche

# analyse_amont form field → marché column
ANALYSIS_FIELDS = {
    "objet": "subject",
    "montant_estime_ht": "estimated_amount_ht",
    "montant_maximum_ht": "max_amount_ht",
    "duree_mois": "duration_months",
    "nature": "nature",
    "code_cpv": "cpv_code",
    "lieu_execution": "place_of_execution",
    "accord_cadre": "is_framework",
}


def _actor(row: HumanTask) -> Actor:
    """The lifecycle acts for whoever completes the task; the inbox already checked who may."""
    return Actor(login=row.completed_by or row.assignee or "processus", role="admin")


def _author(row: HumanTask) -> str | None:
    # The engine sets completed_by after the listeners run: until it passes the actor, the
    # assignee (if the task was claimed) is the best we know.
    return row.completed_by or row.assignee


def _renamed(exc: FormInvalid, names: dict[str, str]) -> FormInvalid:
    """The same refusal, naming the form's fields instead of the marché's columns."""
    back = {column: form for form, column in names.items()}
    return FormInvalid(exc.message, errors={back.get(k, k): v for k, v in exc.errors.items()})


def _analysis(session, seen, row, marche: Marche, data: dict[str, Any]) -> None:
    fields = {ANALYSIS_FIELDS[k]: v for k, v in data.items() if k in ANALYSIS_FIELDS}
    if "is_framework" in fields:
        fields["is_framework"] = bool(fields["is_framework"])
    try:
        service.update(session=session, actor=_actor(row), marche_id=marche.id, **fields)
    except FormInvalid as exc:
        raise _renamed(exc, ANALYSIS_FIELDS) from exc
    if data.get("nb_structures_locales") is not None:
        marche.local_structures = int(data["nb_structures_locales"])
    titles = [t.strip() for t in str(data.get("lots") or "").replace("\n", ";").split(";")]
    known = {lot.title for lot in marche.lots}
    for title in (t for t in titles if t and t not in known):
        marche.lots.append(Lot(number=len(marche.lots) + 1, title=title))
    marche.phase = "analyse"
    _advise(session, row, marche)


def _advise(session, row, marche: Marche) -> None:
    """Advice on the analysed project, kept on the marché before the buyer chooses."""
    try:
        advice.advise_disposition(
            session=session,
            actor=_actor(row),
            marche_id=marche.id,
            local_structures=marche.local_structures,
        )
    except NotFound:  # no advice table deployed: nothing to advise or compare with
        pass


def _advice_seen(session, seen, row, marche: Marche) -> None:
    """Keep the advice the buyer was shown; compute it if this process version has none."""
    if "disposition_conseillee" in seen:
        found = advice.Advice.from_outputs(seen)
        advice.store_advice(marche, found, seen.get("nb_structures_locales"))
    elif marche.advice_disposition is None:
        _advise(session, row, marche)


def _choice(session, seen, row, marche: Marche, data: dict[str, Any]) -> None:
    _advice_seen(session, seen, row, marche)
    advice.record_choice(
        session=session,
        actor=_actor(row),
        marche_id=marche.id,
        disposition=data["disposition"],
        reservation=data.get("type_reservation"),
        justification=data.get("justification_disposition"),
    )
    marche.phase = {"aucune": "analyse", "marche_reserve": "consultation"}.get(
        data["disposition"], "calibrage"
    )


def _no_disposition(session, seen, row, marche: Marche, data: dict[str, Any]) -> None:
    marche.no_disposition_reason = data.get("motif_absence")
    marche.phase = "clos"


def _calibration(session, seen, row, marche: Marche, data: dict[str, Any]) -> None:
    """Record the formula's inputs as computed by the process, then any override."""
    clause = next((c for c in marche.clauses if c.lot_id is None), None)
    if clause is None or "heures_calculees" not in seen:
        return
    calculated = Decimal(str(seen["heures_calculees"]))
    if clause.calculated_hours != calculated:
        framework = seen.get("accord_cadre") and seen.get("montant_maximum_ht")
        clause.method = "formule"
        clause.amount_basis = "maximum" if framework else "estime"
        clause.amount_ht = Decimal(str(framework or seen["montant_estime_ht"]))
        clause.labour_share = Decimal(str(seen["part_main_oeuvre"]))
        clause.insertion_rate = Decimal(str(seen["taux_insertion"]))
        clause.hourly_cost = Decimal(str(seen["cout_horaire"]))
        clause.calculated_hours = clause.hours_target = calculated
        clause.calibrated_at = timers.now()
        clause.calibrated_by = _author(row)
    retained = Decimal(str(data.get("heures_retenues", seen.get("heures_retenues"))))
    if retained != clause.hours_target:
        calibration.apply_override(
            session=session,
            clause=clause,
            hours=retained,
            justification=data.get("justification_calibrage"),
            author=_author(row),
            field="justification_calibrage",
        )
    marche.phase = "calibrage"


def _validation(session, seen, row, marche: Marche, data: dict[str, Any]) -> None:
    clause = next((c for c in marche.clauses if c.lot_id is None), None)
    if clause is not None and data.get("calibrage_valide"):
        clause.validated_at = timers.now()
        clause.validated_by = _author(row)
    marche.phase = "consultation" if data.get("calibrage_valide") else "calibrage"


def _consultation(session, seen, row, marche: Marche, data: dict[str, Any]) -> None:
    marche.consultation_reference = data.get("reference_consultation")
    if data.get("date_publication"):
        marche.publication_date = to_date(data["date_publication"], "date_publication")
    marche.phase = "consultation"


def _notification(session, seen, row, marche: Marche, data: dict[str, Any]) -> None:
    text = data.get("titulaires") or ""
    try:
        service.record_notification(
            session=session,
            actor=_actor(row),
            marche_id=marche.id,
            notification_date=data["date_notification"],
            final_amount_ht=data["montant_final_ht"],
            holders=service.parse_holders(text),
        )
    except FormInvalid as exc:
        raise _renamed(exc, {"titulaires": "siret"}) from exc
    marche.holders_text = text
    marche.phase = "lancement"


def _kickoff(session, seen, row, marche: Marche, data: dict[str, Any]) -> None:
    gouvernance.create_meeting(
        session=session,
        actor=_actor(row),
        kind="lancement",
        held_on=data["date_reunion"],
        marche_id=marche.id,
        title=f"Réunion de lancement — {marche.reference}",
        minutes=data.get("compte_rendu"),
    )
    marche.phase = "bilan" if marche.disposition == "marche_reserve" else "execution"


def _bilan(session, seen, row, marche: Marche, data: dict[str, Any]) -> None:
    marche.bilan_text = data.get("bilan_qualitatif")
    marche.bilan_date = timers.now().date()
    marche.phase = "clos"


Handler = Callable[[Session, Instance, HumanTask, Marche, dict[str, Any]], None]
HANDLERS: dict[str, Handler] = {
    "analyse_amont": _analysis,
    "choisir_disposition": _choice,
    "motiver_absence": _no_disposition,
    "calibrer_heures": _calibration,
    "valider_calibrage": _validation,
    "rediger_consultation": _consultation,
    "enregistrer_notification": _notification,
    "tenir_reunion_lancement": _kickoff,
    "rediger_bilan": _bilan,
}


@runtime.on_task_completed
def on_lifecycle_task(
    session: Session,
    instance: Instance,
    row: HumanTask,
    data: dict[str, Any],
    seen: dict[str, Any],
) -> None:
    """Map a completed lifecycle task onto its marché's records (nothing without a marché)."""
    handler = HANDLERS.get(row.element_id)
    if row.process_key != service.PROCESS_KEY or handler is None:
        return None
    marche = service.get_by_instance(session=session, instance_id=instance.id)
    if marche is None:
        return None
    handler(session, seen, row, marche, data)  # flushed with the instance, by the engine
    return None
