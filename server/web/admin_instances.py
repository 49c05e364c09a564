"""Instances in the admin area: filters, pagination, suspend, resume, retry, migrate, cancel."""

from __future__ import annotations

import math
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.access import Actor
from workflows.engine.errors import EngineError, NotFound
from workflows.marches.models import Marche

from ..api import process_service, scope
from ..api.tasks_service import page as page_of
from . import dates
from .admin import admin_page, blp
from .pages import safe_next

PAGE_SIZE = 25
STATUSES = {
    "running": lazy_gettext("En cours"),
    "suspended": lazy_gettext("Suspendue"),
    "error": lazy_gettext("En erreur"),
    "completed": lazy_gettext("Terminée"),
    "cancelled": lazy_gettext("Annulée"),
}
# URL word → (service action, message once done)
ACTIONS = {
    "suspendre": ("suspend", lazy_gettext("Instance %(id)s suspendue.")),
    "reprendre": ("resume", lazy_gettext("Instance %(id)s reprise.")),
    "relancer": ("retry", lazy_gettext("Instance %(id)s relancée (état : %(status)s).")),
    "migrer": ("migrate", lazy_gettext("Instance %(id)s migrée en version %(version)s.")),
    "annuler": ("cancel", lazy_gettext("Instance %(id)s annulée.")),
}


@blp.get("/instances")
@admin_page
def instances(*, session: Session, actor: Actor):
    """Instances : filtres par état et processus, pagination, actions."""
    status = request.args.get("etat") if request.args.get("etat") in STATUSES else ""
    definitions = process_service.definitions(session=session)
    latest = {d.key: d.version for d in definitions}
    key = request.args.get("processus") if request.args.get("processus") in latest else ""
    number = max(1, request.args.get("page", 1, type=int) or 1)
    query = scope.filtered_instances(session, actor, status=status or None, key=key or None)
    rows, total = page_of(session, query, (number - 1) * PAGE_SIZE, PAGE_SIZE)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    references = dict(
        session.execute(
            select(Marche.instance_id, Marche.reference).where(
                Marche.instance_id.in_([r.id for r in rows])
            )
        ).all()
    )
    kept = {"etat": status, "processus": key}

    def link(**changes: Any) -> str:
        merged = {k: v for k, v in {**kept, **changes}.items() if v not in (None, "")}
        return url_for("admin_web.instances", **merged)

    return render_template(
        "admin/instances.html",
        rows=rows,
        total=total,
        pages=pages,
        page_number=number,
        statuses=STATUSES,
        processes=sorted((d.key, d.name or d.key) for d in definitions),
        latest=latest,
        filters=kept,
        references=references,
        link=link,
        when=dates.when,
    )


@blp.post(
    "/instances/<int:instance_id>/<any(suspendre, reprendre, relancer, migrer, annuler):word>"
)
@admin_page
def instance_action(instance_id: int, word: str, *, session: Session, actor: Actor):
    """Suspendre, reprendre, relancer, migrer (dernière version) ou annuler (motif) une instance."""
    back = safe_next(request.form.get("suivant") or url_for("admin_web.instances"))
    action, message = ACTIONS[word]
    options: dict[str, Any] = {}
    if action == "cancel":
        reason = (request.form.get("motif") or "").strip()
        if not reason:
            flash(_("Motif d'annulation : obligatoire (instance %(id)s).", id=instance_id), "error")
            return redirect(back)
        options["reason"] = reason[:1000]
    try:
        instance = process_service.act(
            session=session,
            actor=actor,
            instance_id=instance_id,
            action=action,
            expected_version=request.form.get("version", type=int),
            **options,
        )
    except NotFound:
        raise
    except EngineError as exc:
        session.rollback()
        flash(_("Instance %(id)s : %(reason)s", id=instance_id, reason=exc.message), "error")
        return redirect(back)
    flash(
        str(message)
        % {
            "id": instance.id,
            "status": STATUSES.get(instance.status, instance.status),
            "version": instance.definition.version,
        },
        "success" if instance.status != "error" else "warning",
    )
    return redirect(back)
