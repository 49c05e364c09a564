"""The admin area (`/admin/`, administrators only): process models and the modeller, decision
tables, instances, accounts and reference data, reminders and mail templates, the outbox.

Every page reads and writes through the services (`server.api.process_service`,
`server.api.people_service`, `workflows.referentiel.service`, `notifications.policy|render`),
which check the actor's role again and keep the audit trail. The other pages of the area live in
`admin_instances`, `admin_people` and `admin_notifications`, on the same blueprint.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from lxml import etree
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from notifications.models import Notification
from workflows.access import Actor
from workflows.accounts.models import User
from workflows.engine import validation
from workflows.engine.errors import DiagramError, EngineError
from workflows.engine.models import DecisionDefinition, Instance, ProcessDefinition
from workflows.engine.parser import BPMN_NS, parse_xml

from .. import auth
from ..api import process_service
from . import dates
from .pages import engine_error, error_page, http_error, signed_in

blp = Blueprint("admin_web", __name__, url_prefix="/admin")
blp.register_error_handler(EngineError, engine_error)
blp.register_error_handler(HTTPException, http_error)

NEW_KEY = "nouveau_processus"
BLANK_DIAGRAM = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" \
xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" \
xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" \
xmlns:di="http://www.omg.org/spec/DD/20100524/DI" \
xmlns:camunda="http://camunda.org/schema/1.0/bpmn" \
xmlns:modeler="http://camunda.org/schema/modeler/1.0" \
id="definitions_nouveau_processus" targetNamespace="https://clausier.example/bpmn" \
exporter="clausier" modeler:executionPlatform="Camunda Platform" \
modeler:executionPlatformVersion="7.21.0">
  <bpmn:process id="nouveau_processus" name="Nouveau processus" isExecutable="true">
    <bpmn:startEvent id="debut" name="Début" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="diagramme_nouveau_processus">
    <bpmndi:BPMNPlane id="plan_nouveau_processus" bpmnElement="nouveau_processus">
      <bpmndi:BPMNShape id="debut_di" bpmnElement="debut">
        <dc:Bounds x="180" y="160" width="36" height="36" />
      </bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def admin_page(view: Callable) -> Callable:
    """A page for administrators: others get the 403 page; commits once when it returns."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        actor = signed_in()
        if actor is None:
            return redirect(url_for("auth.login"))
        if not actor.is_admin:
            return error_page(403, _("Cette page est réservée aux administrateurs."))
        s = auth.db()
        result = view(*args, session=s, actor=actor, **kwargs)
        s.commit()
        return result

    return wrapper


@blp.get("/")
@admin_page
def index(*, session: Session, actor: Actor):
    """Administration : les rubriques et quelques chiffres."""
    statuses = dict(
        session.execute(select(Instance.status, func.count()).group_by(Instance.status)).all()
    )
    mails = dict(
        session.execute(
            select(Notification.status, func.count())
            .where(Notification.email.is_not(None))
            .group_by(Notification.status)
        ).all()
    )
    return render_template(
        "admin/index.html",
        processes=session.scalar(select(func.count(func.distinct(ProcessDefinition.key)))) or 0,
        statuses=statuses,
        users=session.scalar(select(func.count()).select_from(User).where(User.active)) or 0,
        mails=mails,
    )


# --- process models ------------------------------------------------------------------------


@blp.get("/modeles")
@admin_page
def processes(*, session: Session, actor: Actor):
    """Modèles de processus : clés, versions, déploiements."""
    rows = process_service.definitions(session=session, latest_only=False)
    by_key: dict[str, list[ProcessDefinition]] = {}
    for row in rows:
        by_key.setdefault(row.key, []).append(row)
    decisions = session.scalars(
        select(DecisionDefinition).order_by(
            DecisionDefinition.key, DecisionDefinition.version.desc()
        )
    ).all()
    return render_template(
        "admin/processes.html", by_key=by_key, decisions=decisions, when=dates.when
    )


