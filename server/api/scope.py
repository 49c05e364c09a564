"""Which instances and tasks an actor may see: scoped queries, every one taking `actor`.

- An instance driving a marché (`Marche.instance_id`) is visible to whoever sees the marché
  (its buyer organisation, the facilitators/coordinators of its territories, admins).
- An instance without a marché (committees, conventions, ad-hoc processes) is visible to the
  facilitators and coordinators of the territory whose code is its business key, or whose code
  prefixes it followed by "/" (e.g. `GPSEA/2027-S1`), and to admins. Only they may start one
  (a facilitator's business key must name one of its territories). Buyers see none.
- Both are decided at start and stored on the instance and its inbox rows (`buyer_id`,
  `territory_id`; kept in step when a marché changes buyer or territory), so an inbox is one
  index range scan; only territories attached to a marché are joined.
- A task is visible when its instance is. Anything not visible is answered 404, as if absent.
"""

from __future__ import annotations

from sqlalchemy import (
    ColumnElement,
    Select,
    false,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session, contains_eager

from workflows.access import Actor
from workflows.engine.errors import NotFound
from workflows.engine.models import HumanTask, Instance, ProcessDefinition
from workflows.marches.models import Marche, MarcheTerritory
from workflows.referentiel.models import Territory


def _territory_codes(session: Session, actor: Actor) -> list[str]:
    if not (actor.facilitates and actor.territory_ids):
        return []
    ids = sorted(actor.territory_ids)
    return list(session.scalars(select(Territory.code).where(Territory.id.in_(ids))))


def _attached_instances(session: Session, actor: Actor) -> list[int]:
    """Instances of marchés that span one of the actor's territories without leading there
    (few: fetched apart, so that the usual query stays one index range)."""
    ids = sorted(actor.territory_ids)
    return list(
        session.scalars(
            select(Marche.instance_id)
            .join(MarcheTerritory, MarcheTerritory.marche_id == Marche.id)
            .where(MarcheTerritory.territory_id.in_(ids), Marche.instance_id.is_not(None))
        )
    )


def _visible(session, actor: Actor, buyer_col, territory_col, instance_col) -> ColumnElement[bool]:
    """The scope test on the buyer/territory columns stored on instances and inbox rows."""
    if actor.is_admin:
        return true()
    if actor.role == "acheteur":
        return buyer_col == actor.organisation_id if actor.organisation_id else false()
    if actor.facilitates and actor.territory_ids:
        mine = territory_col.in_(sorted(actor.territory_ids))
        attached = _attached_instances(session, actor)
        return or_(mine, instance_col.in_(attached)) if attached else mine
    return false()


def _sees(session: Session, actor: Actor, row: Instance | HumanTask) -> bool:
    """`_visible` for one row already read: the stored columns decide, the attached
    territories are read only when they do not."""
    if actor.is_admin:
        return True
    if actor.role == "acheteur":
        return actor.organisation_id is not None and row.buyer_id == actor.organisation_id
    if actor.facilitates and actor.territory_ids:
        return row.territory_id in actor.territory_ids or (
            row.instance_id if isinstance(row, HumanTask) else row.id
        ) in _attached_instances(session, actor)
    return False


def instance_visible(session: Session, actor: Actor) -> ColumnElement[bool]:
    """SQL condition on Instance: the instances this actor may see."""
    return _visible(session, actor, Instance.buyer_id, Instance.territory_id, Instance.id)


def may_start(session: Session, actor: Actor, business_key: str | None) -> bool:
    """Admins start anything; facilitators and coordinators an instance keyed in their
    territories (so that they, and their colleagues, can see it); buyers nothing directly."""
    if actor.is_admin:
        return True
    codes = _territory_codes(session, actor)
    key = business_key or ""
    return any(key == c or key.startswith(c + "/") for c in codes)


def instances(session: Session, actor: Actor) -> Select:
    return select(Instance).where(instance_visible(session, actor))


def filtered_instances(
    session: Session,
    actor: Actor,
    *,
    status: str | None = None,
    key: str | None = None,
    business_key: str | None = None,
) -> Select:
    """Visible instances, newest first, filtered."""
    query = instances(session, actor).order_by(Instance.id.desc())
    if status:
        query = query.where(Instance.status == status)
    if key:
        query = query.join(ProcessDefinition).where(ProcessDefinition.key == key)
    if business_key:
        query = query.where(Instance.business_key == business_key)
    return query


def get_instance(*, session: Session, actor: Actor, instance_id: int) -> Instance:
    """The instance, or NotFound when absent or not visible."""
    found = session.get(Instance, instance_id)
    if found is None or not _sees(session, actor, found):
        raise NotFound(f"instance {instance_id} introuvable")
    return found


def tasks(session: Session, actor: Actor, state: str | None = None) -> Select:
    """The tasks the actor may see (in `state`): an index range on (state, buyer or territory,
    due date), the scope being copied onto each inbox row from its instance."""
    query = select(HumanTask).where(
        _visible(session, actor, HumanTask.buyer_id, HumanTask.territory_id, HumanTask.instance_id)
    )
    if state:
        query = query.where(HumanTask.state == state)
    return query


def get_task(
    *, session: Session, actor: Actor, task_id: str, with_instance: bool = False
) -> HumanTask:
    """The task, or NotFound when absent or not visible; `with_instance`: its instance is read
    in the same query (to work on it)."""
    if with_instance:
        found = session.scalar(
            select(HumanTask)
            .join(HumanTask.instance)
            .options(contains_eager(HumanTask.instance))
            .where(HumanTask.id == task_id)
        )
    else:
        found = session.get(HumanTask, task_id)
    if found is None or not _sees(session, actor, found):
        raise NotFound(f"tâche {task_id} introuvable")
    return found


def in_group(group: str) -> ColumnElement[bool]:
    """HumanTask offered to `group` (read from the indexed `candidates` text)."""
    return HumanTask.candidates.contains(f"|{group}|", autoescape=True)


def for_user(login: str) -> ColumnElement[bool]:
    """HumanTask whose candidate users include `login`."""
    return HumanTask.candidates.contains(f"|@{login}|", autoescape=True)


def offered_to(actor: Actor) -> ColumnElement[bool]:
    """Tasks the actor may take: assigned to them, or unassigned and offered to their role/login."""
    return or_(
        HumanTask.assignee == actor.login,
        HumanTask.assignee.is_(None) & or_(in_group(actor.role), for_user(actor.login)),
    )


def may_work_on(actor: Actor, task: HumanTask) -> bool:
    """Admins; else the assignee, or anyone of a candidate group/user while unassigned."""
    if actor.is_admin or task.assignee == actor.login:
        return True
    if task.assignee is not None:
        return False
    groups = {g.strip() for g in task.candidate_groups or []}
    return actor.role in groups or actor.login in (task.candidate_users or [])
