"""Reminder policies and mail templates in the admin area (`notifications.policy|render`).

A policy is set per process or per task; a value left empty falls back to the process, then to
the configuration. A template is checked by `render.update` (Jinja in the sandbox); the preview
renders the typed text with example values, without saving it.
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from jinja2 import TemplateError
from sqlalchemy import select
from sqlalchemy.orm import Session

from notifications import policy, render
from notifications.models import KINDS, NotificationTemplate
from workflows.access import Actor
from workflows.engine.errors import FormInvalid
from workflows.engine.parser import BPMN_NS, parse_xml

from ..api import process_service
from . import dates
from .admin import admin_page, blp
from .forms import FieldView
from .pages import error_page

DAYS = ("before_days", "overdue_every_days", "escalate_after_days")
FLAGS = ("on_due", "follow_up", "copy_facilitators")
LABELS = {
    "before_days": lazy_gettext("Rappel avant l'échéance (jours ouvrés, 0 : aucun)"),
    "on_due": lazy_gettext("Rappel le jour de l'échéance"),
    "overdue_every_days": lazy_gettext("Relance en retard tous les (jours ouvrés, 0 : aucune)"),
    "escalate_after_days": lazy_gettext("Escalade après (jours ouvrés de retard, 0 : aucune)"),
    "escalate_to": lazy_gettext("Escalade vers"),
    "follow_up": lazy_gettext("Relance à la date de suivi"),
    "copy_facilitators": lazy_gettext("Copie aux facilitateurs"),
}
HEADERS = {  # short column titles of the table of rules in force
    "before_days": lazy_gettext("Rappel avant (j)"),
    "on_due": lazy_gettext("Rappel le jour J"),
    "overdue_every_days": lazy_gettext("Relance tous les (j)"),
    "escalate_after_days": lazy_gettext("Escalade après (j)"),
    "escalate_to": lazy_gettext("Escalade vers"),
    "follow_up": lazy_gettext("Relance de suivi"),
    "copy_facilitators": lazy_gettext("Copie facilitateurs"),
}
TARGETS = {
    "coordinateur": lazy_gettext("la coordination"),
    "responsable": lazy_gettext("le responsable (à défaut la coordination)"),
    "coordinateur_et_responsable": lazy_gettext("la coordination et le responsable"),
}


def user_tasks(xml: str, file_name: str) -> list[tuple[str, str]]:
    """(id, name) of the user tasks of a diagram, in document order."""
    root = parse_xml(xml.encode(), file_name)
    return [
        (el.get("id"), el.get("name") or el.get("id"))
        for el in root.iter(f"{{{BPMN_NS}}}userTask")
        if el.get("id")
    ]


def _shown(name: str, value: Any) -> str:
    if value is None:
        return "—"
    if name in FLAGS:
        return _("oui") if value else _("non")
    if name == "escalate_to":
        return str(TARGETS.get(value, value))
    return str(value)


def _policy_fields(values: dict[str, str], errors: dict[str, str]) -> list[FieldView]:
    inherit = [_("Valeur héritée laissée vide")]
    views = []
    for name in policy.FIELDS:
        if name in FLAGS:
            kind, options = "enum", [("true", _("Oui")), ("false", _("Non"))]
        elif name == "escalate_to":
            kind, options = "enum", [(k, str(v)) for k, v in TARGETS.items()]
        else:
            kind, options = "long", []
        views.append(
            FieldView(
                id=name,
                label=str(LABELS[name]),
                type=kind,
                value=values.get(name, ""),
                options=options,
                hints=inherit,
                error=errors.get(name),
            )
        )
    return views


def _override_values(session: Session, key: str, element: str | None) -> dict[str, str]:
    for row in policy.get_all(session=session):
        if row.process_key == key and row.element_id == element:
            return {
                n: ("" if getattr(row, n) is None else str(getattr(row, n)).lower())
                for n in policy.FIELDS
            }
    return {}


def _policies_page(
    session: Session,
    *,
    key: str,
    element: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    problem: str | None = None,
    status: int = 200,
):
    definitions = process_service.definitions(session=session)
    keys = [(d.key, d.name or d.key) for d in definitions]
    tasks: list[tuple[str, str]] = []
    rows = []
    if key:
        row = process_service.definition(session=session, key=key)
        tasks = user_tasks(row.bpmn_xml, row.source_name)
        overrides = {
            r.element_id: r for r in policy.get_all(session=session) if r.process_key == key
        }
        for element_id, name in [(None, _("Tout le processus")), *tasks]:
            rules = policy.resolve(session=session, process_key=key, element_id=element_id or "")
            rows.append(
                {
                    "element": element_id or "",
                    "name": name,
                    "overridden": element_id in overrides,
                    "rules": {n: _shown(n, getattr(rules, n)) for n in policy.FIELDS},
                }
            )
    if values is None:
        values = _override_values(session, key, element or None) if key else {}
    return render_template(
        "admin/policies.html",
        keys=keys,
        key=key,
        element=element,
        tasks=tasks,
        rows=rows,
        labels=HEADERS,
        fields=_policy_fields(values, errors or {}),
        problem=problem,
    ), status


@blp.get("/relances")
@admin_page
def policies(*, session: Session, actor: Actor):
    """Politiques de relance par processus et par tâche."""
    keys = {d.key for d in process_service.definitions(session=session)}
    key = request.args.get("processus") or ""
    key = key if key in keys else (sorted(keys)[0] if keys else "")
    return _policies_page(session, key=key, element=request.args.get("tache") or "")


@blp.post("/relances")
@admin_page
def update_policy(*, session: Session, actor: Actor):
    """Enregistrer la politique d'un processus ou d'une tâche."""
    key = (request.form.get("processus") or "").strip()
    element = (request.form.get("tache") or "").strip()
    process_service.definition(session=session, key=key)  # 404 for an unknown process
    values = {n: (request.form.get(n) or "").strip() for n in policy.FIELDS}
    errors: dict[str, str] = {}
    typed: dict[str, Any] = {}
    for name, text in values.items():
        if text == "":
            typed[name] = None
        elif name in DAYS:
            if not text.isdigit():
                errors[name] = _("nombre entier de jours ouvrés attendu")
            else:
                typed[name] = int(text)
        elif name in FLAGS:
            typed[name] = text == "true"
        else:
            typed[name] = text
    if not errors:
        try:
            policy.update(
                session=session,
                actor=actor,
                process_key=key,
                element_id=element or None,
                **typed,
            )
        except FormInvalid as exc:
            session.rollback()
            errors = exc.errors
        else:
            flash(_("Politique de relance enregistrée."), "success")
            return redirect(url_for("admin_web.policies", processus=key, tache=element or None))
    return _policies_page(
        session,
        key=key,
        element=element,
        values=values,
        errors=errors,
        problem=_("Politique refusée : corrigez les champs signalés."),
        status=422,
    )


# --- mail templates ------------------------------------------------------------------------

TEMPLATE_FIELDS = {
    "subject": lazy_gettext("Objet"),
    "body_text": lazy_gettext("Texte (courriel en texte brut)"),
    "body_html": lazy_gettext("HTML (courriel mis en forme)"),
}
EXAMPLE: dict[str, Any] = {
    "name": "Camille Martin",
    "task": "Valider le calibrage des heures",
    "marche": "DEMO-2026-001",
    "due": "15/06/2027",
    "late": 3,
    "link": "https://clausier.example/taches/exemple",
    "follow_up": "10/06/2027",
    "managed": "acheteur.gpsea",
    "as_manager": True,
    "fallback": False,
    "summary": "Comité technique",
    "starts": "mardi 15 juin 2027 à 10:00",
    "location": "Créteil, salle du conseil",
    "description": "Ordre du jour : suivi des heures d'insertion.",
    "sequence": 0,
    "day": "14/06/2027",
    "items": [
        {"title": "Nouvelle tâche : saisir les heures de mai", "link": "https://clausier.example/"},
        {"title": "Tâche en retard : bilan du marché", "link": None},
    ],
    "pack": "bilan-2027",
    "pack_title": "Bilan annuel",
    "pack_lines": ["Marché DEMO-2026-001 : 420 heures"],
    "pack_export": "https://clausier.example/export",
}


def _current(session: Session, kind: str) -> tuple[dict[str, str], NotificationTemplate | None]:
    row = session.scalar(
        select(NotificationTemplate).where(
            NotificationTemplate.kind == kind, NotificationTemplate.language == "fr"
        )
    )
    if row is not None:
        return {"subject": row.subject, "body_text": row.body_text, "body_html": row.body_html}, row
    subject, text, html = render.shipped(kind)
    return {"subject": subject, "body_text": text, "body_html": html}, None


def preview(values: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The template rendered with the example values, or the errors by field."""
    shown, errors = {}, {}
    for name, source in values.items():
        environment = render.HTML if name == "body_html" else render.TEXT
        try:
            shown[name] = environment.from_string(source).render(EXAMPLE)
        except TemplateError as exc:
            errors[name] = str(exc)
        except (TypeError, ValueError, ArithmeticError, AttributeError, LookupError) as exc:
            errors[name] = _("erreur à l'aperçu : %(e)s", e=exc)
    if "subject" in shown:
        shown["subject"] = " ".join(shown["subject"].split())[:500]
    return shown, errors


