"""Reminder policy, channels (mail, in-app, ICS), templates and the outbox; no Flask."""

from . import meetings, reminders  # noqa: F401  (register their listeners on the engine)
