"""Each territory's semestrial comité technique: one long-running instance per territory.

The instance of `comite_technique` of territory T has the business key `T/comite-technique` (so
the scoping of server/api/scope.py shows it to T's facilitators and coordinators only) and the
territory in its variables. Its cycle timer opens a preparation task every six months; the
members are invited when the date is set (notifications/meetings.py), and the minutes entered at
`tenir_comite` are kept as a Meeting of the territory.

`start_missing` starts the instances that are missing; it is idempotent and run by
`clausier comites demarrer` and by a daily scheduler job. A territory whose committee was
cancelled is left alone by the job; naming it on the command line starts a new one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.access import SYSTEM
from workflows.engine import runtime
from workflows.engine.errors import FormInvalid, NotFound
from workflows.engine.models import HumanTask, Instance, ProcessDefinition
from workflows.indicateurs import service as indicateurs
from workflows.referentiel.models import Territory
from workflows.reports import number
from workflows.values import add_months, first_of_month, percent, to_date

from .models import THEMES, Meeting
from .service import get_objectives

PROCESS = "comite_technique"
THEME_OF_FORM = {"acteurs_emploi": "emploi_insertion"}  # the form's value → gouvernance THEMES
SUFFIX = "/comite-technique"
ACTIVE = ("running", "suspended", "error")


def business_key(code: str) -> str:
    """The business key of territory `code`'s comité technique."""
    return f"{code}{SUFFIX}"


@dataclass(frozen=True)
class Started:
    territory: str
    instance_id: int


def _territories(session: Session, code: str | None) -> list[Territory]:
    query = select(Territory).order_by(Territory.code)
    if code is not None:
        query = query.where(Territory.code == code)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()  # two starters at once: the second waits, then sees it
    found = list(session.scalars(query))
    if code is not None and not found:
        raise FormInvalid("Territoire inconnu.", errors={"territoire": f"« {code} » inconnu"})
    return found


def _statuses(session: Session, key: str) -> list[str]:
    """Statuses of the territory's committee instances, newest first."""
    return list(
        session.scalars(
            select(Instance.status)
            .join(ProcessDefinition, ProcessDefinition.id == Instance.definition_id)
            .where(ProcessDefinition.key == PROCESS, Instance.business_key == key)
            .order_by(Instance.id.desc())
        )
    )


def deployed(session: Session) -> bool:
    query = select(ProcessDefinition.id).where(ProcessDefinition.key == PROCESS).limit(1)
    return session.scalar(query) is not None


def start_missing(
    *, session: Session, territory: str | None = None, actor: str = "system"
) -> list[Started]:
    """Start the comité technique of every territory (or of `territory`) that has none running.

    Without `territory` (the daily job), a territory whose last committee was cancelled is
    skipped: cancelling is a decision. Returns what was started.
    """
    if not deployed(session):
        raise NotFound(f"processus « {PROCESS} » non déployé (clausier deploy)")
    started = []
    for row in _territories(session, territory):
        key = business_key(row.code)
        statuses = _statuses(session, key)
        if any(s in ACTIVE for s in statuses):
            continue
        if territory is None and statuses and statuses[0] == "cancelled":
            continue
        instance = runtime.start(
            session=session,
            key=PROCESS,
            business_key=key,
            variables={
                "territoire": row.code,
                "territoire_id": row.id,
                "territoire_nom": row.name,
            },
            actor=actor,
        )
        started.append(Started(row.code, instance.id))
    return started


def start_missing_job(session: Session) -> int:
    """The scheduler's daily run: nothing to do until the process is deployed."""
    if not deployed(session):
        return 0
    return len(start_missing(session=session))


def territory_of_key(session: Session, key: str | None) -> Territory | None:
    """The territory of a committee instance's business key (`CODE/…` or `CODE`)."""
    if not key:
        return None
    return session.scalar(select(Territory).where(Territory.code == key.split("/", 1)[0]))


def pack_period(session: Session, territory_id: int, today: date) -> tuple[date, date]:
    """The period of a territory's committee pack: its objectives' period in force, else the six
    months before the committee's month (the semester since the previous one)."""
    objectives = get_objectives(session=session, territory_id=territory_id, on=today)
    if objectives:
        latest = max(objectives, key=lambda o: o.period_start)
        return latest.period_start, latest.period_end
    month = first_of_month(today)
    return add_months(month, -6), date.fromordinal(month.toordinal() - 1)


def pack(session: Session, territory: Territory, today: date) -> dict[str, Any]:
    """The territory's indicators pack for a preparation task: period, lines, where to get it."""
    start, end = pack_period(session, territory.id, today)
    computed = indicateurs.compute(
        session=session,
        actor=SYSTEM,
        period_start=start,
        period_end=end,
        territory_id=territory.id,
    )
    lines = []
    for line in computed.lines:
        shown = percent if line.indicator.startswith("part_") else number
        value = "—" if line.value is None else shown(line.value)
        target = f" (objectif {shown(line.target)})" if line.target is not None else ""
        lines.append(f"{line.label} : {value}{target}")
    return {
        "territory": territory.code,
        "territory_id": territory.id,
        "period": (start, end),
        "lines": lines,
        "export": f"clausier comite {territory.code} --comite {PROCESS} "
        f"--du {start.isoformat()} --au {end.isoformat()} --output pack.pdf",
    }


def _theme(value: str | None) -> str | None:
    value = THEME_OF_FORM.get(value or "", value)
    return value if value in THEMES else None  # "territorial": no theme


def record_minutes(
    session: Session, instance: Instance, row: HumanTask, data: dict[str, Any], seen: dict
) -> None:
    """At `tenir_comite` of a territory's committee, keep the minutes as the territory's Meeting."""
    if row.element_id != "tenir_comite":
        return None
    territory = territory_of_key(session, instance.business_key)
    held_on = data.get("date_comite") or seen.get("date_comite")
    if territory is None or not held_on:
        return None
    session.add(
        Meeting(
            kind="comite_technique",
            held_on=to_date(held_on, "date_comite"),
            territory_id=territory.id,
            theme=_theme(seen.get("theme")),
            title=f"Comité technique — {territory.name}",
            participants=data.get("participants") or None,
            minutes=data.get("compte_rendu") or None,
        )
    )
    return None


runtime.on_task_completed(record_minutes)
