"""Minimal French pages: the signed-in user's inbox and the health check (full UI to come)."""

from __future__ import annotations

from flask import Blueprint, jsonify, redirect, render_template, url_for
from sqlalchemy import func, select, text

from workflows.accounts.service import Unauthorized
from workflows.engine.models import HumanTask, Instance, ProcessDefinition

from . import auth
from .api import scope

blp = Blueprint("web", __name__)


@blp.get("/")
def inbox():
    """Tâches à faire de l'utilisateur connecté (son périmètre seulement)."""
    try:
        actor = auth.current_actor()
    except Unauthorized:
        return redirect(url_for("auth.login"))
    s = auth.db()
    tasks = s.scalars(scope.tasks(s, actor, "open").order_by(HumanTask.due_at).limit(200)).all()
    counts = dict(
        s.execute(
            select(Instance.status, func.count())
            .where(scope.instance_visible(s, actor))
            .group_by(Instance.status)
        ).all()
    )
    definitions = s.scalar(select(func.count(func.distinct(ProcessDefinition.key))))
    return render_template(
        "inbox.html",
        tasks=tasks,
        counts=counts,
        definitions=definitions,
        actor=actor,
        csrf=auth.csrf_token(),
    )


@blp.get("/healthz")
def health():
    auth.db().execute(text("SELECT 1"))
    return jsonify(status="ok")
