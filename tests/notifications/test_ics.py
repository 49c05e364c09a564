"""Invitations in Paris time with their VTIMEZONE; the right UTC instant in summer and winter."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from notifications.ics import build
from notifications.models import CalendarEvent

PARIS = ZoneInfo("Europe/Paris")


def ics(starts: datetime, *, cancelled: bool = False, sequence: int = 0) -> Calendar:
    event = CalendarEvent(
        uid="comite-1@clausier",
        sequence=sequence,
        summary="Comité technique",
        starts_at=starts.astimezone(UTC),  # stored in UTC, as the database gives it back
        ends_at=starts.astimezone(UTC).replace(hour=starts.astimezone(UTC).hour + 2),
        cancelled=cancelled,
        description=None,
        location="Créteil",
    )
    text = build(
        event,
        organizer="clausier@localhost",
        attendees=[("fab@example.org", "Fabien")],
        now=datetime(2027, 1, 2, 10, tzinfo=UTC),
    )
    assert "\r\n" in text and "DTSTART;TZID=Europe/Paris:" in text
    return Calendar.from_ical(text)


@pytest.mark.parametrize(
    ("starts", "utc", "offset"),
    [
        (datetime(2027, 7, 8, 14, tzinfo=PARIS), datetime(2027, 7, 8, 12, tzinfo=UTC), "+0200"),
        (datetime(2027, 1, 14, 14, tzinfo=PARIS), datetime(2027, 1, 14, 13, tzinfo=UTC), "+0100"),
    ],
)
def test_two_pm_in_paris_is_the_right_instant_summer_and_winter(starts, utc, offset):
    calendar = ics(starts)
    (event,) = calendar.walk("VEVENT")
    assert event["DTSTART"].params["TZID"] == "Europe/Paris"
    assert event["DTSTART"].to_ical() == starts.strftime("%Y%m%dT140000").encode()
    assert event.decoded("DTSTART") == utc and event.decoded("DTEND") == utc.replace(
        hour=utc.hour + 2
    )
    assert event.decoded("DTSTAMP") == datetime(2027, 1, 2, 10, tzinfo=UTC)  # stamps stay UTC
    (zone,) = calendar.walk("VTIMEZONE")
    assert str(zone["TZID"]) == "Europe/Paris"
    offsets = {(sub.name, sub["TZOFFSETTO"].to_ical()) for sub in zone.walk() if sub is not zone}
    assert ("DAYLIGHT", "+0200") in offsets and ("STANDARD", "+0100") in offsets
    assert any(o == offset for _, o in offsets)
    # the VTIMEZONE itself (not only the TZID's name) places the meeting right
    transitions = zone.to_tz()
    assert starts.replace(tzinfo=transitions).astimezone(UTC) == utc


def test_a_cancellation_keeps_the_uid_with_a_higher_sequence():
    calendar = ics(datetime(2027, 3, 22, 9, 30, tzinfo=PARIS), cancelled=True, sequence=2)
    (event,) = calendar.walk("VEVENT")
    assert str(calendar["METHOD"]) == "CANCEL" and str(event["STATUS"]) == "CANCELLED"
    assert (str(event["UID"]), int(event["SEQUENCE"])) == ("comite-1@clausier", 2)
    assert calendar.walk("VTIMEZONE")
