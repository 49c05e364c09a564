"""Checking a diagram as deployment would, without deploying it, and saying where it fails.

`check` runs the deployment itself inside a savepoint that is always rolled back: whatever
deployment refuses is refused here, with the same message. The refusal is then tied to a
diagram element the modeller can mark: the parser's element id when it has one, else the
element found from the message (a missing decision table: the tasks referring to it) or from
the XML line.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from lxml import etree
from sqlalchemy.orm import Session

from .deploy import deploy
from .errors import DiagramError

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
_MISSING_DECISION = re.compile(r"table de décision « ([^»]+) » introuvable|DMN [^\"]*\"([^\"]+)\"")


@dataclass(frozen=True)
class Problem:
    """One refusal: the message, and where (element ids may be empty when nothing matched)."""

    message: str
    file_name: str = ""
    element_ids: tuple[str, ...] = ()
    line: int = 0

    def as_dict(self) -> dict:
        return {**asdict(self), "element_ids": list(self.element_ids)}


def _root(data: bytes) -> etree._Element | None:
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
        return etree.fromstring(data, parser)
    except (etree.XMLSyntaxError, ValueError):
        return None


def _by_decision(root: etree._Element, decision: str) -> list[str]:
    found = root.xpath(
        "//*[@camunda:decisionRef=$ref]", namespaces={"camunda": CAMUNDA_NS}, ref=decision
    )
    return [el.get("id") for el in found if el.get("id")]


def _by_line(root: etree._Element, line: int) -> list[str]:
    """The innermost element with an id starting on or before `line`."""
    best = None
    for el in root.iter():
        if not isinstance(el.tag, str) or not el.get("id"):
            continue
        if el.sourceline is not None and el.sourceline <= line:
            best = el
    return [best.get("id")] if best is not None else []


def locate(exc: DiagramError, files: dict[str, bytes]) -> Problem:
    """The refusal with the ids of the elements it concerns."""
    ids: list[str] = [exc.element_id] if exc.element_id else []
    data = files.get(exc.file_name) if exc.file_name else None
    if data is None and len(files) == 1:
        data = next(iter(files.values()))
    root = _root(data) if data is not None else None
    if not ids and root is not None:
        found = _MISSING_DECISION.search(exc.reason)
        if found:
            ids = _by_decision(root, found.group(1) or found.group(2))
        elif exc.line:
            ids = _by_line(root, exc.line)
    return Problem(exc.reason, exc.file_name, tuple(ids), exc.line)


def check(*, session: Session, files: dict[str, bytes]) -> list[Problem]:
    """The problems deployment would refuse these files for (empty: it would accept them).

    Nothing is kept: the deployment runs in a savepoint rolled back before returning.
    """
    savepoint = session.begin_nested()
    try:
        deploy(session=session, files=files, actor=None)
    except DiagramError as exc:
        return [locate(exc, files)]
    finally:
        savepoint.rollback()
    return []
