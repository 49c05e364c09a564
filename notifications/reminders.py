"""Reminders computed from the open inbox rows and the policy: which are due today, for whom.

Each reminder is keyed by the due date it reminds of (and the overdue step), so running the
computation again, or in several processes, writes nothing new; a changed due date starts a new
series.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from workflows.accounts.models import User
from workflows.engine import business_calendar as cal
from workflows.engine import runtime
from workflows.engine.models import HumanTask
from workflows.gouvernance import committees
from workflows.marches.models import Marche

from . import policy as policies
from . import queue, recipients
from .service import Subject, record
from .settings import Settings

NEW_TASK_LOOKBACK = timedelta(days=1)  # tasks older than this when first seen get no "nouvelle"
REMINDER_KINDS = ("rappel_avant", "echeance", "retard", "escalade", "relance_suivi")


@dataclass(frozen=True)
class Step:
    kind: str
    occurrence: str
    context: dict[str, Any] = field(default_factory=dict)
    audience: str = "actors"  # actors, escalation, facilitators


def steps(task: HumanTask, rules: policies.Policy, today: date, dep: str | None) -> list[Step]:
    """The reminders due today for one task (before its people are known)."""
    found = []
    if task.due_at is not None:
        due = task.due_at.astimezone(cal.PARIS).date()
        occurrence = due.isoformat()
        before = cal.add_business_days(due, -rules.before_days, dep) if rules.before_days else due
        created = task.created_at.astimezone(cal.PARIS).date()
        if before <= today < due and created < today:  # the new-task notice tells the due date
            found.append(Step("rappel_avant", occurrence))
        if rules.on_due and today == due:
            found.append(Step("echeance", occurrence))
            if rules.copy_facilitators:
                found.append(Step("echeance", occurrence, audience="facilitators"))
        late = cal.business_days_between(due, today, dep) if today > due else 0
        every = rules.overdue_every_days
        if every and late >= every:
            nth = f"{occurrence}#{late // every}"
            found.append(Step("retard", nth, {"late": late}))
            if rules.copy_facilitators:
                found.append(Step("retard", nth, {"late": late}, audience="facilitators"))
        if rules.escalate_after_days and late >= rules.escalate_after_days:
            found.append(Step("escalade", occurrence, {"late": late}, audience="escalation"))
    if task.follow_up_at is not None and rules.follow_up:
        follow_up = task.follow_up_at.astimezone(cal.PARIS).date()
        if today >= follow_up:
            found.append(
                Step("relance_suivi", follow_up.isoformat(), {"follow_up": _fr(follow_up)})
            )
    return found


def _fr(day: date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else ""


class Run:
    """One pass of the reminder computation, with per-pass caches."""

    def __init__(self, session: Session, settings: Settings):
        self.session, self.settings = session, settings
        self.now = cal.now()
        self.today = self.now.date()
        self._rules: dict[tuple[str, str], policies.Policy] = {}
        self.written = 0

    def rules(self, task: HumanTask) -> policies.Policy:
        key = (task.process_key, task.element_id)
        if key not in self._rules:
            self._rules[key] = policies.resolve(
                session=self.session,
                process_key=task.process_key,
                element_id=task.element_id,
                settings=self.settings,
            )
        return self._rules[key]

    def coordination(self, task: HumanTask, marche: Marche | None) -> list[User]:
        if marche is not None:
            return recipients.coordinators(self.session, marche)
        territory = recipients.territory_of(self.session, task.instance_id)
        return recipients.territory_coordinators(self.session, [territory.id]) if territory else []

    def escalation(
        self, step: Step, task: HumanTask, marche: Marche | None
    ) -> list[tuple[User, dict[str, Any]]]:
        """Whom an overdue task escalates to (policy `escalate_to`), each with what to say.

        `responsable`: the managers of the people who should act (the assignee, else the task's
        group), e.g. the buyer's head of procurement; when none of them has an active manager, the
        coordination, told so. `coordinateur_et_responsable`: both.
        """
        target = self.rules(task).escalate_to
        people = recipients.for_task(self.session, task, marche)
        managed = ", ".join(u.full_name or u.login for u in people)
        found: list[tuple[User, dict[str, Any]]] = []
        bosses = recipients.managers(self.session, people) if target != "coordinateur" else []
        for boss in bosses:
            found.append((boss, {"as_manager": True, "managed": managed}))
        if target != "responsable" or not bosses:
            fallback = target == "responsable"
            for user in self.coordination(task, marche):
                found.append((user, {"fallback": fallback, "managed": managed}))
        unique: dict[str, tuple[User, dict[str, Any]]] = {}
        for user, context in found:
            unique.setdefault(user.login, (user, context))  # a manager who coordinates: once
        return list(unique.values())

    def recipients(
        self, step: Step, task: HumanTask, marche: Marche | None
    ) -> list[tuple[User, dict[str, Any]]]:
        if step.audience == "escalation":
            return self.escalation(step, task, marche)
        return [(u, {}) for u in self.audience(step, task, marche)]

    def audience(self, step: Step, task: HumanTask, marche: Marche | None) -> list[User]:
        if step.audience == "facilitators":
            buyer_task = "acheteur" in task.candidate_groups
            mine = "facilitateur" in task.candidate_groups
            if marche is None or not buyer_task or mine:
                return []
            return recipients.facilitators(self.session, marche)
        return recipients.for_task(self.session, task, marche)

    def context(self, task: HumanTask, marche: Marche | None) -> dict[str, Any]:
        due = task.due_at.astimezone(cal.PARIS).date() if task.due_at else None
        return {
            "task": task.name or task.element_id,
            "marche": f"{marche.reference} — {marche.subject}" if marche else "",
            "due": _fr(due),
            "link": f"{self.settings.base_url}/taches/{task.id}",
            "late": 0,
        }

    def task(self, task: HumanTask) -> None:
        marche = recipients.marche_of(self.session, task)
        dep = recipients.departement(self.session, marche)
        found = steps(task, self.rules(task), self.today, dep)
        if task.created_at >= self.now - NEW_TASK_LOOKBACK:  # a net for notices not yet written
            found.insert(0, Step("nouvelle_tache", "creee", self.extra(task)))
        self.write(task, marche, found)

    def write(self, task: HumanTask, marche: Marche | None, found: list[Step]) -> None:
        base = self.context(task, marche)
        subject_link = base["link"]
        for step in found:
            subject = Subject("task", task.id, step.occurrence, task.instance_id, subject_link)
            for user, extra in self.recipients(step, task, marche):
                self.written += record(
                    session=self.session,
                    user=user,
                    kind=step.kind,
                    subject=subject,
                    context={**base, **step.context, **extra},
                )

    def extra(self, task: HumanTask) -> dict[str, Any]:
        """Committee preparation carries the indicators pack: a territory's comité technique,
        its territory's figures (and how to export them); otherwise a link to the year's."""
        if task.element_id not in ("preparer_comite", "preparer_comite_pilotage"):
            return {}
        territory = recipients.territory_of(self.session, task.instance_id)
        if territory is None:
            return {"pack": f"{self.settings.base_url}/indicateurs?annee={self.today.year - 1}"}
        found = committees.pack(self.session, territory, self.today)
        start, end = found["period"]
        return {
            "pack": f"{self.settings.base_url}/api/v1/indicators?territory_id={territory.id}"
            f"&period_start={start.isoformat()}&period_end={end.isoformat()}",
            "pack_title": f"{territory.name}, du {_fr(start)} au {_fr(end)}",
            "pack_lines": found["lines"],
            "pack_export": found["export"],
        }


@runtime.on_task_created
def on_new_task(session: Session, _instance, task: HumanTask) -> None:
    """Owe the "nouvelle tâche" notice: a job written with the task, sent by the notices job."""
    queue.enqueue(session, "nouvelle_tache", instance_id=task.instance_id, task_id=task.id)


@queue.handler("nouvelle_tache")
def announce(session: Session, settings: Settings, job, state: dict[str, Any]) -> None:
    """The notice of a new task, unless it is already done or gone."""
    task = session.get(HumanTask, job.task_id)
    if task is None or task.state != "open":
        return
    run = state.get("run") or state.setdefault("run", Run(session, settings))
    marche = recipients.marche_of(session, task)
    run.write(task, marche, [Step("nouvelle_tache", "creee", run.extra(task))])


def compute(*, session: Session, settings: Settings) -> int:
    """Write today's reminders (and new-task notices) for every open task; returns rows added."""
    run = Run(session, settings)
    query = select(HumanTask).where(
        HumanTask.state == "open",
        or_(
            HumanTask.due_at.is_not(None),
            HumanTask.follow_up_at.is_not(None),
            HumanTask.created_at >= run.now - NEW_TASK_LOOKBACK,
        ),
    )
    for task in session.scalars(query.order_by(HumanTask.created_at)):
        run.task(task)
    return run.written
