"""DMN decision tables evaluated on their own, outside any process (e.g. per-lot calibration)."""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .errors import EngineError, NotFound
from .models import DecisionDefinition
from .parser import ClausierParser, parse_xml

_engines: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def _engine(row: DecisionDefinition):
    cache_key = (row.key, row.content_hash)
    with _lock:
        if cache_key in _engines:
            return _engines[cache_key]
    parser = ClausierParser()
    root = parse_xml(row.dmn_xml, row.source_name)
    parser.add_dmn_xml(root, filename=row.source_name)
    engine = parser.get_engine(row.key, root)
    with _lock:
        _engines[cache_key] = engine
    return engine


def get_decision(*, session: Session, key: str, version: int | None = None) -> DecisionDefinition:
    """The given version of a decision table, or its latest."""
    query = select(DecisionDefinition).where(DecisionDefinition.key == key)
    if version is not None:
        query = query.where(DecisionDefinition.version == version)
    row = session.scalars(query.order_by(DecisionDefinition.version.desc()).limit(1)).first()
    if row is None:
        raise NotFound(f"table de décision « {key} » introuvable")
    return row


def evaluate(*, session: Session, key: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Outputs of the first matching rule (all matches, as lists, for COLLECT tables)."""
    from .runtime import SCRIPT_ENGINE

    engine = _engine(get_decision(session=session, key=key))
    task = SimpleNamespace(
        data=dict(variables), workflow=SimpleNamespace(script_engine=SCRIPT_ENGINE)
    )
    try:
        return dict(engine.result(task))
    except Exception as exc:  # expressions in the table are untrusted
        raise EngineError(f"table de décision « {key} » : {exc}") from exc
