"""The task page: the form of a task, its context, save as draft, complete."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import format_currency
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.access import Actor, Forbidden
from workflows.engine import runtime
from workflows.engine.errors import (
    FormInvalid,
    InstanceNotRunning,
    StaleInstance,
    TaskNotReady,
)
from workflows.engine.models import Event, HumanTask
from workflows.marches import service as marches
from workflows.marches.models import DISPOSITIONS, RESERVATIONS
from workflows.referentiel.models import Organisation

from ..api import scope
from ..api import tasks_service as service
from . import dates, drafts, forms
from .pages import blp, page

HISTORY = 15


def marche_summary(session: Session, task: HumanTask) -> dict[str, Any] | None:
    """Reference, buyer, amount, disposition and hours of the marché the instance drives."""
    marche = marches.get_by_instance(session=session, instance_id=task.instance_id)
    if marche is None:
        return None
    buyer = session.get(Organisation, marche.buyer_id)
    clauses = [
        {
            "lot": c.lot_id,
            "target": c.hours_target,
            "calculated": c.calculated_hours,
            "validated": c.validated_at is not None,
        }
        for c in marche.clauses
    ]
    disposition = DISPOSITIONS.get(marche.disposition or "", marche.disposition)
    if marche.reservation:
        disposition = f"{disposition} — {RESERVATIONS.get(marche.reservation, '')}"
    return {
        "reference": marche.reference,
        "subject": marche.subject,
        "buyer": buyer.name if buyer else "—",
        "amount": format_currency(marches.amount(marche), "EUR"),
        "amount_final": marche.final_amount_ht is not None,
        "disposition": disposition,
        "article": marche.disposition_article,
        "phase": marche.phase,
        "clauses": clauses,
    }


@dataclass
class Decision:
    name: str
    actor: str | None
    at: datetime
    values: list[tuple[str, str]]


def decisions(session: Session, task: HumanTask) -> list[Decision]:
    """The instance's completed tasks, latest first, their values under the forms' labels."""
    events = list(
        session.scalars(
            select(Event)
            .where(Event.instance_id == task.instance_id, Event.kind == "task.completed")
            .order_by(Event.id.desc())
            .limit(HISTORY)
        )
    )
    ids = [e.data.get("task_id") for e in events if e.data.get("task_id")]
    done = {t.id: t for t in session.scalars(select(HumanTask).where(HumanTask.id.in_(ids)))}
    result = []
    for event in events:
        row = done.get(event.data.get("task_id"))
        specs = {f["id"]: f for f in ((row.form if row else None) or {}).get("fields", [])}
        values = []
        for key, value in (event.data.get("data") or {}).items():
            spec = specs.get(key, {})
            view = forms.FieldView(
                id=key,
                label=spec.get("label") or key,
                type=spec.get("type") or "string",
                value=forms.as_text(value),
                options=[(o["id"], o.get("name") or o["id"]) for o in spec.get("options", [])],
            )
            values.append((view.label, view.shown))
        name = event.data.get("name") or (row.name if row else None) or event.element_id or "?"
        result.append(Decision(name, event.actor, event.at, values))
    return result


def _render(
    session: Session,
    actor: Actor,
    task: HumanTask,
    *,
    entered: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    problem: str | None = None,
):
    current = runtime.variables(session=session, instance_id=task.instance_id)
    draft = drafts.latest(session=session, actor=actor, task=task)
    if entered is None:
        entered = drafts.values_of(draft)
    fields = forms.fields_of(task.form or {}, current=current, entered=entered, errors=errors or {})
    editable = task.state == "open" and scope.may_work_on(actor, task)
    return render_template(
        "task.html",
        task=task,
        fields=fields,
        editable=editable,
        errors=errors or {},
        problem=problem,
        draft=draft,
        version=service.version_of(session, task),
        marche=marche_summary(session, task),
        decisions=decisions(session, task),
        relative_due=dates.relative_due,
        due_state=dates.due_state,
        short_date=dates.short_date,
        when=dates.when,
    )


@blp.get("/taches/<string:task_id>")
@page
def task(task_id: str, *, session: Session, actor: Actor):
    """Une tâche : son formulaire et son contexte."""
    found = service.get_for(session=session, actor=actor, task_id=task_id)
    return _render(session, actor, found)


@blp.post("/taches/<string:task_id>")
@page
def submit(task_id: str, *, session: Session, actor: Actor):
    """Enregistrer le brouillon ou terminer la tâche."""
    found = service.get_for(session=session, actor=actor, task_id=task_id)
    values = forms.submitted(found.form or {}, request.form)
    if request.form.get("action") == "brouillon":
        drafts.save(session=session, actor=actor, task_id=found.id, values=values)
        flash(_("Brouillon enregistré."), "success")
        return redirect(url_for("web.task", task_id=found.id))
    version = request.form.get("version", type=int)
    name = found.name or found.element_id
    try:
        service.complete(
            session=session, actor=actor, task_id=found.id, data=values, expected_version=version
        )
    except FormInvalid as exc:
        session.rollback()
        found = service.get_for(session=session, actor=actor, task_id=task_id)
        return _render(
            session, actor, found, entered=values, errors=exc.errors, problem=exc.message
        )
    except StaleInstance:
        return _conflict(session, actor, task_id, values)
    except (TaskNotReady, InstanceNotRunning, Forbidden) as exc:
        session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("web.task", task_id=task_id))
    flash(_("Tâche « %(name)s » terminée.", name=name), "success")
    return redirect(url_for("web.inbox"))


def _conflict(session: Session, actor: Actor, task_id: str, values: dict[str, str]):
    """Someone changed the instance meanwhile: keep what was typed (as a draft too), explain."""
    session.rollback()
    found = service.get_for(session=session, actor=actor, task_id=task_id)
    drafts.save(session=session, actor=actor, task_id=found.id, values=values)
    session.commit()
    message = _(
        "Le dossier a été modifié par quelqu'un d'autre pendant votre saisie. Vos valeurs sont "
        "conservées ci-dessous (et enregistrées en brouillon) : vérifiez-les, puis terminez à "
        "nouveau."
    )
    return _render(session, actor, found, entered=values, problem=message)
