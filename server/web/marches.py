"""Marchés: the scoped list (search, filters, CSV), registering a marché (which starts its
lifecycle), the page of one marché and the facilitators' screens (monthly hours, beneficiaries,
outcomes).

The page shows the summary, disposition and clause, the calibration with its overrides, the hours
progress, holders, the timeline of the marché and its instance, meetings (with their .ics), open
tasks, the diagram (bpmn-js viewer fed by `diagramme.json`) and the bilan with its exports.
Every read and write goes through the services of `workflows/` (they scope and audit); a marché
out of the actor's scope answers 404, a facilitators' screen asked by a buyer 403.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from babel.numbers import format_percent
from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import format_currency, format_decimal, get_locale, lazy_gettext
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.exceptions import HTTPException

from notifications import ics
from notifications.models import CalendarEvent
from notifications.settings import CURRENT
from workflows.access import Actor, require
from workflows.beneficiaires import service as beneficiaires
from workflows.beneficiaires.models import CRITERIA, SEXES
from workflows.bilans import exports as bilan_exports
from workflows.bilans import service as bilans
from workflows.engine import timers
from workflows.engine.errors import EngineError, FormInvalid, NotFound
from workflows.engine.models import Event, HumanTask, Timer
from workflows.execution import progress as execution_progress
from workflows.execution import service as execution
from workflows.execution.models import (
    CONTRACT_TYPES,
    COUNTING_METHODS,
    OUTCOME_KINDS,
    ROUTE_STRUCTURES,
    ROUTES,
    HoursRecord,
)
from workflows.gouvernance import service as gouvernance
from workflows.gouvernance.models import MEETING_KINDS
from workflows.marches import calibration
from workflows.marches import documents as marche_documents
from workflows.marches import service as marches
from workflows.marches.models import (
    DISPOSITIONS,
    NATURES,
    PHASES,
    RESERVATIONS,
    Marche,
)
from workflows.referentiel import service as referentiel
from workflows.referentiel.models import InclusiveStructure, Organisation, Territory
from workflows.reports import MEDIA_TYPES
from workflows.values import to_date, to_decimal

from ..api import scope
from . import dates
from .forms import FieldView
from .pages import engine_error, http_error, page

bp = Blueprint("marches_web", __name__, url_prefix="/marches")
bp.register_error_handler(EngineError, engine_error)
bp.register_error_handler(HTTPException, http_error)

PAGE_SIZE = 20
JOURNAL_SIZE = 15
PHASE_LABELS = {
    "analyse": lazy_gettext("Analyse amont"),
    "calibrage": lazy_gettext("Calibrage"),
    "consultation": lazy_gettext("Consultation"),
    "notification": lazy_gettext("Notification"),
    "lancement": lazy_gettext("Lancement"),
    "execution": lazy_gettext("Exécution"),
    "bilan": lazy_gettext("Bilan"),
    "clos": lazy_gettext("Clos"),
}
EVENT_LABELS = {
    "instance.started": lazy_gettext("Cycle de vie démarré"),
    "task.completed": lazy_gettext("Tâche terminée"),
    "task.claimed": lazy_gettext("Tâche prise"),
    "task.unclaimed": lazy_gettext("Tâche rendue à son groupe"),
    "task.assigned": lazy_gettext("Tâche attribuée"),
    "task.delegated": lazy_gettext("Tâche déléguée"),
    "task.resolved": lazy_gettext("Tâche déléguée résolue"),
    "task.comment": lazy_gettext("Commentaire"),
    "task.due_changed": lazy_gettext("Échéance modifiée"),
    "timers.fired": lazy_gettext("Échéance du processus atteinte"),
    "message.correlated": lazy_gettext("Message reçu"),
    "instance.suspended": lazy_gettext("Suivi suspendu"),
    "instance.resumed": lazy_gettext("Suivi repris"),
    "instance.cancelled": lazy_gettext("Suivi annulé"),
    "instance.error": lazy_gettext("Erreur du processus"),
    "instance.retried": lazy_gettext("Relancé après une erreur"),
    "instance.migrated": lazy_gettext("Passé à une autre version du processus"),
    "document.added": lazy_gettext("Document ajouté"),
    "document.removed": lazy_gettext("Document retiré"),
}
PRIVATE_EVENTS = {"task.draft"}  # a person's drafts are theirs
EXPORTS = ("pdf", "xlsx", "csv")
MONTH = re.compile(r"^\s*(\d{4})-(\d{1,2})\s*$")
MONTH_FR = re.compile(r"^\s*(\d{1,2})/(\d{4})\s*$")


# --- shared helpers -------------------------------------------------------------------------


def visible_marche(session: Session, actor: Actor, marche_id: int) -> Marche:
    """The marché through the service; out of scope is answered as absent (404)."""
    listed = session.scalar(select(Marche.id).where(Marche.id == marche_id, marches.visible(actor)))
    if listed is None:
        raise NotFound(_("Ce marché n'existe pas ou n'est pas dans votre périmètre."))
    return marches.get(session=session, actor=actor, marche_id=marche_id)


def followed_marche(session: Session, actor: Actor, marche_id: int) -> Marche:
    """A marché the actor follows as facilitator (403 for its buyer, 404 for anyone else)."""
    marche = visible_marche(session, actor, marche_id)
    marches.require_facilitation(actor, marche)
    return marche


def hours_text(value: Decimal | int | float | None) -> str:
    """A number of hours as the user's language writes it ("1 234,5 h")."""
    if value is None:
        return "—"
    return _("%(h)s h", h=format_decimal(Decimal(value).normalize(), format="#,##0.##"))


def pct(share: Decimal | float | None) -> str:
    """A share (0.055) as the user's language writes a percentage ("5,5 %"), to 0.1 %."""
    if share is None:
        return "—"
    value = Decimal(str(share)).quantize(Decimal("0.001"))
    return format_percent(value, locale=get_locale(), decimal_quantization=False)