@blp.get("/modeles/<string:key>/versions/<int:version>.bpmn")
@admin_page
def download(key: str, version: int, *, session: Session, actor: Actor):
    """Le XML d'une version déployée, en pièce jointe."""
    row = process_service.definition(session=session, key=key, version=version)
    name = row.source_name.rsplit(".", 1)[0]
    return Response(
        row.bpmn_xml,
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{name}-v{row.version}.bpmn"'},
    )


@blp.get("/modeles/<string:key>/modeler")
@admin_page
def modeler(key: str, *, session: Session, actor: Actor):
    """Le modeleur sur une version (la dernière sauf `?version=`)."""
    version = request.args.get("version", type=int)
    if key == NEW_KEY and not process_service.definitions(session=session, key=key):
        return _modeler_page(key=key, xml=BLANK_DIAGRAM, version=None, latest=None)
    marked = []
    instance_id = request.args.get("instance", type=int)
    if instance_id is not None:  # an instance in error: its version, its faulty element marked
        instance = process_service.get(session=session, actor=actor, instance_id=instance_id)
        version = instance.definition.version
        if instance.status == "error" and instance.error_element:
            marked.append(
                {
                    "message": instance.error_message or _("Erreur"),
                    "element_ids": [instance.error_element],
                }
            )
    row = process_service.definition(session=session, key=key, version=version)
    latest = process_service.definition(session=session, key=key)
    return _modeler_page(
        key=key, xml=row.bpmn_xml, version=row.version, latest=latest.version, marked=marked
    )


@blp.get("/modeles/nouveau")
@admin_page
def new_diagram(*, session: Session, actor: Actor):
    """Le modeleur sur un diagramme vierge."""
    return _modeler_page(key=NEW_KEY, xml=BLANK_DIAGRAM, version=None, latest=None, new=True)


def _modeler_page(
    *,
    key: str,
    xml: str,
    version: int | None,
    latest: int | None,
    new: bool = False,
    marked: list[dict[str, Any]] | None = None,
):
    return render_template(
        "admin/modeler.html",
        key=key,
        xml=xml,
        version=version,
        latest=latest,
        new=new,
        marked=marked or [],
        file_name=f"{key}.bpmn",
    )


def _posted_diagram() -> tuple[str, bytes, str | None]:
    """(file name, XML, key) of the diagram sent by the modeller; the file name is the deployed
    one of the same process (else `<process id>.bpmn`)."""
    data = request.get_data(cache=True)
    if len(data) > process_service.MAX_FILE:
        raise DiagramError(_("fichier trop volumineux (2 Mio au plus)"))
    root = parse_xml(data, "diagramme.bpmn")
    ids = [
        el.get("id")
        for el in root
        if isinstance(el.tag, str) and etree.QName(el).namespace == BPMN_NS
        if etree.QName(el).localname == "process" and el.get("id")
    ]
    key = ids[0] if ids else None
    return f"{key or 'diagramme'}.bpmn", data, key


def _source_name(session: Session, key: str | None, default: str) -> str:
    if key is None:
        return default
    rows = process_service.definitions(session=session, key=key)
    return rows[0].source_name if rows else default


def _problems_answer(exc: DiagramError, files: dict[str, bytes], status: int):
    problems = [validation.locate(exc, files).as_dict()]
    return jsonify(ok=False, message=_("Diagramme refusé."), problems=problems), status


@blp.post("/modeles/valider")
@admin_page
def validate(*, session: Session, actor: Actor):
    """Les vérifications du déploiement sur le diagramme envoyé, sans le déployer (JSON)."""
    try:
        name, data, key = _posted_diagram()
    except DiagramError as exc:
        return _problems_answer(exc, {"diagramme.bpmn": request.get_data()}, 200)
    files = {_source_name(session, key, name): data}
    problems = validation.check(session=session, files=files)
    return jsonify(ok=not problems, problems=[p.as_dict() for p in problems])


