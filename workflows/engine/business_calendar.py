"""French business calendar: working days by département, durations, dates in Europe/Paris.

Modes: "ouvres" (jours ouvrés, Monday–Friday), "ouvrables" (jours ouvrables, Monday–Saturday) and
"calendaires" (every day counts). Public holidays come from the `holidays` package by
département: Alsace-Moselle (57, 67, 68) and the overseas départements have their own.
"""

from __future__ import annotations

import functools
import operator
import re
from calendar import monthrange
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from . import timers

PARIS = ZoneInfo("Europe/Paris")
MAX_SPAN_DAYS = 7_320  # business-day helpers refuse spans over ~20 years
MODES = ("calendaires", "ouvrables", "ouvres")
DEFAULT_MODE = "calendaires"
_DEPARTEMENT = re.compile(r"^(0[1-9]|[1-8]\d|9[0-5]|2A|2B|97[1-8]|98[4-8])$")
_SUBDIVS = {
    "67": "6AE",
    "68": "6AE",
    "975": "PM",
    "977": "BL",
    "978": "MF",
    "984": "TF",
    "986": "WF",
    "987": "PF",
    "988": "NC",
}


def now() -> datetime:
    """The current aware datetime in Europe/Paris, on the engine's clock."""
    return timers.now().astimezone(PARIS)


def today() -> date:
    """Today's date in Europe/Paris, on the engine's clock."""
    return now().date()


def parse_datetime(value: Any) -> datetime:
    """Aware datetime from a datetime, a date or an ISO string; naive means Europe/Paris."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.strip())
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    elif not isinstance(value, datetime):
        raise TypeError(f"date ou datetime attendu, pas {type(value).__name__}")
    return value.replace(tzinfo=PARIS) if value.tzinfo is None else value.astimezone(PARIS)


def parse_date(value: Any) -> date:
    """Date from a date, a datetime (seen from Paris) or an ISO date/datetime string."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value.strip()) == 10:
        return date.fromisoformat(value.strip())
    return (
        value.date()
        if isinstance(value, datetime) and not value.tzinfo
        else (parse_datetime(value).date())
    )


def add_days(d: Any, n: int) -> Any:
    """d plus n calendar days (a date or datetime keeps its type, a string gives a date)."""
    return (parse_date(d) if isinstance(d, str) else d) + timedelta(days=n)


def add_months(d: Any, n: int) -> Any:
    """d plus n months, clamped to the month's end (Jan 31 + 1 month = Feb 28 or 29)."""
    d = parse_date(d) if isinstance(d, str) else d
    years, month0 = divmod(d.month - 1 + operator.index(n), 12)
    year = d.year + years
    return d.replace(year=year, month=month0 + 1, day=min(d.day, monthrange(year, month0 + 1)[1]))


@functools.lru_cache(maxsize=1024)
def _holidays(year: int, subdiv: str | None) -> frozenset[date]:
    """French public holidays of one year for one holidays.France subdivision."""
    return frozenset(holidays.France(subdiv=subdiv, years=year))


def _working_day(departement: Any, mode: str = "ouvres") -> Any:
    """Predicate 'is a working day' for a département code ('75', '57', '67', '971'…)."""
    subdiv = None
    if departement is not None:
        code = str(departement).strip().upper()
        code = code.zfill(2) if code.isdigit() else code
        if not _DEPARTEMENT.match(code):
            raise ValueError(f"département inconnu : {departement!r}")
        subdiv = _SUBDIVS.get(code, code if code in holidays.France.subdivisions else None)
    if mode not in MODES:
        raise ValueError(f"calendrier inconnu : {mode!r} (attendu : {', '.join(MODES)})")
    last = {"ouvres": 4, "ouvrables": 5, "calendaires": 6}[mode]
    if mode == "calendaires":
        return lambda d: True
    return lambda d: d.weekday() <= last and d not in _holidays(d.year, subdiv)


def add_business_days(d: Any, n: int, departement: Any = None, mode: str = "ouvres") -> date:
    """d plus n French working days (Mon–Fri minus public holidays); n < 0 goes back."""
    n, working = operator.index(n), _working_day(departement, mode)
    if abs(n) > MAX_SPAN_DAYS:
        raise ValueError(f"add_business_days : au plus {MAX_SPAN_DAYS} jours")
    d, step = parse_date(d), timedelta(days=1 if n >= 0 else -1)
    for _ in range(abs(n)):
        d += step
        while not working(d):
            d += step
    return d


def business_days_between(a: Any, b: Any, departement: Any = None, mode: str = "ouvres") -> int:
    """Number of working days in ]a, b] (negative when b < a)."""
    a, b, working = parse_date(a), parse_date(b), _working_day(departement, mode)
    sign, (a, b) = (1, (a, b)) if a <= b else (-1, (b, a))
    if (b - a).days > MAX_SPAN_DAYS:
        raise ValueError(f"business_days_between : au plus {MAX_SPAN_DAYS} jours")
    return sign * sum(working(a + timedelta(days=i)) for i in range(1, (b - a).days + 1))


def next_business_day(d: Any, departement: Any = None, mode: str = "ouvres") -> date:
    """d itself when it is a working day, else the next working day."""
    d, working = parse_date(d), _working_day(departement, mode)
    while not working(d):
        d += timedelta(days=1)
    return d


def months_between(a: Any, b: Any) -> int:
    """Whole months from a to b: the largest m with add_months(a, m) <= b (negative if b < a)."""
    a, b = parse_date(a), parse_date(b)
    if b < a:
        return -months_between(b, a)
    months = (b.year - a.year) * 12 + b.month - a.month
    return months - 1 if add_months(a, months) > b else months


def due_after(
    start: datetime, duration: str, *, mode: str | None = None, departement: Any = None
) -> datetime:
    """Deadline `duration` (ISO 8601, e.g. P10D) after `start`, counted in the calendar `mode`.

    Days count as working days in "ouvres"/"ouvrables" (a week is 5 or 6 of them); months and
    years are calendar months. A deadline on a non-working day moves to the next working day
    (next jour ouvré for "calendaires"). The time of day is kept, in Europe/Paris.
    """
    mode = mode or DEFAULT_MODE
    parsed = TimerEventDefinition.parse_iso_duration(duration)
    local = start.astimezone(PARIS)
    weeks, days = parsed.pop("weeks", 0), parsed.pop("days", 0)
    months = parsed.pop("months", 0) + 12 * parsed.pop("years", 0)
    day = add_months(local.date(), int(months))
    if mode == "calendaires":
        day += timedelta(days=7 * weeks + days)
    else:
        per_week = 5 if mode == "ouvres" else 6
        day = add_business_days(day, int(per_week * weeks + days), departement, mode=mode)
    clock = timedelta(**{k: parsed.get(k, 0) for k in ("hours", "minutes", "seconds")})
    due = datetime.combine(day, local.time(), PARIS) + clock
    roll = "ouvres" if mode == "calendaires" else mode
    rolled = next_business_day(due.date(), departement, mode=roll)
    if rolled != due.date():
        due = datetime.combine(rolled, due.timetz().replace(tzinfo=None), PARIS)
    return due
