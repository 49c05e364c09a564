"""Minimal French pages: the inbox and the health check (the full UI comes later)."""

from __future__ import annotations

from flask import Blueprint, current_app, g, jsonify, render_template
from sqlalchemy import func, select, text

from workflows.engine.models import HumanTask, Instance, ProcessDefinition

blp = Blueprint("web", __name__)


def session():
    if "session" not in g:
        g.session = current_app.extensions["clausier.sessions"]()
    return g.session


@blp.get("/")
def inbox():
    """Tâches à faire."""
    s = session()
    tasks = s.scalars(
        select(HumanTask).where(HumanTask.state == "open").order_by(HumanTask.due_at).limit(200)
    ).all()
    counts = dict(s.execute(select(Instance.status, func.count()).group_by(Instance.status)).all())
    definitions = s.scalars(select(ProcessDefinition).order_by(ProcessDefinition.key)).all()
    return render_template("inbox.html", tasks=tasks, counts=counts, definitions=definitions)


@blp.get("/healthz")
def health():
    session().execute(text("SELECT 1"))
    return jsonify(status="ok")
