"""Reminder policy: defaults from configuration, overridden by admins per process and per task."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.access import Actor, require
from workflows.engine import timers
from workflows.engine.errors import FormInvalid

from .models import ReminderPolicy
from .settings import DEFAULT, Settings

# Whom an overdue task escalates to: the territory's coordination, the manager of the people who
# should act (a buyer's head of procurement; the coordination when none is set), or both.
ESCALATION_TARGETS = ("coordinateur", "responsable", "coordinateur_et_responsable")


@dataclass(frozen=True)
class Policy:
    """The rules in force for one task (days are working days of the task's département)."""

    before_days: int
    on_due: bool
    overdue_every_days: int
    escalate_after_days: int
    escalate_to: str
    follow_up: bool
    copy_facilitators: bool


FIELDS = tuple(f.name for f in fields(Policy))


def defaults(settings: Settings = DEFAULT) -> Policy:
    """The policy of the configuration, before any admin change."""
    return Policy(**{name: getattr(settings, name) for name in FIELDS})


def _overlay(policy: Policy, row: ReminderPolicy | None) -> Policy:
    if row is None:
        return policy
    changes = {n: getattr(row, n) for n in FIELDS if getattr(row, n) is not None}
    return replace(policy, **changes)


def resolve(
    *, session: Session, process_key: str, element_id: str, settings: Settings = DEFAULT
) -> Policy:
    """Defaults, then the process's row, then the task's row."""
    rows = {
        r.element_id: r
        for r in session.scalars(
            select(ReminderPolicy).where(ReminderPolicy.process_key == process_key)
        )
    }
    return _overlay(_overlay(defaults(settings), rows.get(None)), rows.get(element_id))


def _validate(values: dict[str, Any]) -> dict[str, Any]:
    errors = {}
    for name, value in values.items():
        if name not in FIELDS:
            errors[name] = "réglage inconnu"
        elif value is None:
            continue
        elif name.endswith("_days") and (not isinstance(value, int) or not 0 <= value <= 60):
            errors[name] = "nombre de jours ouvrés entre 0 et 60 attendu"
        elif name == "escalate_to" and value not in ESCALATION_TARGETS:
            errors[name] = "valeurs : " + ", ".join(ESCALATION_TARGETS)
        elif name in ("on_due", "follow_up", "copy_facilitators") and not isinstance(value, bool):
            errors[name] = "oui ou non attendu"
    if errors:
        raise FormInvalid("Politique de relance refusée.", errors=errors)
    return values


def update(
    *,
    session: Session,
    actor: Actor,
    process_key: str,
    element_id: str | None = None,
    **values: Any,
) -> ReminderPolicy:
    """Set the policy of a process (element_id None) or of one task; admins only.

    A value left to None falls back to the process's policy, then to the configuration.
    """
    require(actor.is_admin, "Réservé aux administrateurs.")
    _validate(values)
    query = select(ReminderPolicy).where(ReminderPolicy.process_key == process_key)
    query = query.where(
        ReminderPolicy.element_id.is_(None)
        if element_id is None
        else ReminderPolicy.element_id == element_id
    )
    row = session.scalar(query)
    if row is None:
        row = ReminderPolicy(process_key=process_key, element_id=element_id)
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_by, row.updated_at = actor.login, timers.now()
    session.flush()
    return row


def get_all(*, session: Session) -> list[ReminderPolicy]:
    """Every admin override, by process then task."""
    return list(
        session.scalars(
            select(ReminderPolicy).order_by(ReminderPolicy.process_key, ReminderPolicy.element_id)
        )
    )
