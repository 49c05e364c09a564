"""Deployment: a changed file becomes version n+1; an unchanged one is skipped."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .errors import DiagramError, NotFound
from .models import DecisionDefinition, Event, ProcessDefinition
from .parser import kind_of, parse_diagrams, parse_xml
from .serializer import dump_spec


@dataclass
class Deployed:
    kind: str  # process or decision
    key: str
    version: int
    created: bool  # False when the content was already deployed as that version


def _hash(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def _latest(session: Session, model, key: str):
    return session.scalars(
        select(model).where(model.key == key).order_by(model.version.desc()).limit(1)
    ).first()


def _decisions(root: etree._Element) -> list[etree._Element]:
    return [
        el
        for el in root
        if isinstance(el.tag, str) and etree.QName(el).localname == "decision" and el.get("id")
    ]


def _decision_ids(root: etree._Element) -> list[str]:
    return [el.get("id") for el in _decisions(root)]


def read_files(paths: list[Path]) -> dict[str, bytes]:
    """Diagram files by name, from paths to files or folders."""
    files: dict[str, bytes] = {}
    for path in paths:
        if path.is_dir():
            for child in sorted(path.iterdir()):
                if child.suffix in (".bpmn", ".dmn"):
                    files[child.name] = child.read_bytes()
        elif path.exists():
            files[path.name] = path.read_bytes()
        else:
            raise NotFound(f"fichier introuvable : {path}")
    return files


def deploy(
    *, session: Session, files: dict[str, bytes], actor: str | None = None
) -> list[Deployed]:
    """Validate every file, then store new versions; nothing is stored if any file is refused."""
    if not files:
        raise DiagramError("aucun fichier .bpmn ou .dmn à déployer")
    roots = {name: parse_xml(data, name) for name, data in files.items()}
    bpmn: dict[str, etree._Element] = {}
    dmn: dict[str, etree._Element] = {}
    for name, root in roots.items():
        try:
            (bpmn if kind_of(root) == "bpmn" else dmn)[name] = root
        except DiagramError as exc:
            raise DiagramError(exc.reason, file_name=name) from exc

    # Decisions already deployed stay available to the processes deployed now.
    dmn_sources: dict[str, tuple[str, bytes]] = {}  # decision id -> (file name, xml)
    for row in session.scalars(select(DecisionDefinition).order_by(DecisionDefinition.version)):
        dmn_sources[row.key] = (row.source_name, row.dmn_xml.encode())
    for name, root in dmn.items():
        ids = _decision_ids(root)
        if not ids:
            raise DiagramError("aucune décision dans ce fichier DMN", file_name=name)
        for decision_id in ids:
            dmn_sources[decision_id] = (name, files[name])
    dmn_roots = dict(dmn)
    for name, data in {n: d for n, d in dmn_sources.values()}.items():
        dmn_roots.setdefault(name, parse_xml(data, name))

    processes = parse_diagrams(bpmn, dmn_roots)
    results: list[Deployed] = []
    for name, root in dmn.items():
        key = _decision_ids(root)[0]
        results.append(_store_decision(session, key, name, files[name], root, actor))
    for process in processes:
        refs = {}
        for ref in process.decision_refs:
            if ref not in dmn_sources:
                raise DiagramError(
                    f"table de décision « {ref} » introuvable", file_name=process.file_name
                )
            file_name, data = dmn_sources[ref]
            refs[file_name] = data
        content_hash = _hash(files[process.file_name], *(refs[k] for k in sorted(refs)))
        latest = _latest(session, ProcessDefinition, process.key)
        if latest is not None and latest.content_hash == content_hash:
            results.append(Deployed("process", process.key, latest.version, False))
            continue
        row = ProcessDefinition(
            key=process.key,
            version=(latest.version + 1) if latest else 1,
            name=process.name,
            content_hash=content_hash,
            source_name=process.file_name,
            bpmn_xml=files[process.file_name].decode(),
            dmn_xml={k: v.decode() for k, v in refs.items()},
            spec_json=dump_spec(process.spec, process.subprocess_specs),
            deployed_by=actor,
        )
        session.add(row)
        session.add(
            Event(
                actor=actor,
                kind="definition.deployed",
                data={"key": row.key, "version": row.version, "file": row.source_name},
            )
        )
        results.append(Deployed("process", row.key, row.version, True))
    session.flush()
    return results


def _store_decision(session, key, name, data, root, actor) -> Deployed:
    content_hash = _hash(data)
    latest = _latest(session, DecisionDefinition, key)
    if latest is not None and latest.content_hash == content_hash:
        return Deployed("decision", key, latest.version, False)
    decision_names = [el.get("name") for el in _decisions(root)]
    row = DecisionDefinition(
        key=key,
        version=(latest.version + 1) if latest else 1,
        name=decision_names[0] if decision_names else None,
        content_hash=content_hash,
        source_name=name,
        dmn_xml=data.decode(),
        deployed_by=actor,
    )
    session.add(row)
    session.add(
        Event(actor=actor, kind="decision.deployed", data={"key": key, "version": row.version})
    )
    return Deployed("decision", key, row.version, True)


def get_definition(*, session: Session, key: str, version: int | None = None) -> ProcessDefinition:
    """The given version of a process, or its latest."""
    query = select(ProcessDefinition).where(ProcessDefinition.key == key)
    if version is not None:
        query = query.where(ProcessDefinition.version == version)
    row = session.scalars(query.order_by(ProcessDefinition.version.desc()).limit(1)).first()
    if row is None:
        suffix = f" en version {version}" if version is not None else ""
        raise NotFound(f"processus « {key} »{suffix} introuvable")
    return row


def list_definitions(*, session: Session, latest_only: bool = True) -> list[ProcessDefinition]:
    """Deployed process versions, newest first per key."""
    query = select(ProcessDefinition)
    if latest_only:
        newest = (
            select(ProcessDefinition.key, func.max(ProcessDefinition.version).label("v"))
            .group_by(ProcessDefinition.key)
            .subquery()
        )
        query = query.join(
            newest,
            (ProcessDefinition.key == newest.c.key) & (ProcessDefinition.version == newest.c.v),
        )
    return list(
        session.scalars(query.order_by(ProcessDefinition.key, ProcessDefinition.version.desc()))
    )
