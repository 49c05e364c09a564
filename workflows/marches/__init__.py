"""Marchés, lots, clauses, calibration, disposition advice and the lifecycle listener."""

from workflows.engine import runtime as _runtime  # noqa: E402
from workflows.referentiel.service import territory_of_key as _territory_of_key  # noqa: E402

from . import flows  # noqa: F401  (registers the lifecycle listener on the engine)

if _territory_of_key not in _runtime.SCOPE_OF_KEY:  # instances without marché: by business key
    _runtime.SCOPE_OF_KEY.append(_territory_of_key)
