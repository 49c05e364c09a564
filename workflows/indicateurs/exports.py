"""The committees' pack (comité technique, comité de pilotage): indicators vs objectives.

The pack goes to partners beyond the facilitators, so its head counts follow the small-group rule
of the buyers' bilans (workflows/bilans/suppression.py): fewer than 3 people (or fewer than 3 on
the other side of a count, e.g. people without the RSA criterion) and the figure is not shown.
Hours per buyer are contractual figures and always shown.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from workflows.access import Actor
from workflows.bilans.suppression import RULE, SECRET, SMALL
from workflows.engine import timers
from workflows.gouvernance import service as gouvernance
from workflows.referentiel import service as referentiel
from workflows.reports import Report, Table, render
from workflows.values import percent

from . import service

COMMITTEES = {"comite_technique": "Comité technique", "comite_pilotage": "Comité de pilotage"}


def default_period(*, session: Session, territory_id: int | None) -> tuple[date, date]:
    """The objectives' period in force today, else the current calendar year."""
    today = timers.now().date()
    if territory_id is not None:
        found = gouvernance.get_objectives(session=session, territory_id=territory_id, on=today)
        found = found or gouvernance.get_objectives(session=session, territory_id=territory_id)
        if found:
            latest = max(found, key=lambda o: o.period_start)
            return latest.period_start, latest.period_end
    return date(today.year, 1, 1), date(today.year, 12, 31)


def _shown(indicator: str, value):
    if value is None or isinstance(value, str):
        return value
    return percent(value) if indicator.startswith("part_") else value


def _small(n) -> bool:
    return 0 < n < 3


def protected_values(indicators: service.Indicators) -> dict:
    """Indicator → value as the pack shows it: small head counts (and their complements) hidden."""
    values = {line.indicator: line.value for line in indicators.lines}
    people, rsa = values["beneficiaires"] or 0, values["beneficiaires_rsa"] or 0
    if _small(people):
        values["beneficiaires"] = SMALL
        values["part_femmes"] = values["beneficiaires_rsa"] = SECRET
    elif _small(rsa) or _small(people - rsa):
        values["beneficiaires_rsa"] = SMALL if _small(rsa) else SECRET
    women = values["part_femmes"]
    if isinstance(women, Decimal):
        count = round(women * people)
        if _small(count) or _small(people - count):
            values["part_femmes"] = SECRET
    return values


def report(indicators: service.Indicators, *, title: str) -> Report:
    """The indicators laid out: one table against objectives, one by buyer (suppressed)."""
    values = protected_values(indicators)
    lines = [
        [
            line.label,
            _shown(line.indicator, values[line.indicator]),
            _shown(line.indicator, line.target),
            percent(line.achievement)
            if line.achievement is not None and not isinstance(values[line.indicator], str)
            else None,
        ]
        for line in indicators.lines
    ]
    chart_rows = [
        [line.label[:38], line.achievement * 100]
        for line in indicators.lines
        if line.achievement is not None and not isinstance(values[line.indicator], str)
    ]
    start, end = indicators.period
    return Report(
        title=title,
        subtitle=f"Période du {start:%d/%m/%Y} au {end:%d/%m/%Y}",
        tables=[
            Table(
                "Indicateurs et objectifs", ["Indicateur", "Valeur", "Objectif", "Atteinte"], lines
            ),
            Table("Atteinte des objectifs (%)", ["Indicateur", "Atteinte (%)"], chart_rows, "bar"),
            Table(
                "Par donneur d'ordre",
                ["Donneur d'ordre", "Opérations avec des heures", "Heures"],
                [list(row) for row in indicators.by_buyer],
                chart="bar",
                chart_column=2,
            ),
        ],
        footnotes=[RULE],
    )


def export_pack(
    *,
    session: Session,
    actor: Actor,
    fmt: str,
    territory_id: int | None = None,
    buyer_id: int | None = None,
    period_start: object = None,
    period_end: object = None,
    committee: str = "comite_pilotage",
) -> bytes:
    """The committee pack of a territory (or buyer) as CSV, XLSX or PDF bytes."""
    if period_start is None or period_end is None:
        period_start, period_end = default_period(session=session, territory_id=territory_id)
    indicators = service.compute(
        session=session, actor=actor, period_start=period_start, period_end=period_end,
        territory_id=territory_id, buyer_id=buyer_id,
    )  # fmt: skip
    scope = (
        referentiel.get_territory(session=session, territory_id=territory_id).name
        if territory_id is not None
        else "tous territoires"
    )
    name = COMMITTEES.get(committee, "Indicateurs")
    return render(report(indicators, title=f"{name} — {scope}"), fmt)
