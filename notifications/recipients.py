"""Who receives what: candidate groups mapped to people within the marché's scope.

`acheteur` → active users of the marché's buyer organisation; `facilitateur` → facilitator users of
the marché's territories (by account territory, or listed as the territory's, the marché's lead or
an attached territory's facilitator); `coordinateur` → the territories' coordinators. Without a
marché (processes started directly), only the task's assignee and candidate users, except for the
network's own processes (committees): a territory's committee (business key `CODE/…`) goes to that
territory's people of the group, a network-wide one to every active user of that role.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from workflows.accounts.models import User, UserTerritory
from workflows.engine.models import HumanTask, Instance
from workflows.gouvernance import committees
from workflows.marches import service as marches
from workflows.marches.models import Marche, MarcheTerritory
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
    return territory_coordinators(session, marche.territory_ids, lead=marche.territory_id)


def territory_coordinators(
    session: Session, territory_ids: Iterable[int], *, lead: int | None = None
) -> list[User]:
    """The territories' named coordinators; else the coordinator accounts of the lead one."""
    territory_ids = sorted(set(territory_ids))
    logins = session.scalars(
        select(Facilitator.login)
        .join(Territory, Territory.coordinator_id == Facilitator.id)
        .where(Territory.id.in_(territory_ids))
    )
    found = by_logins(session, logins)
    if found:
        return found
    lead = lead if lead is not None else (territory_ids[0] if territory_ids else None)
    in_scope = select(UserTerritory.user_id).where(UserTerritory.territory_id == lead)
    return _users(session, select(User).where(User.role == "coordinateur", User.id.in_(in_scope)))


def territory_facilitators(session: Session, territory_id: int) -> list[User]:
    """The facilitator accounts of a territory, and the facilitators listed as its own."""
    listed = session.scalars(
        select(Facilitator.login)
        .join(territory_facilitator)
        .where(territory_facilitator.c.territory_id == territory_id)
    )
    in_scope = select(UserTerritory.user_id).where(UserTerritory.territory_id == territory_id)
    users = _users(session, select(User).where(User.role == "facilitateur", User.id.in_(in_scope)))
    return _merge(users, by_logins(session, listed))


def territory_buyers(session: Session, territory_id: int) -> list[User]:
    """The buyer accounts of the organisations with a marché in the territory (lead or attached)."""
    organisations = select(Marche.buyer_id).where(
        or_(
            Marche.territory_id == territory_id,
            Marche.id.in_(
                select(MarcheTerritory.marche_id).where(
                    MarcheTerritory.territory_id == territory_id
                )
            ),
        )
    )
    return _users(
        session,
        select(User).where(User.role == "acheteur", User.organisation_id.in_(organisations)),
    )


def territory_members(session: Session, territory_id: int, roles: Iterable[str]) -> list[User]:
    """A territory's people for a committee: its facilitators, coordination, buyers, admins."""
    found = {
        "facilitateur": lambda: territory_facilitators(session, territory_id),
        "coordinateur": lambda: territory_coordinators(session, [territory_id]),
        "acheteur": lambda: territory_buyers(session, territory_id),
        "admin": lambda: with_role(session, ["admin"]),
    }
    return _merge(*(found[r]() for r in roles if r in found))


def managers(session: Session, people: Iterable[User]) -> list[User]:
    """The active managers of these people (each once)."""
    ids = {u.manager_id for u in people if u.manager_id is not None}
    return _users(session, select(User).where(User.id.in_(ids))) if ids else []


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


def territory_of(session: Session, instance_id: int | None) -> Territory | None:
    """The territory an instance without marché belongs to: its business key is the territory's
    code, or starts with it and "/" (e.g. `GPSEA/comite-technique`), as in server/api/scope.py."""
    if instance_id is None:
        return None
    key = session.scalar(select(Instance.business_key).where(Instance.id == instance_id))
    return committees.territory_of_key(session, key)


def for_task(session: Session, task: HumanTask, marche: Marche | None) -> list[User]:
    """The people who should act on `task`."""
    if task.assignee is None and marche is None and task.process_key in NETWORK_PROCESSES:
        territory = territory_of(session, task.instance_id)
        members = (
            territory_members(session, territory.id, task.candidate_groups)
            if territory is not None
            else with_role(session, task.candidate_groups)
        )
        return _merge(members, by_logins(session, task.candidate_users))
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
