"""Accounts and reference data as the API shows them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.access import Actor, require
from workflows.accounts import service as accounts
from workflows.accounts.models import User
from workflows.engine.errors import NotFound
from workflows.engine.models import Event
from workflows.referentiel.models import Organisation


def users(*, session: Session, actor: Actor) -> list[User]:
    """Every account (admins and coordinators)."""
    require(
        actor.role in ("admin", "coordinateur"), "Réservé aux administrateurs et coordinations."
    )
    return list(session.scalars(select(User).order_by(User.login)))


def me(*, session: Session, actor: Actor) -> User:
    return session.scalars(select(User).where(User.login == actor.login)).one()


def user(*, session: Session, actor: Actor, user_id: int) -> User:
    """An account: oneself, or any for admins and coordinators; else 404."""
    found = session.get(User, user_id)
    if found is None or not (found.login == actor.login or actor.role in ("admin", "coordinateur")):
        raise NotFound(f"compte {user_id} introuvable")
    return found


def set_manager(*, session: Session, actor: Actor, user_id: int, manager: str | None) -> User:
    """Set or clear an account's manager (admins only): checked and audited by the service."""
    require(actor.is_admin, "Réservé aux administrateurs.")
    found = session.get(User, user_id)
    if found is None:
        raise NotFound(f"compte {user_id} introuvable")
    return accounts.set_manager(
        session=session, login=found.login, manager=manager, actor=actor.login
    )


def organisations(*, session: Session) -> list[Organisation]:
    """Reference data: every organisation (not scoped)."""
    return list(session.scalars(select(Organisation).order_by(Organisation.name)))


def create_user(*, session: Session, actor: Actor, **fields) -> User:
    """Open an account (admins only), audited; FormInvalid names the faulty fields."""
    require(actor.is_admin, "Réservé aux administrateurs.")
    user = accounts.create(session=session, actor=actor.login, **fields)
    session.add(
        Event(
            actor=actor.login,
            kind="user.created",
            data={"login": user.login, "role": user.role, "organisation_id": user.organisation_id},
        )
    )
    session.flush()
    return user


def disable_user(*, session: Session, actor: Actor, user_id: int) -> User:
    """Disable an account (admins only, never one's own), audited."""
    require(actor.is_admin, "Réservé aux administrateurs.")
    found = session.get(User, user_id)
    if found is None:
        raise NotFound(f"compte {user_id} introuvable")
    require(found.login != actor.login, "Vous ne pouvez pas désactiver votre propre compte.")
    if found.active:
        accounts.disable(session=session, login=found.login)
        session.add(Event(actor=actor.login, kind="user.disabled", data={"login": found.login}))
        session.flush()
    return found
