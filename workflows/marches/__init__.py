"""Marchés, lots, clauses, calibration, disposition advice and the lifecycle listener."""

from . import flows  # noqa: F401  (registers the lifecycle listener on the engine)
