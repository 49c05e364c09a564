"""iCalendar (RFC 5545) invitations: METHOD REQUEST or CANCEL, one UID, SEQUENCE raised on change.

Start and end are written in Paris time (`DTSTART;TZID=Europe/Paris:…`) with the matching
VTIMEZONE, built from zoneinfo for the years around the meeting, so clients show the local hour
whatever the daylight-saving period; DTSTAMP stays in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vCalAddress, vText

from .models import CalendarEvent

PRODID = "-//Clausier//Clauses sociales//FR"
ZONE = ZoneInfo("Europe/Paris")


def _address(email: str, name: str | None = None, **params: str) -> vCalAddress:
    address = vCalAddress(f"mailto:{email}")
    if name:
        address.params["CN"] = vText(name)
    for key, value in params.items():
        address.params[key] = vText(value)
    return address


def build(
    event: CalendarEvent,
    *,
    organizer: str,
    attendees: list[tuple[str, str | None]],
    now: datetime,
) -> str:
    """The .ics text of `event` for these attendees (e-mail, name); CANCEL once cancelled."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if event.cancelled else "REQUEST")
    item = Event()
    item.add("uid", event.uid)
    item.add("sequence", event.sequence)
    item.add("dtstamp", now.astimezone(UTC))
    starts, ends = event.starts_at.astimezone(ZONE), event.ends_at.astimezone(ZONE)
    item.add("dtstart", starts)
    item.add("dtend", ends)
    item.add("summary", event.summary)
    if event.description:
        item.add("description", event.description)
    if event.location:
        item.add("location", event.location)
    item.add("status", "CANCELLED" if event.cancelled else "CONFIRMED")
    item.add("organizer", _address(organizer, "Clausier"))
    for email, name in attendees:
        item.add(
            "attendee",
            _address(email, name, ROLE="REQ-PARTICIPANT", PARTSTAT="NEEDS-ACTION", RSVP="TRUE"),
        )
    calendar.add_component(item)
    # The VTIMEZONE covers the year before the meeting to two years after: compact, and enough
    # for any client to place it (an update sends a fresh one).
    calendar.add_missing_timezones(
        first_date=date(starts.year - 1, 1, 1), last_date=date(ends.year + 2, 1, 1)
    )
    return calendar.to_ical().decode("utf-8")
