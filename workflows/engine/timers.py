"""BPMN timers on an injectable clock; a late cycle fires once, not once per missed occurrence."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)

_clock: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    """The engine's current time (aware, UTC)."""
    return _clock()


def set_clock(clock: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests move time); None restores the system clock."""
    global _clock
    _clock = clock or (lambda: datetime.now(UTC))


PARIS = ZoneInfo("Europe/Paris")


def parse_when(value: str) -> datetime:
    """An ISO date or datetime; without an offset it is Paris time, whatever the server's zone."""
    if "W" in value.upper():
        return TimerEventDefinition.parse_iso_week(value)
    moment = datetime.fromisoformat(value.strip())
    return moment.replace(tzinfo=PARIS) if moment.tzinfo is None else moment


class DateTimer(TimeDateEventDefinition):
    def has_fired(self, my_task):
        value = my_task._get_internal_data("event_value")
        if value is None:
            value = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            my_task._set_internal_data(event_value=value)
        if parse_when(value) <= now():
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


class DurationTimer(DurationTimerEventDefinition):
    def has_fired(self, my_task):
        value = my_task._get_internal_data("event_value")
        if value is None:
            expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            parsed = TimerEventDefinition.parse_iso_duration(expression)
            start = now()
            value = (
                start + TimerEventDefinition.get_timedelta_from_start(parsed, start)
            ).isoformat()
            my_task._set_internal_data(event_value=value)
        if TimerEventDefinition.get_datetime(value) <= now():
            my_task._set_internal_data(event_fired=True)
        return my_task._get_internal_data("event_fired", False)


class CycleTimer(CycleTimerEventDefinition):
    def cycle_complete(self, my_task):
        value = my_task._get_internal_data("event_value")
        if value is None:
            expression = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            cycles, start, duration = TimerEventDefinition.parse_iso_recurring_interval(expression)
            if (
                len(expression.strip().split("/")) == 2
                and "P" in expression.upper().split("/")[1][:1]
            ):
                start = now() + duration  # "R3/P7D": the first occurrence is one period from now
            value = {
                "cycles": cycles,
                "next": start.isoformat(),
                "duration": duration.total_seconds(),
            }
        ready = False
        current = now()
        if value["cycles"] != 0:
            nxt = datetime.fromisoformat(value["next"])
            if nxt <= current:
                ready = True
                step = timedelta(seconds=max(value["duration"], 1))
                # Fire once for every occurrence missed, then wait for the next one ahead.
                while nxt <= current and value["cycles"] != 0:
                    nxt += step
                    value["cycles"] -= 1 if value["cycles"] > 0 else 0
                value["next"] = nxt.isoformat()
        else:
            my_task.internal_data.pop("event_value", None)
            my_task.internal_data["event_fired"] = True
            return False
        my_task._set_internal_data(event_value=value)
        return ready


REPLACEMENTS = {
    TimeDateEventDefinition: DateTimer,
    DurationTimerEventDefinition: DurationTimer,
    CycleTimerEventDefinition: CycleTimer,
}


def replace(definition):
    """Swap SpiffWorkflow's timer definition for ours, keeping its attributes."""
    cls = REPLACEMENTS.get(type(definition))
    if cls is None:
        return definition
    swapped = cls.__new__(cls)
    swapped.__dict__.update(definition.__dict__)
    return swapped
