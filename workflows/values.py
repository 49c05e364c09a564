"""Conversions shared by the domain services: money and hours as Decimal, dates, months."""

from __future__ import annotations

import calendar
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from workflows.engine.errors import FormInvalid


def invalid(field: str, message: str) -> FormInvalid:
    """A FormInvalid naming one field."""
    return FormInvalid(f"Donnée invalide : {field}.", errors={field: message})


def to_decimal(value: Any, field: str, *, minimum: Decimal | None = Decimal(0)) -> Decimal:
    """A Decimal from a number or French-formatted text ("1 000 000,50"), never a float's noise."""
    if isinstance(value, bool) or value is None:
        raise invalid(field, "un nombre est attendu")
    text = value if isinstance(value, str) else str(value)
    text = text.strip().replace("\u202f", "").replace("\u00a0", "").replace(" ", "")
    try:
        result = Decimal(text.replace(",", "."))
    except InvalidOperation:
        raise invalid(field, "un nombre est attendu") from None
    if not result.is_finite():
        raise invalid(field, "un nombre fini est attendu")
    if minimum is not None and result < minimum:
        raise invalid(field, f"la valeur doit être au moins {minimum}")
    return result


def optional_decimal(value: Any, field: str) -> Decimal | None:
    """None for an empty value, else to_decimal."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return to_decimal(value, field)


def to_date(value: Any, field: str) -> date:
    """A date from a date or ISO / French (JJ/MM/AAAA) text."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
            try:
                return datetime.strptime(value.strip(), fmt).date()
            except ValueError:
                pass
    raise invalid(field, "une date est attendue (AAAA-MM-JJ)")


def optional_date(value: Any, field: str) -> date | None:
    """None for an empty value, else to_date."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return to_date(value, field)


def first_of_month(day: date) -> date:
    """The first day of the month of `day` (hours records are kept by month)."""
    return day.replace(day=1)


def add_months(day: date, months: int) -> date:
    """Same day `months` later, clamped to the end of a shorter month (31 Jan + 1 → 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def end_of_month(day: date) -> date:
    """The last day of the month of `day`."""
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def percent(share: Decimal) -> str:
    """A share as French text: Decimal("0.055") → "5,5 %"."""
    value = (share * 100).normalize()
    return f"{value:f}".replace(".", ",") + " %"


def jsonable(value: Any) -> Any:
    """Dates as ISO text and Decimals as text, for exports and process variables."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