def money(value: Decimal | None) -> str:
    return format_currency(value, "EUR") if value is not None else "—"


def short(value: date | datetime | None) -> str:
    return dates.short_date(value)


def month_text(value: date | None) -> str:
    return f"{value:%m/%Y}" if value else "—"


def disposition_label(marche: Marche) -> str | None:
    if not marche.disposition:
        return None
    label = DISPOSITIONS.get(marche.disposition, marche.disposition)
    if marche.reservation:
        label = f"{label} — {RESERVATIONS.get(marche.reservation, marche.reservation)}"
    return label


def _csv(rows: list[list[Any]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def attachment(data: bytes, media_type: str, filename: str) -> Response:
    response = Response(data, mimetype=media_type.split(";")[0])
    response.headers["Content-Type"] = media_type
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


# --- the list ---------------------------------------------------------------------------------


def list_filters(args: Any) -> dict[str, str]:
    kept = {k: (args.get(k) or "").strip() for k in ("q", "phase", "territoire", "acheteur")}
    if kept["phase"] not in PHASES:
        kept["phase"] = ""
    for key in ("territoire", "acheteur"):
        if not kept[key].isdigit():
            kept[key] = ""
    return kept


def list_query(actor: Actor, kept: dict[str, str]) -> Select:
    """The actor's marchés (the service's scope), searched and filtered, newest first."""
    query = select(Marche).where(marches.visible(actor)).order_by(Marche.id.desc())
    if kept["q"]:
        words = kept["q"].lower()
        query = query.where(
            or_(
                func.lower(Marche.reference).contains(words, autoescape=True),
                func.lower(Marche.subject).contains(words, autoescape=True),
            )
        )
    if kept["phase"]:
        query = query.where(Marche.phase == kept["phase"])
    if kept["territoire"]:
        query = query.where(Marche.territory_id == int(kept["territoire"]))
    if kept["acheteur"]:
        query = query.where(Marche.buyer_id == int(kept["acheteur"]))
    return query


def list_choices(session: Session, actor: Actor) -> dict[str, list[tuple[str, str]]]:
    """Territories and buyers of the marchés the actor may see."""
    seen: ColumnElement[bool] = marches.visible(actor)
    territories = session.execute(
        select(Territory.id, Territory.name)
        .where(Territory.id.in_(select(Marche.territory_id).where(seen)))
        .order_by(Territory.name)
    ).all()
    buyers = session.execute(
        select(Organisation.id, Organisation.name)
        .where(Organisation.id.in_(select(Marche.buyer_id).where(seen)))
        .order_by(Organisation.name)
    ).all()
    return {
        "territories": [(str(i), n) for i, n in territories],
        "buyers": [(str(i), n) for i, n in buyers],
        "phases": [(p, str(PHASE_LABELS[p])) for p in PHASES],
    }


def delivered_by_marche(session: Session, ids: list[int]) -> dict[int, Decimal]:
    """Counted hours per marché (aggregates: what buyers may see too)."""
    if not ids:
        return {}
    rows = session.execute(
        select(HoursRecord.marche_id, func.sum(HoursRecord.hours))
        .where(HoursRecord.marche_id.in_(ids), HoursRecord.counted.is_(True))
        .group_by(HoursRecord.marche_id)
    )
    return {marche_id: Decimal(total or 0) for marche_id, total in rows}


def list_rows(session: Session, found: list[Marche]) -> list[dict[str, Any]]:
    ids = [m.id for m in found]
    names = dict(
        session.execute(
            select(Organisation.id, Organisation.name).where(
                Organisation.id.in_({m.buyer_id for m in found})
            )
        ).all()
    )
    territories = dict(
        session.execute(
            select(Territory.id, Territory.name).where(
                Territory.id.in_({m.territory_id for m in found})
            )
        ).all()
    )
    delivered = delivered_by_marche(session, ids)
    return [
        {
            "marche": m,
            "buyer": names.get(m.buyer_id, "—"),
            "territory": territories.get(m.territory_id, "—"),
            "phase": str(PHASE_LABELS.get(m.phase, m.phase)),
            "disposition": disposition_label(m),
            "amount": marches.amount(m),
            "target": calibration.target_hours(m),
            "delivered": delivered.get(m.id, Decimal(0)),
        }
        for m in found
    ]


def _list_linker(args: Any):
    current = {k: v for k, v in args.items() if k not in ("page", "lang")}

    def link(**changes: Any) -> str:
        merged = {k: v for k, v in {**current, **changes}.items() if v not in (None, "")}
        return url_for("marches_web.index", **merged)

    return link


@bp.get("/")
@page
def index(*, session: Session, actor: Actor):
    """Marchés visibles : recherche, filtres, pagination."""
    kept = list_filters(request.args)
    query = list_query(actor, kept)
    total = (
        session.scalar(
            query.order_by(None).with_only_columns(func.count(), maintain_column_froms=True)
        )
        or 0
    )
    pages = max(1, math.ceil(total / PAGE_SIZE))
    number = min(max(1, request.args.get("page", 1, type=int) or 1), pages)
    found = list(
        session.scalars(
            query.options(selectinload(Marche.clauses))
            .offset((number - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE)
        )
    )
    return render_template(
        "marches/list.html",
        rows=list_rows(session, found),
        total=total,
        page_number=number,
        pages=pages,
        filters=kept,
        choices=list_choices(session, actor),
        link=_list_linker(request.args),
        hours_text=hours_text,
        money=money,
        may_create=may_create(actor),
    )


@bp.get("/export.csv")
@page
def export_list(*, session: Session, actor: Actor):
    """La liste filtrée en CSV (aucune donnée de bénéficiaire : elle convient aux acheteurs)."""
    kept = list_filters(request.args)
    found = list(session.scalars(list_query(actor, kept).options(selectinload(Marche.clauses))))
    header = [
        _("Référence"),
        _("Objet"),
        _("Acheteur"),
        _("Territoire"),
        _("Phase"),
        _("Disposition sociale"),
        _("Article"),
        _("Montant HT (€)"),
        _("Date de notification"),
        _("Heures d'insertion (objectif)"),
        _("Heures réalisées (comptées)"),
    ]
    rows = [header]
    for row in list_rows(session, found):
        m = row["marche"]
        rows.append(
            [
                m.reference,
                m.subject,
                row["buyer"],
                row["territory"],
                row["phase"],
                row["disposition"] or "",
                m.disposition_article or "",
                str(row["amount"]).replace(".", ","),
                m.notification_date.isoformat() if m.notification_date else "",
                str(row["target"]).replace(".", ",") if row["target"] is not None else "",
                str(row["delivered"]).replace(".", ","),
            ]
        )
    return attachment(_csv(rows), MEDIA_TYPES["csv"], "marches.csv")


# --- the page of one marché -------------------------------------------------------------------


@dataclass
class TimelineEntry:
    at: datetime
    actor: str | None
    label: str
    detail: str = ""


def summary(session: Session, marche: Marche) -> dict[str, Any]:
    buyer = session.get(Organisation, marche.buyer_id)
    lead = session.get(Territory, marche.territory_id)
    others = [session.get(Territory, a.territory_id) for a in marche.attached]
    facilitator = (
        referentiel.get_facilitator(session=session, facilitator_id=marche.lead_facilitator_id)
        if marche.lead_facilitator_id
        else None
    )
    return {
        "buyer": buyer.name if buyer else "—",
        "territory": lead.name if lead else "—",
        "others": [t.name for t in others if t is not None],
        "facilitator": facilitator.full_name if facilitator else None,
        "nature": NATURES.get(marche.nature, marche.nature),
        "phase": str(PHASE_LABELS.get(marche.phase, marche.phase)),
        "disposition": disposition_label(marche),
        "advice": DISPOSITIONS.get(marche.advice_disposition or "", None),
        "advice_reservation": RESERVATIONS.get(marche.advice_reservation or "", None),
    }


def progress_view(progress: execution_progress.Progress) -> dict[str, Any]:
    """Shares of the target for the bar (delivered, expected by today), capped at 100 %."""
    target = progress.target

    def share(value: Decimal | None) -> float | None:
        if value is None or not target:
            return None
        return float(min(Decimal(100), value / target * 100).quantize(Decimal("0.1")))

    statuses = {
        "sans objectif": (_("Sans objectif d'heures"), "info"),
        "objectif atteint": (_("Objectif atteint"), "success"),
        "non démarré": (_("Exécution non démarrée"), "info"),
        "en retard": (_("En retard"), "error"),
        "dans les temps": (_("Dans les temps"), "success"),
    }
    label, tone = statuses.get(progress.status, (progress.status, "info"))
    return {
        "p": progress,
        "delivered_pct": share(progress.delivered) or 0.0,
        "expected_pct": share(progress.expected),
        "status": label,
        "tone": tone,
    }


def timeline(session: Session, actor: Actor, marche: Marche, follows: bool) -> list[TimelineEntry]:
    """Events of the instance, calibration overrides and (facilitators) hours and outcomes."""
    entries: list[TimelineEntry] = []
    if marche.instance_id is not None:
        events = session.scalars(
            select(Event)
            .where(Event.instance_id == marche.instance_id, Event.kind.not_in(PRIVATE_EVENTS))
            .order_by(Event.id.desc())
        )
        for event in events:
            label = str(EVENT_LABELS.get(event.kind, event.kind))
            data = event.data or {}
            detail = data.get("name") or ""
            if event.kind == "task.comment":
                detail = str(data.get("text") or "")[:300]
            elif event.kind in ("task.assigned", "task.delegated") and data.get("assignee"):
                detail = _("%(task)s → %(login)s", task=event.element_id, login=data["assignee"])
            elif event.kind in ("task.claimed", "task.unclaimed", "task.due_changed"):
                detail = event.element_id or ""
            elif event.kind == "instance.error":
                detail = str(data.get("message") or "")[:300]
            entries.append(TimelineEntry(event.at, event.actor, label, detail))
    for clause in marche.clauses:
        for o in clause.overrides:
            entries.append(
                TimelineEntry(
                    o.at,
                    o.author,
                    _("Objectif d'heures ajusté"),
                    _(
                        "%(before)s → %(after)s : %(why)s",
                        before=hours_text(o.previous_value),
                        after=hours_text(o.value),
                        why=o.justification,
                    ),
                )
            )
    if follows:
        for r in execution.get_all_hours(session=session, actor=actor, marche_id=marche.id):
            detail = _(
                "%(hours)s, mois de %(month)s, %(route)s",
                hours=hours_text(r.hours),
                month=month_text(r.month),
                route=ROUTES.get(r.route, r.route),
            )
            if not r.counted:
                detail += " — " + _("non comptées")
            entries.append(TimelineEntry(r.created_at, r.created_by, _("Relevé d'heures"), detail))
        for o in execution.get_all_outcomes(session=session, actor=actor, marche_id=marche.id):
            entries.append(
                TimelineEntry(
                    o.recorded_at,
                    o.recorded_by,
                    _("Sortie enregistrée"),
                    OUTCOME_KINDS.get(o.kind, o.kind),
                )
            )
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries


def meetings_of(session: Session, actor: Actor, marche: Marche) -> dict[str, Any]:
    """Meetings recorded for the marché, and the invitations sent (downloadable as .ics)."""
    held = gouvernance.get_all_meetings(session=session, actor=actor, marche_id=marche.id)
    invitations = []
    if marche.instance_id is not None:
        invitations = list(
            session.scalars(
                select(CalendarEvent)
                .where(CalendarEvent.instance_id == marche.instance_id)
                .order_by(CalendarEvent.starts_at)
            )
        )
    return {
        "held": [{"kind": MEETING_KINDS.get(m.kind, m.kind), "meeting": m} for m in held],
        "invitations": invitations,
    }


def open_tasks(session: Session, actor: Actor, marche: Marche) -> list[HumanTask]:
    if marche.instance_id is None:
        return []
    return list(
        session.scalars(
            scope.tasks(session, actor, state="open")
            .where(HumanTask.instance_id == marche.instance_id)
            .order_by(HumanTask.created_at)
        )
    )


def bilan_view(bilan: bilans.Bilan) -> dict[str, Any]:
    rate = None
    if bilan.target:
        rate = (bilan.delivered / bilan.target).quantize(Decimal("0.001"))
    groups = [
        (_("Heures par voie de réalisation"), bilan.by_route, True),
        (_("Heures par public"), bilan.by_public, True),
        (_("Bénéficiaires par sexe"), bilan.by_sex, False),
        (_("Bénéficiaires par âge"), bilan.by_age, False),
        (_("Contrats par type"), bilan.by_contract_type, False),
        (_("Sorties"), bilan.by_outcome, False),
    ]
    return {"b": bilan, "rate": rate, "groups": [g for g in groups if g[1]]}


@bp.get("/<int:marche_id>")
@page
def detail(marche_id: int, *, session: Session, actor: Actor):
    """Un marché : synthèse, clause, calibrage, avancement, titulaires, journal, diagramme."""
    marche = visible_marche(session, actor, marche_id)
    follows = actor.covers(marche.territory_ids)
    progress = execution_progress.progress(session=session, actor=actor, marche_id=marche.id)
    entries = timeline(session, actor, marche, follows)
    journal_pages = max(1, math.ceil(len(entries) / JOURNAL_SIZE))
    journal = min(max(1, request.args.get("journal", 1, type=int) or 1), journal_pages)
    first = (journal - 1) * JOURNAL_SIZE
    bilan = bilans.get_bilan(session=session, actor=actor, marche_id=marche.id)
    return render_template(
        "marches/detail.html",
        m=marche,
        info=summary(session, marche),
        follows=follows,
        progress=progress_view(progress),
        holders=marches.get_holders(session=session, marche_id=marche.id),
        lots={lot.id: lot for lot in marche.lots},
        holder_lines={line.key: line for line in progress.by_holder},
        journal=entries[first : first + JOURNAL_SIZE],
        journal_total=len(entries),
        journal_page=journal,
        journal_pages=journal_pages,
        meetings=meetings_of(session, actor, marche),
        tasks=open_tasks(session, actor, marche),
        bilan=bilan_view(bilan),
        outcomes=(
            execution.get_all_outcomes(session=session, actor=actor, marche_id=marche.id)
            if follows
            else []
        ),
        outcome_kinds=OUTCOME_KINDS,
        exports=EXPORTS,
        documents=marche_documents.listing(session=session, actor=actor, marche_id=marche.id),
        document_formats=", ".join(sorted(marche_documents.MEDIA_TYPES)),
        document_max_mb=marche_documents.MAX_BYTES // (1024 * 1024),
        hours_text=hours_text,
        money=money,
        pct=pct,
        short=short,
        when=dates.when,
        relative_due=dates.relative_due,
        due_state=dates.due_state,
        month_text=month_text,
    )


@bp.get("/<int:marche_id>/diagramme.json")
@page
def diagram(marche_id: int, *, session: Session, actor: Actor):
    """Le diagramme du cycle de vie : XML, tâches en cours, éléments terminés, minuteries en
    attente (`waiting` : un événement intermédiaire en attente est une étape en cours)."""
    marche = visible_marche(session, actor, marche_id)
    if marche.instance_id is None:
        return jsonify(xml=None, current=[], completed=[], status=None)
    instance = scope.get_instance(session=session, actor=actor, instance_id=marche.instance_id)
    rows = session.execute(
        select(HumanTask.element_id, HumanTask.state).where(HumanTask.instance_id == instance.id)
    ).all()
    current = sorted({element for element, state in rows if state == "open"})
    completed = {element for element, state in rows if state == "completed"}
    completed |= set(
        session.scalars(
            select(Event.element_id).where(
                Event.instance_id == instance.id,
                Event.kind == "task.completed",
                Event.element_id.is_not(None),
            )
        )
    )
    waiting = session.scalars(select(Timer.element_id).where(Timer.instance_id == instance.id))
    return jsonify(
        xml=instance.definition.bpmn_xml,
        current=current,
        completed=sorted(completed - set(current)),
        waiting=sorted(set(waiting)),
        status=instance.status,
    )


@bp.get("/<int:marche_id>/bilan.<any(pdf, xlsx, csv):fmt>")
@page
def bilan_export(marche_id: int, fmt: str, *, session: Session, actor: Actor):
    """Le bilan en PDF, XLSX ou CSV, tel que l'acteur peut le voir (pseudonymes, jamais de noms)."""
    marche = visible_marche(session, actor, marche_id)
    data = bilan_exports.export_bilan(session=session, actor=actor, marche_id=marche.id, fmt=fmt)
    return attachment(data, MEDIA_TYPES[fmt], f"bilan-{marche.reference}.{fmt}")


@bp.get("/<int:marche_id>/reunions/<int:event_id>.ics")
@page
def invitation(marche_id: int, event_id: int, *, session: Session, actor: Actor):
    """Une réunion du marché au format iCalendar, à ajouter à son agenda."""
    marche = visible_marche(session, actor, marche_id)
    event = session.get(CalendarEvent, event_id)
    if event is None or marche.instance_id is None or event.instance_id != marche.instance_id:
        raise NotFound(_("Cette réunion n'existe pas."))
    settings = CURRENT["settings"]
    sender = settings.sender
    organizer = sender[sender.find("<") + 1 : sender.find(">")] if "<" in sender else sender
    text = ics.build(event, organizer=organizer, attendees=[], now=timers.now())
    return attachment(
        text.encode("utf-8"), "text/calendar; charset=utf-8", f"reunion-{marche.reference}.ics"
    )


# --- facilitators' screens --------------------------------------------------------------------


def _month(value: str) -> str:
    """ "2026-10" or "10/2026" → "2026-10-01"; anything else is left for the service to refuse."""
    match = MONTH.match(value)
    if match:
        return f"{match.group(1)}-{int(match.group(2)):02d}-01"
    match = MONTH_FR.match(value)
    if match:
        return f"{match.group(2)}-{int(match.group(1)):02d}-01"
    return value


def _choice_id(value: str, options: list[tuple[str, str]]) -> int | None:
    return int(value) if value in dict(options) else None


def _render_form(
    template_args: dict[str, Any],
    fields: list[FieldView],
    errors: dict[str, str],
    problem: str | None,
):
    for f in fields:
        f.error = errors.get(f.id)
    unplaced = [msg for key, msg in errors.items() if key not in {f.id for f in fields}]
    return (
        render_template(
            "marches/form.html",
            fields=fields,
            problem=problem,
            unplaced=unplaced,
            **template_args,
        ),
        200,
    )


def _refused(session: Session, exc: FormInvalid, renames: dict[str, str] | None = None):
    """Errors of the service on the form's fields (nothing written)."""
    session.rollback()
    errors = {(renames or {}).get(k, k): v for k, v in exc.errors.items()}
    return errors, exc.message


def _people_options(session: Session, actor: Actor, marche_id: int | None = None):
    """Beneficiaries the facilitator may see (the service logs each listing), named."""
    found = beneficiaires.get_all(session=session, actor=actor, marche_id=marche_id)
    options = []
    for person in found:
        if person.erased_at is not None:
            continue
        name = " ".join(p for p in (person.last_name, person.first_name) if p)
        options.append((str(person.id), f"{name} ({person.pseudonym})"))
    options.sort(key=lambda o: o[1].lower())
    return options


def _holder_options(session: Session, marche: Marche) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for holder, _lot in marches.get_holders(session=session, marche_id=marche.id):
        seen.setdefault(str(holder.id), f"{holder.name} (SIRET {holder.siret})")
    return list(seen.items())


def _structure_options(session: Session, marche: Marche) -> list[tuple[str, str]]:
    kinds = sorted(set().union(*ROUTE_STRUCTURES.values()))
    rows = session.scalars(
        select(InclusiveStructure)
        .where(InclusiveStructure.kind.in_(kinds))
        .order_by(InclusiveStructure.kind, InclusiveStructure.name)
    )
    return [(str(s.id), f"{s.kind} — {s.name}") for s in rows]


def _text(name: str) -> str:
    return (request.form.get(name) or "").strip()


def hours_fields(session, actor, marche, values: dict[str, str]) -> list[FieldView]:
    lots = [(str(lot.id), f"{lot.number} — {lot.title}") for lot in marche.lots]
    fields = [
        FieldView(
            "beneficiary_id",
            _("Bénéficiaire"),
            "enum",
            required=True,
            options=_people_options(session, actor),
        ),
        FieldView(
            "holder_id",
            _("Titulaire"),
            "enum",
            required=True,
            options=_holder_options(session, marche),
        ),
        FieldView(
            "month",
            _("Mois"),
            "string",
            required=True,
            hints=[_("AAAA-MM, par exemple %(m)s", m=f"{timers.now():%Y-%m}")],
        ),
        FieldView(
            "hours",
            _("Heures travaillées dans le mois"),
            "double",
            required=True,
            hints=[_("Nombre, décimales avec une virgule"), _("Au plus 744")],
        ),
        FieldView(
            "training_hours",
            _("Dont heures de formation"),
            "double",
            hints=[_("Nombre, décimales avec une virgule")],
        ),
        FieldView(
            "route",
            _("Voie de réalisation"),
            "enum",
            required=True,
            options=list(ROUTES.items()),
        ),
        FieldView(
            "structure_id",
            _("Structure inclusive (ETTI, GEIQ, AI, EI, ACI, EA, ESAT)"),
            "enum",
            options=_structure_options(session, marche),
            hints=[_("Sauf embauche directe")],
        ),
        FieldView(
            "contract_type",
            _("Type de contrat"),
            "enum",
            required=True,
            options=list(CONTRACT_TYPES.items()),
        ),
        FieldView("contract_start", _("Début du contrat"), "date", required=True),
        FieldView(
            "counting_method",
            _("Méthode de décompte"),
            "enum",
            required=True,
            options=list(COUNTING_METHODS.items()),
        ),
    ]
    if lots:
        fields.insert(2, FieldView("lot_id", _("Lot"), "enum", options=lots))
    for f in fields:
        f.value = values.get(f.id, "")
    return fields


def _typed(values: dict[str, str], *, decimals=(), days=()) -> dict[str, str]:
    """The service's own conversions, run early so that every bad field shows at once."""
    errors = {}
    for names, convert in ((decimals, to_decimal), (days, to_date)):
        for name in names:
            if values.get(name):
                try:
                    convert(values[name], name)
                except FormInvalid as exc:
                    errors.update(exc.errors)
    return errors


def _required(fields: list[FieldView], values: dict[str, str]) -> dict[str, str]:
    return {f.id: _("obligatoire") for f in fields if f.required and not values.get(f.id)}


def _form_args(marche: Marche, **more: Any) -> dict[str, Any]:
    return {"m": marche, **more}


@bp.route("/<int:marche_id>/heures", methods=["GET", "POST"])
@page
def hours(marche_id: int, *, session: Session, actor: Actor):
    """Saisir un mois d'heures d'un bénéficiaire (facilitateurs du marché)."""
    marche = followed_marche(session, actor, marche_id)
    args = _form_args(
        marche,
        title=_("Saisir des heures d'insertion"),
        intro=_(
            "Un relevé par bénéficiaire, titulaire et mois. Les heures ne comptent que si "
            "l'éligibilité de la personne était validée au début de son contrat."
        ),
        action=url_for("marches_web.hours", marche_id=marche.id),
        submit=_("Enregistrer les heures"),
        extra_link=(
            url_for("marches_web.new_beneficiary", marche_id=marche.id),
            _("Le bénéficiaire n'est pas dans la liste : l'enregistrer"),
        ),
    )
    if request.method == "GET":
        defaults = {
            "month": f"{timers.now():%Y-%m}",
            "counting_method": "heures_travaillees",
            "beneficiary_id": request.args.get("beneficiaire", ""),
        }
        holders = _holder_options(session, marche)
        if len(holders) == 1:
            defaults["holder_id"] = holders[0][0]
        return _render_form(args, hours_fields(session, actor, marche, defaults), {}, None)
    names = (
        "beneficiary_id", "holder_id", "lot_id", "month", "hours", "training_hours", "route",
        "structure_id", "contract_type", "contract_start", "counting_method",
    )  # fmt: skip
    values = {name: _text(name) for name in names}
    fields = hours_fields(session, actor, marche, values)
    options = {f.id: f.options for f in fields}
    errors = _required(fields, values)
    for key in ("beneficiary_id", "holder_id", "structure_id", "lot_id"):
        if values.get(key) and key in options and _choice_id(values[key], options[key]) is None:
            errors[key] = _("choix invalide")
    errors.update(_typed(values, decimals=("hours", "training_hours"), days=("contract_start",)))
    problem = _("Le relevé contient des erreurs.")
    if errors:
        return _render_form(args, fields, errors, problem)
    try:
        record = execution.record_hours(
            session=session,
            actor=actor,
            marche_id=marche.id,
            holder_id=int(values["holder_id"]),
            beneficiary_id=int(values["beneficiary_id"]),
            month=_month(values["month"]),
            hours=values["hours"],
            route=values["route"],
            contract_type=values["contract_type"],
            contract_start=values["contract_start"],
            counting_method=values["counting_method"],
            training_hours=values["training_hours"] or 0,
            lot_id=int(values["lot_id"]) if values.get("lot_id") else None,
            structure_id=int(values["structure_id"]) if values["structure_id"] else None,
        )
    except FormInvalid as exc:
        errors, _message = _refused(session, exc)
        fields = hours_fields(session, actor, marche, values)
        return _render_form(args, fields, errors, problem)
    flash(
        _(
            "%(hours)s enregistrées pour le mois de %(month)s.",
            hours=hours_text(record.hours),
            month=month_text(record.month),
        ),
        "success",
    )
    if not record.counted:
        flash(record.flag or _("Heures non comptées."), "warning")
    return redirect(url_for("marches_web.detail", marche_id=marche.id) + "#avancement")


def beneficiary_fields(values: dict[str, str]) -> list[FieldView]:
    fields = [
        FieldView("last_name", _("Nom"), "string", required=True),
        FieldView("first_name", _("Prénom"), "string", required=True),
        FieldView(
            "birth_year",
            _("Année de naissance"),
            "long",
            hints=[_("Nombre entier"), _("Seule l'année est conservée")],
        ),
        FieldView("sex", _("Sexe"), "enum", options=list(SEXES.items())),
        FieldView("postcode", _("Code postal"), "string", hints=[_("5 chiffres")]),
        FieldView(
            "kind",
            _("Critère d'éligibilité"),
            "enum",
            options=list(CRITERIA.items()),
            hints=[_("Sans critère validé, ses heures ne comptent pas")],
        ),
        FieldView("validated_on", _("Date de validation du critère"), "date"),
        FieldView(
            "prescriber",
            _("Prescripteur"),
            "string",
            hints=[_("France Travail, Mission locale, PLIE, Cap emploi…")],
        ),
    ]
    for f in fields:
        f.value = values.get(f.id, "")
    return fields


def _following_territory(actor: Actor, marche: Marche) -> int:
    """The territory that will follow the person: the lead one, else the actor's among the
    marché's territories (a facilitator of an attached territory registers for their own)."""
    if actor.covers([marche.territory_id]):
        return marche.territory_id
    return min(actor.territory_ids & marche.territory_ids)


@bp.route("/<int:marche_id>/beneficiaires/nouveau", methods=["GET", "POST"])
@page
def new_beneficiary(marche_id: int, *, session: Session, actor: Actor):
    """Enregistrer un bénéficiaire suivi par le territoire du marché (données minimisées)."""
    marche = followed_marche(session, actor, marche_id)
    args = _form_args(
        marche,
        title=_("Enregistrer un bénéficiaire"),
        intro=_(
            "Données personnelles : seules celles utiles à la clause sont demandées. La fiche "
            "n'est visible que des facilitateurs des territoires concernés ; chaque accès est "
            "journalisé. Les acheteurs ne voient que des totaux."
        ),
        action=url_for("marches_web.new_beneficiary", marche_id=marche.id),
        submit=_("Enregistrer le bénéficiaire"),
        extra_link=None,
    )
    if request.method == "GET":
        return _render_form(args, beneficiary_fields({}), {}, None)
    names = (
        "last_name", "first_name", "birth_year", "sex", "postcode", "kind", "validated_on",
        "prescriber",
    )  # fmt: skip
    values = {name: _text(name) for name in names}
    fields = beneficiary_fields(values)
    errors = _required(fields, values)
    problem = _("La fiche contient des erreurs.")
    year = values["birth_year"]
    if year and not year.isdigit():
        errors["birth_year"] = _("un nombre entier est attendu")
    if values["sex"] and values["sex"] not in SEXES:
        errors["sex"] = _("choix invalide")
    if values["kind"] and not values["validated_on"]:
        errors["validated_on"] = _("obligatoire avec un critère")
    if values["validated_on"] and not values["kind"]:
        errors["kind"] = _("choisissez le critère validé")
    if errors:
        return _render_form(args, fields, errors, problem)
    try:
        person = beneficiaires.create(
            session=session,
            actor=actor,
            territory_id=_following_territory(actor, marche),
            first_name=values["first_name"],
            last_name=values["last_name"],
            birth_year=int(year) if year else None,
            sex=values["sex"] or None,
            postcode=values["postcode"] or None,
        )
        if values["kind"]:
            beneficiaires.add_criterion(
                session=session,
                actor=actor,
                beneficiary_id=person.id,
                kind=values["kind"],
                validated_on=values["validated_on"],
                prescriber=values["prescriber"] or None,
            )
    except FormInvalid as exc:
        errors, _message = _refused(session, exc)
        return _render_form(args, beneficiary_fields(values), errors, problem)
    flash(
        _("Bénéficiaire enregistré sous le pseudonyme %(code)s.", code=person.pseudonym),
        "success",
    )
    return redirect(url_for("marches_web.hours", marche_id=marche.id, beneficiaire=person.id))


def outcome_fields(session, actor, marche, values: dict[str, str]) -> list[FieldView]:
    fields = [
        FieldView(
            "beneficiary_id",
            _("Bénéficiaire"),
            "enum",
            required=True,
            options=_people_options(session, actor, marche.id),
            hints=[_("Les personnes ayant des heures sur ce marché")],
        ),
        FieldView("holder_id", _("Titulaire"), "enum", options=_holder_options(session, marche)),
        FieldView("contract_start", _("Début du contrat"), "date", required=True),
        FieldView("contract_end", _("Fin du contrat"), "date", required=True),
        FieldView(
            "kind",
            _("Sortie"),
            "enum",
            required=True,
            options=list(OUTCOME_KINDS.items()),
        ),
    ]
    for f in fields:
        f.value = values.get(f.id, "")
    return fields


@bp.route("/<int:marche_id>/sorties", methods=["GET", "POST"])
@page
def outcome(marche_id: int, *, session: Session, actor: Actor):
    """Enregistrer la sortie d'un bénéficiaire à la fin de son contrat."""
    marche = followed_marche(session, actor, marche_id)
    args = _form_args(
        marche,
        title=_("Enregistrer une sortie"),
        intro=_(
            "Ce que devient la personne à la fin de son contrat : CDI et CDD de 6 mois ou plus "
            "comptent comme sorties durables."
        ),
        action=url_for("marches_web.outcome", marche_id=marche.id),
        submit=_("Enregistrer la sortie"),
        extra_link=None,
    )
    if request.method == "GET":
        return _render_form(args, outcome_fields(session, actor, marche, {}), {}, None)
    names = ("beneficiary_id", "holder_id", "contract_start", "contract_end", "kind")
    values = {name: _text(name) for name in names}
    fields = outcome_fields(session, actor, marche, values)
    options = {f.id: f.options for f in fields}
    errors = _required(fields, values)
    for key in ("beneficiary_id", "holder_id"):
        if values[key] and _choice_id(values[key], options[key]) is None:
            errors[key] = _("choix invalide")
    errors.update(_typed(values, days=("contract_start", "contract_end")))
    problem = _("La sortie contient des erreurs.")
    if errors:
        return _render_form(args, fields, errors, problem)
    try:
        execution.record_outcome(
            session=session,
            actor=actor,
            marche_id=marche.id,
            beneficiary_id=int(values["beneficiary_id"]),
            holder_id=int(values["holder_id"]) if values["holder_id"] else None,
            contract_start=values["contract_start"],
            contract_end=values["contract_end"],
            kind=values["kind"],
        )
    except FormInvalid as exc:
        errors, _message = _refused(session, exc)
        return _render_form(args, outcome_fields(session, actor, marche, values), errors, problem)
    flash(_("Sortie enregistrée."), "success")
    return redirect(url_for("marches_web.detail", marche_id=marche.id) + "#sorties")


# --- registering a marché ---------------------------------------------------------------------

NEW_FIELDS = (
    "reference", "subject", "nature", "cpv_code", "estimated_amount_ht", "duration_months",
    "buyer_id", "territory_id", "place_of_execution", "is_framework", "max_amount_ht",
)  # fmt: skip
MAX_LENGTHS = {"reference": 100, "subject": 500, "place_of_execution": 300}
MAX_AMOUNT = Decimal(10) ** 11


def may_create(actor: Actor) -> bool:
    """Who may register a marché (the service's rule): a buyer for its own organisation, a
    facilitator or coordinator in one of its territories, an admin."""
    if actor.role == "acheteur":
        return actor.organisation_id is not None
    return actor.is_admin or (actor.facilitates and bool(actor.territory_ids))


def _territory_options(session: Session, actor: Actor) -> list[tuple[str, str]]:
    """A buyer may register in any territory; facilitators in theirs; admins anywhere."""
    found = referentiel.get_all_territories(session=session)
    if actor.facilitates:
        found = [t for t in found if t.id in actor.territory_ids]
    return [(str(t.id), t.name) for t in found]


def _buyer_options(session: Session, actor: Actor) -> list[tuple[str, str]]:
    """The buyer's own organisation; for the others, every buyer organisation."""
    query = select(Organisation.id, Organisation.name).order_by(Organisation.name)
    if actor.role == "acheteur":
        query = query.where(Organisation.id == actor.organisation_id)
    else:
        query = query.where(Organisation.kind == "acheteur")
    return [(str(i), n) for i, n in session.execute(query).all()]


def new_fields(session: Session, actor: Actor, values: dict[str, str]) -> list[FieldView]:
    own_buyer = actor.role == "acheteur"
    fields = [
        FieldView(
            "reference",
            _("Référence du marché"),
            "string",
            required=True,
            hints=[_("Unique, par exemple GPSEA-2026-014"), _("Au plus %(n)s caractères", n=100)],
        ),
        FieldView("subject", _("Objet du marché"), "string", required=True),
        FieldView(
            "nature", _("Nature du marché"), "enum", required=True, options=list(NATURES.items())
        ),
        FieldView(
            "cpv_code",
            _("Code CPV principal"),
            "string",
            required=True,
            hints=[_("8 chiffres, par exemple 45233140 ou 45233140-2")],
        ),
        FieldView(
            "estimated_amount_ht",
            _("Montant estimé HT (€)"),
            "double",
            required=True,
            hints=[_("Nombre, décimales avec une virgule")],
        ),
        FieldView(
            "duration_months",
            _("Durée d'exécution (mois)"),
            "long",
            required=True,
            hints=[_("Nombre entier"), _("Entre 1 et 120")],
        ),
        FieldView(
            "buyer_id",
            _("Acheteur"),
            "enum",
            required=True,
            readonly=own_buyer,
            options=_buyer_options(session, actor),
        ),
        FieldView(
            "territory_id",
            _("Territoire (facilitateur chef de file)"),
            "enum",
            required=True,
            options=_territory_options(session, actor),
        ),
        FieldView("place_of_execution", _("Lieu d'exécution"), "string"),
        FieldView("is_framework", _("Accord-cadre"), "boolean"),
        FieldView(
            "max_amount_ht",
            _("Montant maximum HT de l'accord-cadre (€)"),
            "double",
            hints=[_("Seulement pour un accord-cadre")],
        ),
    ]
    for f in fields:
        f.value = values.get(f.id, "")
    return fields


def _new_args() -> dict[str, Any]:
    return {
        "m": None,
        "title": _("Enregistrer un marché"),
        "intro": _(
            "Le projet d'achat est enregistré le plus tôt possible : son cycle de vie démarre "
            "aussitôt par l'analyse amont, confiée à l'acheteur, et le facilitateur du territoire "
            "est associé dès les études préalables."
        ),
        "action": url_for("marches_web.new"),
        "submit": _("Enregistrer le marché"),
        "extra_link": None,
    }


def _new_errors(fields: list[FieldView], values: dict[str, str]) -> dict[str, str]:
    """Every bad field at once: required, lengths, choices, then the service's own checks."""
    errors = _required(fields, values)
    for name, most in MAX_LENGTHS.items():
        if len(values[name]) > most:
            errors[name] = _("au plus %(n)s caractères", n=most)
    for f in fields:
        if f.type == "enum" and values[f.id] and values[f.id] not in dict(f.options):
            errors[f.id] = _("choix invalide")
    if values["is_framework"] not in ("", "true", "false"):
        errors["is_framework"] = _("choix invalide")
    if values["max_amount_ht"] and values["is_framework"] != "true":
        errors.setdefault("max_amount_ht", _("seulement pour un accord-cadre"))
    checked = {
        name: values[name]
        for name in ("nature", "cpv_code", "estimated_amount_ht", "duration_months")
        if values[name]
    }
    checked["max_amount_ht"] = values["max_amount_ht"]
    try:
        marches.clean_fields(checked)
    except FormInvalid as exc:
        for name, message in exc.errors.items():
            errors.setdefault(name, message)
    for name in ("estimated_amount_ht", "max_amount_ht"):
        if name not in errors and values[name] and to_decimal(values[name], name) >= MAX_AMOUNT:
            errors[name] = _("montant trop élevé")
    return errors


@bp.route("/nouveau", methods=["GET", "POST"])
@page
def new(*, session: Session, actor: Actor):
    """Enregistrer un marché : son cycle de vie démarre (analyse amont par l'acheteur)."""
    require(may_create(actor), _("Votre compte ne permet pas d'enregistrer un marché."))
    args = _new_args()
    if request.method == "GET":
        defaults = {"is_framework": "false"}
        for name, options in (
            ("buyer_id", _buyer_options(session, actor)),
            ("territory_id", _territory_options(session, actor)),
        ):
            if len(options) == 1:
                defaults[name] = options[0][0]
        if actor.role == "acheteur":
            defaults["buyer_id"] = str(actor.organisation_id)
        return _render_form(args, new_fields(session, actor, defaults), {}, None)
    values = {name: _text(name) for name in NEW_FIELDS}
    if actor.role == "acheteur" and not values["buyer_id"]:
        values["buyer_id"] = str(actor.organisation_id)  # shown, not sent
    fields = new_fields(session, actor, values)
    errors = _new_errors(fields, values)
    problem = _("Le marché contient des erreurs.")
    if errors:
        return _render_form(args, fields, errors, problem)
    try:
        marche = marches.create_marche(
            session=session,
            actor=actor,
            reference=values["reference"],
            buyer_id=int(values["buyer_id"]),
            territory_id=int(values["territory_id"]),
            start_process=True,
            subject=values["subject"],
            nature=values["nature"],
            cpv_code=values["cpv_code"],
            estimated_amount_ht=values["estimated_amount_ht"],
            duration_months=values["duration_months"],
            place_of_execution=values["place_of_execution"] or None,
            is_framework=values["is_framework"] == "true",
            max_amount_ht=values["max_amount_ht"] or None,
        )
    except FormInvalid as exc:
        errors, _message = _refused(session, exc)
        errors = {
            name: _("référence déjà utilisée") if name == "reference" else message
            for name, message in errors.items()
        }
        return _render_form(args, new_fields(session, actor, values), errors, problem)
    flash(
        _(
            "Marché %(ref)s enregistré : son cycle de vie a démarré par l'analyse amont.",
            ref=marche.reference,
        ),
        "success",
    )
    return redirect(url_for("marches_web.detail", marche_id=marche.id))
