"""Meeting invitations (.ics): committees and kickoff meetings, updates and cancellations.

Registered on the engine: when a committee's preparation task is completed with its date, or a
kickoff is recorded for a date still ahead, the completion owes the invitations (a notice job in
its transaction) and the notices job invites the members.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.accounts.models import User
from workflows.engine import business_calendar as cal
from workflows.engine import runtime
from workflows.engine.models import HumanTask, Instance
from workflows.gouvernance import committees
from workflows.marches import service as marches
from workflows.values import to_date

from . import queue, recipients
from .ics import build
from .models import CalendarEvent
from .service import Subject, record
from .settings import DEFAULT, Settings

START, LENGTH = time(9, 30), timedelta(hours=2)
# Preparation task → (title, who is invited). A territory's comité technique (business key
# `CODE/comite-technique`) invites that territory's people of these roles only; a committee
# without territory, every active account of the roles.
COMMITTEES = {
    "preparer_comite": ("Comité technique", ("facilitateur", "coordinateur", "acheteur")),
    "preparer_comite_pilotage": ("Comité de pilotage", ("coordinateur", "admin")),
}
NETWORK_WIDE = {"preparer_comite": ("facilitateur", "coordinateur")}


def _organizer(settings: Settings) -> str:
    sender = settings.sender
    return sender[sender.find("<") + 1 : sender.find(">")] if "<" in sender else sender


def _notify(session: Session, event: CalendarEvent, users: list[User], settings: Settings) -> int:
    now = cal.now()
    ics = build(
        event,
        organizer=_organizer(settings),
        attendees=[(u.email, u.full_name) for u in users if u.email],
        now=now,
    )
    kind = "annulation" if event.cancelled else "invitation"
    subject = Subject("meeting", event.uid, f"seq{event.sequence}", event.instance_id, None, ics)
    context = {
        "summary": event.summary,
        "starts": event.starts_at.astimezone(cal.PARIS).strftime("%d/%m/%Y à %H:%M"),
        "location": event.location,
        "description": event.description,
        "sequence": event.sequence,
        "link": None,
    }
    return sum(
        record(session=session, user=u, kind=kind, subject=subject, context=context) for u in users
    )


def invite(
    *,
    session: Session,
    source: str,
    summary: str,
    starts_at: datetime,
    attendees: list[User],
    ends_at: datetime | None = None,
    description: str | None = None,
    location: str | None = None,
    instance_id: int | None = None,
    settings: Settings = DEFAULT,
) -> CalendarEvent:
    """Invite to a meeting, or send its update (same UID, SEQUENCE + 1) if it changed."""
    event = session.scalar(select(CalendarEvent).where(CalendarEvent.source == source))
    wanted = {
        "summary": summary,
        "starts_at": starts_at,
        "ends_at": ends_at or starts_at + LENGTH,
        "description": description,
        "location": location,
        "attendees": ",".join(sorted(u.login for u in attendees)),
        "cancelled": False,
    }
    if event is None:
        event = CalendarEvent(uid=f"{uuid.uuid4()}@clausier", source=source, sequence=0)
        session.add(event)
    elif all(getattr(event, k) == v for k, v in wanted.items()):
        return event  # nothing changed: nothing to send
    else:
        event.sequence += 1
    for name, value in wanted.items():
        setattr(event, name, value)
    event.instance_id, event.updated_at = instance_id, cal.now()
    session.flush()
    _notify(session, event, attendees, settings)
    return event


def cancel(*, session: Session, source: str, settings: Settings = DEFAULT) -> CalendarEvent | None:
    """Cancel a meeting: METHOD:CANCEL with the same UID and a higher SEQUENCE."""
    event = session.scalar(select(CalendarEvent).where(CalendarEvent.source == source))
    if event is None or event.cancelled:
        return event
    event.cancelled, event.sequence, event.updated_at = True, event.sequence + 1, cal.now()
    session.flush()
    users = recipients.by_logins(session, event.attendees.split(","))
    _notify(session, event, users, settings)
    return event


def _at(day: date) -> datetime:
    return datetime.combine(day, START, cal.PARIS)


def _committee(
    session: Session, instance: Instance, row: HumanTask, data: dict[str, Any], settings: Settings
):
    title, roles = COMMITTEES[row.element_id]
    day = to_date(data["date_comite"], "date_comite")
    territory = committees.territory_of_key(session, instance.business_key)
    if territory is not None:
        summary = f"{title} {territory.name} du {day.strftime('%d/%m/%Y')}"
        attendees = recipients.territory_members(session, territory.id, roles)
    else:
        summary = f"{title} du {day.strftime('%d/%m/%Y')}"
        attendees = recipients.with_role(session, NETWORK_WIDE.get(row.element_id, roles))
    invite(
        session=session,
        # one meeting per preparation task: a territory's instance holds one each semester
        source=f"comite:{instance.id}:{row.id}",
        summary=summary,
        starts_at=_at(day),
        attendees=attendees,
        description=data.get("ordre_du_jour") or None,
        instance_id=instance.id,
        settings=settings,
    )


def _kickoff(
    session: Session, instance: Instance, row: HumanTask, data: dict[str, Any], settings: Settings
):
    day = to_date(data["date_reunion"], "date_reunion")
    marche = marches.get_by_instance(session=session, instance_id=instance.id)
    if marche is None or day <= cal.today():
        return
    people = recipients.buyers(session, marche) + recipients.facilitators(session, marche)
    invite(
        session=session,
        source=f"lancement:{instance.id}",
        summary=f"Réunion de lancement — {marche.reference}",
        starts_at=_at(day),
        attendees=people,
        location=marche.place_of_execution,
        instance_id=instance.id,
        settings=settings,
    )


@runtime.on_task_completed
def on_meeting_task(session, instance, row, data, seen) -> None:
    """Owe the invitations once a committee or a kickoff has its date (sent by the notices job,
    with what the form said)."""
    if row.element_id in COMMITTEES and data.get("date_comite"):
        keep = ("date_comite", "ordre_du_jour")
    elif row.element_id == "tenir_reunion_lancement" and data.get("date_reunion"):
        keep = ("date_reunion",)
    else:
        return None
    said = {k: _text(data.get(k)) for k in keep if data.get(k) not in (None, "")}
    queue.enqueue(session, "invitation", instance_id=instance.id, task_id=row.id, data=said)
    return None


def _text(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)


@queue.handler("invitation")
def send_invitations(session: Session, settings: Settings, job, state: dict[str, Any]) -> None:
    instance = session.get(Instance, job.instance_id)
    row = session.get(HumanTask, job.task_id)
    if instance is None or row is None:
        return
    if row.element_id in COMMITTEES:
        _committee(session, instance, row, job.data, settings)
    else:
        _kickoff(session, instance, row, job.data, settings)
