"""The inbox: tabs with counts, filters, sort, pagination; claim, give back, assign."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from workflows.access import Actor, Forbidden
from workflows.accounts.models import User
from workflows.engine import business_calendar as calendar
from workflows.engine import timers
from workflows.engine.errors import EngineError, FormInvalid, TaskNotReady
from workflows.engine.models import HumanTask, Instance, ProcessDefinition
from workflows.marches import service as marches
from workflows.marches.models import Marche
from workflows.referentiel.models import Organisation

from ..api import scope
from ..api import tasks_service as service
from . import dates
from .pages import blp, page, safe_next

PAGE_SIZE = 20
Refused = (Forbidden, FormInvalid, TaskNotReady)
TABS = {
    "mes-taches": lazy_gettext("Mes tâches"),
    "mes-groupes": lazy_gettext("Mes groupes"),
    "en-retard": lazy_gettext("En retard"),
    "cette-semaine": lazy_gettext("Cette semaine"),
    "suivi": lazy_gettext("Suivi / relance"),
    "toutes": lazy_gettext("Toutes"),
}
SORTS = {
    "due": lazy_gettext("Échéance"),
    "created": lazy_gettext("Création"),
    "follow_up": lazy_gettext("Date de suivi"),
    "name": lazy_gettext("Nom de la tâche"),
}


def _end_of_week() -> datetime:
    today = calendar.today()
    sunday = today + timedelta(days=6 - today.weekday())
    return datetime.combine(sunday, time.max, calendar.PARIS)


def tab_query(tab: str, base: service.Query) -> service.Query:
    """The service query of one tab, on top of the filters."""
    now = timers.now()
    if tab == "mes-taches":
        return replace(base, mine=True)
    if tab == "mes-groupes":
        return replace(base, my_groups=True)
    if tab == "en-retard":
        return replace(base, my_groups=True, overdue=True)
    if tab == "cette-semaine":
        return replace(base, my_groups=True, due_after=now, due_before=_end_of_week())
    if tab == "suivi":
        return replace(base, my_groups=True, follow_up_before=now)
    return base


def _day(value: str | None, end: bool = False) -> datetime | None:
    try:
        day = date.fromisoformat(value) if value else None
    except ValueError:
        return None
    if day is None:
        return None
    return datetime.combine(day, time.max if end else time.min, calendar.PARIS)


def filters_from(args: Any) -> tuple[service.Query, dict[str, str]]:
    """The filters and sort of the query string, and the same values to fill the form."""
    kept = {k: (args.get(k) or "").strip() for k in ("processus", "marche", "acheteur", "du", "au")}
    kept["tri"] = args.get("tri") if args.get("tri") in SORTS else "due"
    kept["ordre"] = "desc" if args.get("ordre") == "desc" else "asc"
    query = service.Query(
        process=kept["processus"] or None,
        marche=kept["marche"] or None,
        due_after=_day(kept["du"]),
        due_before=_day(kept["au"], end=True),
        sort=kept["tri"],
        desc=kept["ordre"] == "desc",
    )
    return query, kept


def _by_buyer(select_: Select, buyer: str) -> Select:
    """Narrow a scoped task query to the marchés of one buyer organisation."""
    if not buyer.isdigit():
        return select_
    driven = select(Marche.instance_id).where(Marche.buyer_id == int(buyer))
    return select_.where(HumanTask.instance_id.in_(driven))


def _scoped(session: Session, actor: Actor, query: service.Query, buyer: str) -> Select:
    return _by_buyer(service.inbox(session=session, actor=actor, query=query), buyer)


def _count(session: Session, select_: Select) -> int:
    counted = select_.order_by(None).with_only_columns(func.count(), maintain_column_froms=True)
    return session.scalar(counted) or 0


def _row_context(session: Session, tasks: list[HumanTask]) -> dict[int, dict[str, Any]]:
    """Business key, process name, marché and buyer of each listed task's instance."""
    ids = {t.instance_id for t in tasks}
    if not ids:
        return {}
    rows = session.execute(
        select(
            Instance.id,
            Instance.business_key,
            ProcessDefinition.name,
            ProcessDefinition.key,
            Marche.reference,
            Marche.subject,
            Organisation.name,
        )
        .join(ProcessDefinition, ProcessDefinition.id == Instance.definition_id)
        .outerjoin(Marche, Marche.instance_id == Instance.id)
        .outerjoin(Organisation, Organisation.id == Marche.buyer_id)
        .where(Instance.id.in_(ids))
    )
    return {
        r[0]: {
            "business_key": r[1],
            "process": r[2] or r[3],
            "reference": r[4],
            "subject": r[5],
            "buyer": r[6],
        }
        for r in rows
    }


