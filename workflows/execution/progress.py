"""Progress of a marché's insertion hours: delivered against the target and against the calendar.

Expected by a date = target × elapsed share of the execution period (start → planned end, by days,
capped at 100 %). "En retard" when expected − delivered exceeds the margin × target (10 % by
default, set per charter or territory): measuring the gap against the whole target, not the hours
expected so far, keeps the first weeks — when reports have not come in yet — from raising alarms.
Only counted hours are delivered; flagged ones are reported apart. Buyers see these aggregates
(no names).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflows.access import Actor
from workflows.engine import timers
from workflows.marches import calibration
from workflows.marches import service as marches
from workflows.marches.models import Marche
from workflows.referentiel import service as referentiel
from workflows.referentiel.models import Holder

from .models import ROUTES, HoursRecord

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Line:
    """Progress of one holder or one route."""

    key: str
    label: str
    delivered: Decimal
    target: Decimal | None = None
    expected: Decimal | None = None
    late: bool | None = None


@dataclass(frozen=True)
class Progress:
    marche_id: int
    as_of: date
    target: Decimal | None
    delivered: Decimal
    flagged: Decimal
    expected: Decimal | None
    margin: Decimal
    late: bool
    status: str
    period: tuple[date, date] | None
    by_holder: list[Line] = field(default_factory=list)
    by_route: list[Line] = field(default_factory=list)


def expected_hours(target: Decimal, period: tuple[date, date], as_of: date) -> Decimal:
    """Target prorated over the execution period, by days."""
    start, end = period
    if as_of <= start:
        return Decimal(0)
    if as_of >= end or end <= start:
        return target
    share = Decimal((as_of - start).days) / Decimal((end - start).days)
    return (target * share).quantize(CENT)


def is_late(
    target: Decimal | None, expected: Decimal | None, delivered: Decimal, margin: Decimal
) -> bool:
    """Behind the calendar by more than `margin` of the target."""
    if not target or expected is None:
        return False
    return expected - delivered > margin * target


def _status(target, delivered, expected, late, period) -> str:
    if target is None:
        return "sans objectif"
    if delivered >= target:
        return "objectif atteint"
    if period is None or expected is None:
        return "non démarré"
    return "en retard" if late else "dans les temps"


def _sums(session: Session, marche_id: int, column) -> dict[tuple, Decimal]:
    rows = session.execute(
        select(column, HoursRecord.counted, func.sum(HoursRecord.hours))
        .where(HoursRecord.marche_id == marche_id)
        .group_by(column, HoursRecord.counted)
    )
    return {(key, counted): Decimal(total or 0) for key, counted, total in rows}


def progress(
    *,
    session: Session,
    actor: Actor,
    marche_id: int,
    as_of: date | None = None,
    margin: Decimal | None = None,
) -> Progress:
    """Delivered vs target, expected-by-date vs delivered, lateness, per holder and per route."""
    marche = marches.get(session=session, actor=actor, marche_id=marche_id)
    as_of = as_of or timers.now().date()
    if margin is None:
        margin = referentiel.parameters(
            session=session, territory_id=marche.territory_id
        ).late_margin
    target = calibration.target_hours(marche)
    period = marches.execution_period(marche)
    expected = expected_hours(target, period, as_of) if target is not None and period else None
    by_holder = _sums(session, marche.id, HoursRecord.holder_id)
    delivered = sum((v for (_, counted), v in by_holder.items() if counted), Decimal(0))
    flagged = sum((v for (_, counted), v in by_holder.items() if not counted), Decimal(0))
    late = is_late(target, expected, delivered, margin)
    return Progress(
        marche_id=marche.id,
        as_of=as_of,
        target=target,
        delivered=delivered,
        flagged=flagged,
        expected=expected,
        margin=margin,
        late=late,
        status=_status(target, delivered, expected, late, period),
        period=period,
        by_holder=_holder_lines(session, marche, by_holder, period, as_of, margin),
        by_route=[
            Line(key=route, label=ROUTES.get(route, route), delivered=hours)
            for (route, counted), hours in sorted(
                _sums(session, marche.id, HoursRecord.route).items()
            )
            if counted
        ],
    )


def holder_targets(session: Session, marche: Marche) -> dict[int, Decimal | None]:
    """Each holder's share of the target: its lots' targets; the whole for a sole holder."""
    pairs = marches.get_holders(session=session, marche_id=marche.id)
    lot_targets = {c.lot_id: c.hours_target for c in marche.clauses if c.lot_id}
    holders = {holder.id for holder, _ in pairs}
    targets: dict[int, Decimal | None] = {}
    for holder_id in holders:
        lots = [lot for h, lot in pairs if h.id == holder_id and lot is not None]
        values = [lot_targets.get(lot) for lot in lots]
        if lots and all(v is not None for v in values):
            targets[holder_id] = sum(values, Decimal(0))
        elif not lots and len(holders) == 1:
            targets[holder_id] = calibration.target_hours(marche)
        else:
            targets[holder_id] = None
    return targets


def _holder_lines(session, marche, sums, period, as_of, margin) -> list[Line]:
    targets = holder_targets(session, marche)
    holder_ids = set(targets) | {holder_id for holder_id, _ in sums}
    names = dict(
        session.execute(select(Holder.id, Holder.name).where(Holder.id.in_(holder_ids))).all()
    )
    lines = []
    for holder_id in sorted(holder_ids, key=lambda h: names.get(h, "")):
        target = targets.get(holder_id)
        delivered = sums.get((holder_id, True), Decimal(0))
        expected = expected_hours(target, period, as_of) if target is not None and period else None
        late = is_late(target, expected, delivered, margin) if target is not None else None
        lines.append(
            Line(str(holder_id), names.get(holder_id, "?"), delivered, target, expected, late)
        )
    return lines
