"""Reminder policy, channels (mail, in-app, ICS), templates and the outbox; no Flask."""

from . import meetings  # noqa: F401  (registers the meeting invitations on the engine)
