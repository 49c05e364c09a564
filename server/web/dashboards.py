"""Dashboards: the charter indicators of a territory (facilitators, coordinators, admins) or of a
buyer's own organisation, against the territory's objectives, with bar charts drawn server-side
as accessible inline SVG; and the committee pack, printable, with its PDF/XLSX/CSV exports.

Figures come from `workflows/indicateurs` (scoped there: a buyer only ever gets its own
organisation's). What leaves the facilitators' circle — a buyer's dashboard, the committee pack —
follows the small-group rule of `workflows/indicateurs/exports.protected_values`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from workflows.access import Actor
from workflows.engine.errors import EngineError, FormInvalid, NotFound
from workflows.indicateurs import exports
from workflows.indicateurs import service as indicateurs
from workflows.marches import service as marches
from workflows.marches.models import Marche
from workflows.referentiel import service as referentiel
from workflows.referentiel.models import Organisation, Territory
from workflows.reports import MEDIA_TYPES, Report, number
from workflows.values import to_date

from .marches import attachment, pct
from .pages import engine_error, http_error, page

bp = Blueprint("dashboards", __name__, url_prefix="/tableaux-de-bord")
bp.register_error_handler(EngineError, engine_error)
bp.register_error_handler(HTTPException, http_error)

EXPORTS = ("pdf", "xlsx", "csv")
HOURS = {"heures"}
MONTHS = {"duree_moyenne_contrat_mois"}
CHART_WIDTH = 640
ROW = 46
BAR_TOP = 20
BAR_HEIGHT = 16
PLOT = 480  # the longest bar; the rest of the width is left for its value


@dataclass
class ChartRow:
    label: str
    text: str
    y: int
    width: float
    reached: bool | None = None


@dataclass
class Chart:
    """A horizontal bar chart: one row per item (label above its bar), optional goal line."""

    id: str
    title: str
    description: str
    rows: list[ChartRow] = field(default_factory=list)
    height: int = 0
    goal_x: float | None = None
    goal_label: str = ""


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    items: list[tuple[str, float, str, bool | None]],
    *,
    goal: float | None = None,
    goal_label: str = "",
) -> Chart:
    """Items (label, value, value as text, reached) scaled to the largest value (or the goal)."""
    top = max([value for _label, value, _text, _r in items] + [goal or 0]) or 1.0
    rows = [
        ChartRow(label, text, index * ROW, round(max(value, 0) / top * PLOT, 1), reached)
        for index, (label, value, text, reached) in enumerate(items)
    ]
    return Chart(
        chart_id,
        title,
        description,
        rows,
        height=max(ROW * len(rows), ROW) + 8,
        goal_x=round(goal / top * PLOT, 1) if goal else None,
        goal_label=goal_label,
    )


def shown(indicator: str, value: Any) -> str:
    """An indicator's value as the user's language writes it; suppressed cells as they are."""
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if indicator.startswith("part_"):
        return pct(value)
    if indicator in HOURS:
        return _("%(h)s h", h=format_decimal(value, format="#,##0.##"))
    if indicator in MONTHS:
        return _("%(n)s mois", n=format_decimal(value, format="#,##0.#"))
    return format_decimal(value, format="#,##0.##")


def territory_choices(session: Session, actor: Actor) -> list[Territory]:
    """Territories whose dashboard the actor may open (buyers: those of their marchés)."""
    if actor.is_admin:
        return referentiel.get_all_territories(session=session)
    if actor.facilitates:
        ids = sorted(actor.territory_ids)
    else:
        ids = list(session.scalars(select(Marche.territory_id).where(marches.visible(actor))))
    return list(
        session.scalars(select(Territory).where(Territory.id.in_(ids)).order_by(Territory.name))
    )


def buyer_choices(session: Session, actor: Actor, territory_id: int | None):
    """Buyers of the marchés the actor sees (in the territory), for the buyer filter."""
    if actor.role == "acheteur":
        return []
    among = select(Marche.buyer_id).where(marches.visible(actor))
    if territory_id is not None:
        among = among.where(Marche.territory_id == territory_id)
    rows = session.execute(
        select(Organisation.id, Organisation.name)
        .where(Organisation.id.in_(among))
        .order_by(Organisation.name)
    ).all()
    return [(str(i), n) for i, n in rows]


def objective_chart(indicators: indicateurs.Indicators, values: dict[str, Any]) -> Chart:
    items = []
    for line in indicators.lines:
        value = values[line.indicator]
        if line.achievement is None or isinstance(value, str):
            continue
        pct = float(line.achievement * 100)
        text = _(
            "%(pct)s %% (%(value)s sur %(target)s)",
            pct=format_decimal(pct, format="#,##0"),
            value=shown(line.indicator, value),
            target=shown(line.indicator, line.target),
        )
        items.append((line.label, pct, text, bool(line.reached)))
    return bar_chart(
        "graphique-objectifs",
        _("Atteinte des objectifs"),
        _("Part de chaque objectif atteinte sur la période ; la ligne pointillée marque 100 %."),
        items,
        goal=100.0,
        goal_label=_("objectif"),
    )


def buyer_chart(indicators: indicateurs.Indicators) -> Chart:
    items = [
        (name, float(hours), shown("heures", hours), None)
        for name, _operations, hours in indicators.by_buyer
    ]
    return bar_chart(
        "graphique-acheteurs",
        _("Heures d'insertion par donneur d'ordre"),
        _("Heures comptées sur la période, par acheteur."),
        items,
    )


def _int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@bp.get("/")
@page
def index(*, session: Session, actor: Actor):
    """Indicateurs du territoire (ou de l'acheteur) sur une période, face aux objectifs."""
    territories = territory_choices(session, actor)
    ids = [t.id for t in territories]
    territory_id = _int(request.args.get("territoire"))
    if territory_id not in ids:
        territory_id = ids[0] if ids and actor.role != "acheteur" else None
    buyers = buyer_choices(session, actor, territory_id)
    buyer_id = _int(request.args.get("acheteur"))
    if str(buyer_id) not in dict(buyers):
        buyer_id = None
    start, end = exports.default_period(session=session, territory_id=territory_id)
    kept = {
        "territoire": str(territory_id or ""),
        "acheteur": str(buyer_id or ""),
        "du": (request.args.get("du") or start.isoformat()).strip(),
        "au": (request.args.get("au") or end.isoformat()).strip(),
    }
    errors: dict[str, str] = {}
    if territory_id is None and actor.facilitates:  # a facilitator without territory yet
        return render_template(
            "dashboards/index.html", territories=[], territory=None, buyers=[], filters=kept,
            errors={}, committee_ok=False, no_territory=True,
        )  # fmt: skip
    try:
        indicators = indicateurs.compute(
            session=session,
            actor=actor,
            period_start=kept["du"],
            period_end=kept["au"],
            territory_id=territory_id,
            buyer_id=buyer_id,
        )
    except FormInvalid as exc:
        session.rollback()
        names = {"period_start": "du", "period_end": "au"}
        errors = {names.get(k, k): v for k, v in exc.errors.items()}
        indicators = None
    context: dict[str, Any] = {}
    if indicators is not None:
        protect = actor.role == "acheteur"
        values = (
            exports.protected_values(indicators)
            if protect
            else {line.indicator: line.value for line in indicators.lines}
        )
        context = {
            "lines": [
                {
                    "line": line,
                    "value": shown(line.indicator, values[line.indicator]),
                    "target": shown(line.indicator, line.target) if line.target else "—",
                    "achievement": (
                        pct(line.achievement)
                        if line.achievement is not None
                        and not isinstance(values[line.indicator], str)
                        else "—"
                    ),
                    "reached": line.reached
                    if not isinstance(values[line.indicator], str)
                    else None,
                }
                for line in indicators.lines
            ],
            "objectives": objective_chart(indicators, values),
            "by_buyer": buyer_chart(indicators),
            "buyer_rows": [
                (name, operations, shown("heures", hours))
                for name, operations, hours in indicators.by_buyer
            ],
            "period": indicators.period,
            "protected": protect,
        }
    territory = next((t for t in territories if t.id == territory_id), None)
    return render_template(
        "dashboards/index.html",
        territories=territories,
        territory=territory,
        buyers=buyers,
        filters=kept,
        errors=errors,
        committee_ok=territory is not None and actor.covers([territory.id]),
        **context,
    )


def _territory(session: Session, code: str) -> Territory:
    found = session.scalar(select(Territory).where(Territory.code == code))
    if found is None:
        raise NotFound(_("Territoire inconnu."))
    return found


def _period(session: Session, territory: Territory) -> tuple[Any, Any]:
    start, end = exports.default_period(session=session, territory_id=territory.id)
    asked_start, asked_end = request.args.get("du"), request.args.get("au")
    if asked_start and asked_end:
        return to_date(asked_start, "du"), to_date(asked_end, "au")
    return start, end


def _committee(value: str | None) -> str:
    return value if value in exports.COMMITTEES else "comite_technique"


def report_charts(report: Report) -> dict[int, Chart]:
    """The report's tables marked for a chart, drawn as bars (suppressed cells left out)."""
    charts = {}
    for index, table in enumerate(report.tables):
        if not table.chart:
            continue
        items = [
            (str(row[0]), float(row[table.chart_column]), number(row[table.chart_column]), None)
            for row in table.rows
            if isinstance(row[table.chart_column], int | float | Decimal)
        ]
        if items:
            percent = "%" in table.title
            charts[index] = bar_chart(
                f"graphique-{index}",
                table.title,
                _(
                    "Graphique en barres : %(title)s (les valeurs sont dans le tableau).",
                    title=table.title,
                ),
                items,
                goal=100.0 if percent else None,
                goal_label=_("objectif") if percent else "",
            )
    return charts


@bp.get("/comite/<string:code>")
@page
def committee(code: str, *, session: Session, actor: Actor):
    """Le dossier du comité d'un territoire, à imprimer (ou à télécharger)."""
    territory = _territory(session, code)
    start, end = _period(session, territory)
    kind = _committee(request.args.get("comite"))
    indicators = indicateurs.compute(
        session=session, actor=actor, period_start=start, period_end=end, territory_id=territory.id
    )
    title = f"{exports.COMMITTEES[kind]} — {territory.name}"
    report = exports.report(indicators, title=title)
    buyer = (
        referentiel.get_organisation(session=session, organisation_id=indicators.buyer_id)
        if indicators.buyer_id is not None
        else None
    )
    query = {"du": start.isoformat(), "au": end.isoformat(), "comite": kind}
    return render_template(
        "dashboards/committee.html",
        territory=territory,
        buyer=buyer,
        report=report,
        charts=report_charts(report),
        number=number,
        committees=exports.COMMITTEES,
        kind=kind,
        period=(start, end),
        downloads=[
            (fmt, url_for("dashboards.pack", code=territory.code, fmt=fmt, **query))
            for fmt in EXPORTS
        ],
    )


@bp.get("/comite/<string:code>/dossier.<any(pdf, xlsx, csv):fmt>")
@page
def pack(code: str, fmt: str, *, session: Session, actor: Actor):
    """Le dossier du comité en PDF, XLSX ou CSV."""
    territory = _territory(session, code)
    start, end = _period(session, territory)
    kind = _committee(request.args.get("comite"))
    data = exports.export_pack(
        session=session,
        actor=actor,
        fmt=fmt,
        territory_id=territory.id,
        period_start=start,
        period_end=end,
        committee=kind,
    )
    return attachment(data, MEDIA_TYPES[fmt], f"{kind}-{territory.code}-{start:%Y%m%d}.{fmt}")