@blp.post("/modeles/deployer")
@admin_page
def deploy(*, session: Session, actor: Actor):
    """Déployer le diagramme envoyé comme nouvelle version (JSON ; 422 avec les erreurs)."""
    files = {"diagramme.bpmn": request.get_data()}
    try:
        name, data, key = _posted_diagram()
        files = {_source_name(session, key, name): data}
        done = process_service.deploy(session=session, actor=actor, files=files)
    except DiagramError as exc:
        session.rollback()
        return _problems_answer(exc, files, 422)
    process = next((d for d in done if d.kind == "process" and d.key == key), None)
    if process is None:
        process = next((d for d in done if d.kind == "process"), None)
    if process is None:
        session.rollback()
        return jsonify(ok=False, message=_("Aucun processus exécutable dans ce diagramme.")), 422
    if process.created:
        message = _(
            "Version %(version)s de « %(key)s » déployée.", version=process.version, key=process.key
        )
    else:
        message = _(
            "Aucun changement : la version %(version)s de « %(key)s » reste en service.",
            version=process.version,
            key=process.key,
        )
    status = 201 if process.created else 200
    return jsonify(
        ok=True, key=process.key, version=process.version, created=process.created, message=message
    ), status


# --- decision tables (read-only rendering) -------------------------------------------------


def _text(el: etree._Element | None) -> str:
    if el is None:
        return ""
    return " ".join("".join(el.itertext()).split())


def decision_tables(xml: str, file_name: str) -> list[dict[str, Any]]:
    """The decision tables of a DMN file: inputs, outputs and rules, as text."""
    root = parse_xml(xml.encode(), file_name)
    tables = []
    for decision in root.iter():
        if not isinstance(decision.tag, str) or etree.QName(decision).localname != "decision":
            continue
        table = next(
            (c for c in decision if etree.QName(c).localname == "decisionTable"),
            None,
        )
        if table is None:
            continue

        def children(parent: etree._Element, name: str) -> list[etree._Element]:
            return [c for c in parent if etree.QName(c).localname == name]

        inputs = [
            {
                "label": i.get("label") or "",
                "expression": _text(next(iter(children(i, "inputExpression")), None)),
            }
            for i in children(table, "input")
        ]
        outputs = [
            {"label": o.get("label") or o.get("name") or "", "name": o.get("name") or ""}
            for o in children(table, "output")
        ]
        rules = [
            {
                "inputs": [_text(e) for e in children(r, "inputEntry")],
                "outputs": [_text(e) for e in children(r, "outputEntry")],
                "description": _text(next(iter(children(r, "description")), None)),
            }
            for r in children(table, "rule")
        ]
        tables.append(
            {
                "id": decision.get("id"),
                "name": decision.get("name") or decision.get("id"),
                "hit_policy": table.get("hitPolicy") or "UNIQUE",
                "inputs": inputs,
                "outputs": outputs,
                "rules": rules,
            }
        )
    return tables


@blp.get("/decisions/<string:key>")
@admin_page
def decision(key: str, *, session: Session, actor: Actor):
    """Une table de décision DMN (dernière version), en lecture."""
    row = _latest_decision(session, key)
    if row is None:
        return error_page(404, _("Table de décision « %(key)s » introuvable.", key=key))
    return render_template(
        "admin/decision.html", row=row, tables=decision_tables(row.dmn_xml, row.source_name)
    )


def _latest_decision(session: Session, key: str) -> DecisionDefinition | None:
    return session.scalars(
        select(DecisionDefinition)
        .where(DecisionDefinition.key == key)
        .order_by(DecisionDefinition.version.desc())
        .limit(1)
    ).first()


@blp.get("/decisions/<string:key>/editeur")
@admin_page
def decision_editor(key: str, *, session: Session, actor: Actor):
    """L'éditeur DMN (dmn-js) sur la dernière version d'une table de décision."""
    row = _latest_decision(session, key)
    if row is None:
        return error_page(404, _("Table de décision « %(key)s » introuvable.", key=key))
    return render_template("admin/dmn_editor.html", row=row, key=key, xml=row.dmn_xml)


