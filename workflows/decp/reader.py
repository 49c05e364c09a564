"""Reading DECP files (format v2): JSON `{"marches": {"marche": [...]}}` or the XML equivalent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lxml import etree

from workflows.values import invalid

# Wrapper elements of the XML (and of some consolidated JSON files) around repeated values.
WRAPPED = {"titulaires": "titulaire", "considerationsSociales": "considerationSociale"}
WRAPPED |= {"considerationsEnvironnementales": "considerationEnvironnementale"}


def _element(node: etree._Element) -> Any:
    children = [c for c in node if isinstance(c.tag, str)]
    if not children:
        return (node.text or "").strip()
    result: dict[str, Any] = {}
    for child in children:
        value = _element(child)
        if child.tag in result:
            if not isinstance(result[child.tag], list):
                result[child.tag] = [result[child.tag]]
            result[child.tag].append(value)
        else:
            result[child.tag] = value
    return result


def unwrap(record: dict[str, Any]) -> dict[str, Any]:
    """Lists where the XML or consolidated JSON wraps them ({"titulaire": …} → [...])."""
    record = dict(record)
    for name, inner in WRAPPED.items():
        value = record.get(name)
        if isinstance(value, dict) and inner in value:
            value = value[inner]
        if isinstance(value, dict | str):
            value = [value]
        if isinstance(value, list):
            value = [v[inner] if isinstance(v, dict) and inner in v else v for v in value]
            record[name] = value
    return record


def parse_bytes(data: bytes, *, xml: bool = False) -> list[Any]:
    """The marché records of a DECP document (anything else in it is ignored)."""
    if xml or data.lstrip().startswith(b"<"):
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
        try:
            root = etree.fromstring(data, parser)
        except etree.XMLSyntaxError as exc:
            raise invalid("fichier", f"XML illisible : {exc}") from None
        records = [_element(node) for node in root.iter("marche")]
        return [unwrap(r) if isinstance(r, dict) else r for r in records]
    try:
        document = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise invalid("fichier", f"JSON illisible : {exc}") from None
    marches = document.get("marches") if isinstance(document, dict) else None
    if isinstance(marches, dict):
        marches = marches.get("marche", [])
    if isinstance(marches, dict):
        marches = [marches]
    if not isinstance(marches, list):
        raise invalid("fichier", 'format DECP v2 attendu : {"marches": {"marche": [...]}}')
    return [unwrap(r) if isinstance(r, dict) else r for r in marches]


def read_path(path: str | Path) -> list[Any]:
    """The marché records of a DECP file (.json or .xml)."""
    path = Path(path)
    return parse_bytes(path.read_bytes(), xml=path.suffix.lower() == ".xml")
