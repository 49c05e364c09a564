"""iCalendar (RFC 5545) invitations: METHOD REQUEST or CANCEL, one UID, SEQUENCE raised on change.

Times are written in UTC (`…Z`), which every calendar client reads without a VTIMEZONE.
"""

from __future__ import annotations

from datetime import UTC, datetime

from icalendar import Calendar, Event, vCalAddress, vText

from .models import CalendarEvent

PRODID = "-//Clausier//Clauses sociales//FR"


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
    item.add("dtstart", event.starts_at.astimezone(UTC))
    item.add("dtend", event.ends_at.astimezone(UTC))
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
    return calendar.to_ical().decode("utf-8")
