"""Who receives what: candidate groups mapped to people within the marché's scope.

`acheteur` → active users of the marché's buyer organisation; `facilitateur` → facilitator users of
the marché's territories (by account territory, or listed as the territory's, the marché's lead or
an attached territory's facilitator); `coordinateur` → the territories' coordinators. Without a
marché (processes started directly), only the task's assignee and candidate users, except for the
network's own processes (committees), whose groups are every active user of that role.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.accounts.models import User, UserTerritory
from workflows.engine.models import HumanTask
from workflows.marches import service as marches
from workflows.marches.models import Marche
from workflows.referentiel.models import (
    Facilitator,
    Territory,
    TerritoryArea,
    territory_facilitator,
)


def _users(session: Session, query) -> list[User]:
    return list(session.scalars(query.where(User.active.is_(True)).order_by(User.login)))


def by_logins(session: Session, logins: Iterable[str]) -> list[User]:
    logins = sorted({login for login in logins if login})
    return _users(session, select(User).where(User.login.in_(logins))) if logins else []


def buyers(session: Session, marche: Marche) -> list[User]:
    return _users(
        session,
        select(User).where(User.organisation_id == marche.buyer_id, User.role == "acheteur"),
    )


def facilitators(session: Session, marche: Marche) -> list[User]:
    territories = marche.territory_ids
    listed = set(
        session.scalars(
            select(Facilitator.login)
            .join(territory_facilitator)
            .where(territory_facilitator.c.territory_id.in_(territories))
        )
    )
    ids = {marche.lead_facilitator_id, *(a.facilitator_id for a in marche.attached)} - {None}
    if ids:
        listed |= set(session.scalars(select(Facilitator.login).where(Facilitator.id.in_(ids))))
    in_scope = select(UserTerritory.user_id).where(UserTerritory.territory_id.in_(territories))
    users = _users(session, select(User).where(User.role == "facilitateur", User.id.in_(in_scope)))
    return _merge(users, by_logins(session, listed))


def coordinators(session: Session, marche: Marche) -> list[User]:
    logins = session.scalars(
        select(Facilitator.login)
        .join(Territory, Territory.coordinator_id == Facilitator.id)
        .where(Territory.id.in_(marche.territory_ids))
    )
    found = by_logins(session, logins)
    if found:
        return found
    in_scope = select(UserTerritory.user_id).where(
        UserTerritory.territory_id == marche.territory_id
    )
    return _users(session, select(User).where(User.role == "coordinateur", User.id.in_(in_scope)))


GROUPS = {"acheteur": buyers, "facilitateur": facilitators, "coordinateur": coordinators}


def _merge(*lists: list[User]) -> list[User]:
    seen: dict[str, User] = {}
    for users in lists:
        for user in users:
            seen.setdefault(user.login, user)
    return list(seen.values())


def marche_of(session: Session, task: HumanTask) -> Marche | None:
    return marches.get_by_instance(session=session, instance_id=task.instance_id)


NETWORK_PROCESSES = ("comite_technique", "comite_pilotage")


def with_role(session: Session, roles: Iterable[str]) -> list[User]:
    return _users(session, select(User).where(User.role.in_(list(roles))))


def for_task(session: Session, task: HumanTask, marche: Marche | None) -> list[User]:
    """The people who should act on `task`."""
    if task.assignee is None and marche is None and task.process_key in NETWORK_PROCESSES:
        return _merge(
            with_role(session, task.candidate_groups), by_logins(session, task.candidate_users)
        )
    if task.assignee or marche is None:
        return by_logins(session, [task.assignee or "", *task.candidate_users])
    groups = [GROUPS[g](session, marche) for g in task.candidate_groups if g in GROUPS]
    return _merge(*groups, by_logins(session, task.candidate_users))


def departement(session: Session, marche: Marche | None) -> str | None:
    """The département whose holidays count for a marché's deadlines (its lead territory's)."""
    if marche is None:
        return None
    return session.scalar(
        select(TerritoryArea.code)
        .where(
            TerritoryArea.territory_id == marche.territory_id, TerritoryArea.kind == "departement"
        )
        .order_by(TerritoryArea.code)
        .limit(1)
    )
