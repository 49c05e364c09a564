"""Dates as people read them: due dates relative to today, on the business calendar."""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import format_date, format_datetime, ngettext
from flask_babel import gettext as _

from workflows.engine import business_calendar as calendar


def due_state(due: datetime | None, today: date | None = None) -> str:
    """ "late", "today", "soon" (within 3 working days), "later" or "" (no due date)."""
    if due is None:
        return ""
    today = today or calendar.today()
    day = due.astimezone(calendar.PARIS).date()
    if day < today:
        return "late"
    if day == today:
        return "today"
    return "soon" if calendar.business_days_between(today, day) <= 3 else "later"


def relative_due(due: datetime | None, today: date | None = None) -> str:
    """ "dans 3 jours ouvrés", "aujourd'hui", "en retard de 2 jours" (calendar days late)."""
    if due is None:
        return _("sans échéance")
    today = today or calendar.today()
    day = due.astimezone(calendar.PARIS).date()
    if day == today:
        return _("aujourd'hui")
    if day < today:
        late = (today - day).days
        return ngettext("en retard de %(num)d jour", "en retard de %(num)d jours", late)
    working = calendar.business_days_between(today, day)
    if working == 0:  # due on a week-end or a holiday just ahead
        return _("avant le prochain jour ouvré")
    return ngettext("dans %(num)d jour ouvré", "dans %(num)d jours ouvrés", working)


def short_date(value: datetime | date | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return format_date(value.astimezone(calendar.PARIS).date(), "short")
    return format_date(value, "short")


def when(value: datetime | None) -> str:
    """Date and time in Paris, as the user's language writes them."""
    return format_datetime(value, "short") if value else "—"