def _posted_decisions(session: Session, key: str) -> tuple[dict[str, bytes], list[str]]:
    """The DMN file sent by the editor (under its deployed name) with the latest version of every
    process using one of its decisions: deploying them together gives those processes a new
    version that embeds the new table. Returns (files, keys of those processes)."""
    row = _latest_decision(session, key)
    if row is None:
        raise DiagramError(_("Table de décision « %(key)s » introuvable.", key=key))
    data = request.get_data(cache=True)
    if len(data) > process_service.MAX_FILE:
        raise DiagramError(_("fichier trop volumineux (2 Mio au plus)"))
    root = parse_xml(data, row.source_name)
    ids = {
        el.get("id")
        for el in root
        if isinstance(el.tag, str) and etree.QName(el).localname == "decision" and el.get("id")
    }
    files = {row.source_name: data}
    users = []
    for process in process_service.definitions(session=session):
        refs = parse_xml(process.bpmn_xml.encode(), process.source_name).xpath(
            "//@camunda:decisionRef", namespaces={"camunda": validation.CAMUNDA_NS}
        )
        if ids & set(refs) and process.source_name not in files:
            files[process.source_name] = process.bpmn_xml.encode()
            users.append(process.key)
    return files, users


@blp.post("/decisions/<string:key>/valider")
@admin_page
def validate_decision(key: str, *, session: Session, actor: Actor):
    """Les vérifications du déploiement sur la table envoyée, avec les processus qui s'en
    servent, sans rien déployer (JSON)."""
    files = {f"{key}.dmn": request.get_data()}
    try:
        files, _users = _posted_decisions(session, key)
    except DiagramError as exc:
        return _problems_answer(exc, files, 200)
    problems = validation.check(session=session, files=files)
    return jsonify(ok=not problems, problems=[p.as_dict() for p in problems])


@blp.post("/decisions/<string:key>/deployer")
@admin_page
def deploy_decision(key: str, *, session: Session, actor: Actor):
    """Déployer la table envoyée, et les processus qui s'en servent (JSON ; 422 refusé)."""
    files = {f"{key}.dmn": request.get_data()}
    try:
        files, _users = _posted_decisions(session, key)
        done = process_service.deploy(session=session, actor=actor, files=files)
    except DiagramError as exc:
        session.rollback()
        return _problems_answer(exc, files, 422)
    decisions = [d for d in done if d.kind == "decision"]
    decision = next((d for d in decisions if d.key == key), decisions[0])
    redeployed = [f"{d.key} v{d.version}" for d in done if d.kind == "process" and d.created]
    if not decision.created:
        message = _(
            "Aucun changement : la version %(version)s de « %(key)s » reste en service.",
            version=decision.version,
            key=decision.key,
        )
    elif redeployed:
        message = _(
            "Version %(version)s de « %(key)s » déployée ; processus redéployés avec elle : "
            "%(processes)s.",
            version=decision.version,
            key=decision.key,
            processes=", ".join(redeployed),
        )
    else:
        message = _(
            "Version %(version)s de « %(key)s » déployée.",
            version=decision.version,
            key=decision.key,
        )
    return jsonify(
        ok=True,
        key=decision.key,
        version=decision.version,
        created=decision.created,
        processes=redeployed,
        message=message,
    ), (201 if decision.created else 200)


@blp.get("/decisions/<string:key>/versions/<int:version>.dmn")
@admin_page
def decision_download(key: str, version: int, *, session: Session, actor: Actor):
    """Le XML d'une version de table de décision."""
    row = session.scalar(
        select(DecisionDefinition).where(
            DecisionDefinition.key == key, DecisionDefinition.version == version
        )
    )
    if row is None:
        return error_page(404, _("Table de décision « %(key)s » introuvable.", key=key))
    name = row.source_name.rsplit(".", 1)[0]
    return Response(
        row.dmn_xml,
        mimetype="application/xml",
        headers={"Content-Disposition": f'attachment; filename="{name}-v{row.version}.dmn"'},
    )


def register(app) -> None:
    """The admin blueprint with all its pages."""
    from . import admin_instances, admin_notifications, admin_people  # noqa: F401

    app.register_blueprint(blp)