@blp.get("/courriels")
@admin_page
def mail_templates(*, session: Session, actor: Actor):
    """Modèles de courriels : un par type de notification."""
    rows = {
        r.kind: r
        for r in session.scalars(
            select(NotificationTemplate).where(NotificationTemplate.language == "fr")
        )
    }
    return render_template("admin/mail_templates.html", kinds=KINDS, rows=rows, when=dates.when)


def _template_page(kind, values, row, *, errors=None, shown=None, problem=None, status=200):
    return render_template(
        "admin/mail_template.html",
        kind=kind,
        title=KINDS[kind],
        values=values,
        row=row,
        labels=TEMPLATE_FIELDS,
        errors=errors or {},
        shown=shown,
        problem=problem,
        when=dates.when,
    ), status


@blp.get("/courriels/<string:kind>")
@admin_page
def mail_template(kind: str, *, session: Session, actor: Actor):
    """Un modèle de courriel, son aperçu avec des valeurs d'exemple."""
    if kind not in KINDS:
        return _unknown_kind()
    values, row = _current(session, kind)
    shown, errors = preview(values)
    return _template_page(kind, values, row, shown=shown, errors=errors)


def _unknown_kind():
    return error_page(404, _("Ce type de courriel n'existe pas."))


@blp.post("/courriels/<string:kind>")
@admin_page
def save_mail_template(kind: str, *, session: Session, actor: Actor):
    """Aperçu ou enregistrement d'un modèle (refusé, avec l'erreur, si le modèle est faux)."""
    if kind not in KINDS:
        return _unknown_kind()
    values = {n: request.form.get(n) or "" for n in TEMPLATE_FIELDS}
    _stored, row = _current(session, kind)
    if not values["subject"].strip():
        return _template_page(
            kind, values, row, errors={"subject": _("obligatoire")},
            problem=_("Modèle refusé : corrigez les champs signalés."), status=422,
        )  # fmt: skip
    if request.form.get("action") != "enregistrer":
        shown, errors = preview(values)
        return _template_page(kind, values, row, shown=shown, errors=errors)
    try:
        render.update(session=session, actor=actor, kind=kind, **values)
    except FormInvalid as exc:
        session.rollback()
        return _template_page(
            kind, values, row, errors=exc.errors,
            problem=_("Modèle refusé : corrigez les champs signalés."), status=422,
        )  # fmt: skip
    _shown, errors = preview(values)
    if errors:  # parses, but fails with the example values: refused as well
        session.rollback()
        return _template_page(
            kind, values, row, errors=errors,
            problem=_("Modèle refusé : corrigez les champs signalés."), status=422,
        )  # fmt: skip
    flash(_("Modèle « %(title)s » enregistré.", title=KINDS[kind]), "success")
    return redirect(url_for("admin_web.mail_template", kind=kind))