def filter_choices(session: Session, actor: Actor) -> dict[str, list[tuple[str, str]]]:
    """Options of the process and buyer filters (buyers of the marchés the actor may see)."""
    processes = session.execute(
        select(ProcessDefinition.key, ProcessDefinition.name).order_by(
            ProcessDefinition.key, ProcessDefinition.version.desc()
        )
    ).all()
    seen: dict[str, str] = {}
    for key, name in processes:
        seen.setdefault(key, name or key)
    buyers = session.execute(
        select(Organisation.id, Organisation.name)
        .where(Organisation.id.in_(select(Marche.buyer_id).where(marches.visible(actor))))
        .order_by(Organisation.name)
    ).all()
    return {
        "processes": sorted(seen.items(), key=lambda kv: kv[1].lower()),
        "buyers": [(str(i), n) for i, n in buyers],
    }


def assignable_users(session: Session, actor: Actor) -> list[str]:
    """Logins an assigning actor (admin or coordination) may pick from."""
    if not (actor.is_admin or actor.role == "coordinateur"):
        return []
    return list(
        session.scalars(select(User.login).where(User.active.is_(True)).order_by(User.login))
    )


@blp.get("/")
@page
def inbox(*, session: Session, actor: Actor):
    """Tâches de l'utilisateur connecté : onglets, filtres, tri, pagination."""
    overseer = actor.is_admin or actor.role == "coordinateur"  # offered nothing, sees all
    default = "toutes" if overseer else "mes-groupes"
    tab = request.args.get("onglet") if request.args.get("onglet") in TABS else default
    base, kept = filters_from(request.args)
    counts = {
        name: _count(session, _scoped(session, actor, tab_query(name, base), kept["acheteur"]))
        for name in TABS
    }
    number = max(1, request.args.get("page", 1, type=int) or 1)
    selected = _scoped(session, actor, tab_query(tab, base), kept["acheteur"])
    tasks, total = service.page(session, selected, (number - 1) * PAGE_SIZE, PAGE_SIZE)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    return render_template(
        "inbox.html",
        tabs=TABS,
        tab=tab,
        counts=counts,
        tasks=tasks,
        total=total,
        page_number=number,
        pages=pages,
        page_size=PAGE_SIZE,
        rows=_row_context(session, tasks),
        filters=kept,
        choices=filter_choices(session, actor),
        sorts=SORTS,
        users=assignable_users(session, actor),
        may_work_on=lambda t: scope.may_work_on(actor, t),
        relative_due=dates.relative_due,
        due_state=dates.due_state,
        short_date=dates.short_date,
        link=_linker(request.args),
    )


def _linker(args: Any):
    """url_for the inbox with the current query string, some values changed (None drops one)."""
    current = {k: v for k, v in args.items() if k not in ("page", "lang")}

    def link(**changes: Any) -> str:
        merged = {k: v for k, v in {**current, **changes}.items() if v not in (None, "")}
        return url_for("web.inbox", **merged)

    return link


ACTIONS = {
    "prendre": (service.claim, lazy_gettext("Tâche « %(name)s » prise : elle est à vous.")),
    "rendre": (service.unclaim, lazy_gettext("Tâche « %(name)s » rendue à son groupe.")),
}


@blp.post("/taches/<string:task_id>/<any(prendre, rendre):action>")
@page
def assignment(task_id: str, action: str, *, session: Session, actor: Actor):
    """Prendre une tâche, ou la rendre à son groupe."""
    change, message = ACTIONS[action]
    try:
        task = change(session=session, actor=actor, task_id=task_id)
    except Refused as exc:
        return refused(session, exc)
    flash(str(message) % {"name": task.name or task.element_id}, "success")
    return redirect(safe_next(request.form.get("suivant")))


@blp.post("/taches/<string:task_id>/attribuer")
@page
def assign(task_id: str, *, session: Session, actor: Actor):
    """Attribuer une tâche à quelqu'un (vide : la libérer)."""
    login = (request.form.get("utilisateur") or "").strip() or None
    try:
        task = service.assign(session=session, actor=actor, task_id=task_id, user_id=login)
    except Refused as exc:
        return refused(session, exc)
    name = task.name or task.element_id
    if login:
        flash(_("Tâche « %(name)s » attribuée à %(login)s.", name=name, login=login), "success")
    else:
        flash(_("Tâche « %(name)s » libérée.", name=name), "success")
    return redirect(safe_next(request.form.get("suivant")))


def refused(session: Session, exc: EngineError):
    """A refused change: nothing written, the reason shown on the page the user came from."""
    session.rollback()
    details = "; ".join(exc.errors.values()) if exc.errors else ""
    flash(f"{exc.message} {details}".strip(), "error")
    return redirect(safe_next(request.form.get("suivant")))
