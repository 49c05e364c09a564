"""Meetings (kickoff, visits, committees) and territory objectives per period."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.access import Actor, require, require_admin_or_coordinator
from workflows.marches import service as marches
from workflows.referentiel import service as referentiel
from workflows.values import invalid, to_date, to_decimal

from .models import INDICATORS, MEETING_KINDS, THEMES, Meeting, TerritoryObjective


def create_meeting(
    *,
    session: Session,
    actor: Actor,
    kind: str,
    held_on: Any,
    marche_id: int | None = None,
    territory_id: int | None = None,
    theme: str | None = None,
    title: str | None = None,
    participants: str | None = None,
    minutes: str | None = None,
) -> Meeting:
    """Record a meeting about a marché (kickoff, visit) or a territory (committees)."""
    if kind not in MEETING_KINDS:
        raise invalid("kind", "valeurs : " + ", ".join(MEETING_KINDS))
    if theme is not None and theme not in THEMES:
        raise invalid("theme", "valeurs : " + ", ".join(THEMES))
    if marche_id is None and territory_id is None:
        raise invalid("marche_id", "un marché ou un territoire est attendu")
    if marche_id is not None:
        marches.get(session=session, actor=actor, marche_id=marche_id)
    if territory_id is not None:
        referentiel.get_territory(session=session, territory_id=territory_id)
        require(actor.covers([territory_id]), "Ce territoire n'est pas le vôtre.")
    meeting = Meeting(
        kind=kind,
        held_on=to_date(held_on, "held_on"),
        marche_id=marche_id,
        territory_id=territory_id,
        theme=theme,
        title=title,
        participants=participants,
        minutes=minutes,
    )
    session.add(meeting)
    session.flush()
    return meeting


def get_all_meetings(
    *,
    session: Session,
    actor: Actor,
    marche_id: int | None = None,
    territory_id: int | None = None,
) -> list[Meeting]:
    """Meetings of a marché the actor sees, or of one of the actor's territories."""
    query = select(Meeting).order_by(Meeting.held_on)
    if marche_id is not None:
        marches.get(session=session, actor=actor, marche_id=marche_id)
        query = query.where(Meeting.marche_id == marche_id)
    elif territory_id is not None:
        require(actor.covers([territory_id]), "Ce territoire n'est pas le vôtre.")
        query = query.where(Meeting.territory_id == territory_id)
    else:
        raise invalid("marche_id", "un marché ou un territoire est attendu")
    return list(session.scalars(query))


def set_objective(
    *,
    session: Session,
    actor: Actor,
    territory_id: int,
    indicator: str,
    period_start: Any,
    period_end: Any,
    target: Any,
) -> TerritoryObjective:
    """Set (or change) a territory's target on one indicator for one period."""
    require_admin_or_coordinator(actor)
    if indicator not in INDICATORS:
        raise invalid("indicator", "valeurs : " + ", ".join(INDICATORS))
    start, end = to_date(period_start, "period_start"), to_date(period_end, "period_end")
    if end < start:
        raise invalid("period_end", "la fin de période précède son début")
    objective = session.scalar(
        select(TerritoryObjective).where(
            TerritoryObjective.territory_id == territory_id,
            TerritoryObjective.indicator == indicator,
            TerritoryObjective.period_start == start,
        )
    )
    if objective is None:
        objective = TerritoryObjective(
            territory_id=territory_id, indicator=indicator, period_start=start
        )
        session.add(objective)
    objective.period_end = end
    objective.target = to_decimal(target, "target")
    session.flush()
    return objective


def get_objectives(
    *, session: Session, territory_id: int, on: date | None = None
) -> list[TerritoryObjective]:
    """A territory's objectives, only those of the period containing `on` if given."""
    query = select(TerritoryObjective).where(TerritoryObjective.territory_id == territory_id)
    if on is not None:
        query = query.where(
            TerritoryObjective.period_start <= on, TerritoryObjective.period_end >= on
        )
    return list(session.scalars(query.order_by(TerritoryObjective.indicator)))
