"""Accounts: creation, passwords with throttling, personal API tokens, and the Actor they act as."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from workflows.access import Actor, require
from workflows.engine import timers
from workflows.engine.errors import EngineError, FormInvalid, NotFound
from workflows.engine.models import Event

from .models import ROLES, ApiToken, User, UserTerritory

MIN_PASSWORD = 12
MAX_FAILURES = 5
LOCK_MINUTES = 15
TOKEN_PREFIX = "clz_"
TOKEN_USE_PRECISION = timedelta(minutes=1)


class Unauthorized(EngineError):
    status = 401


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise FormInvalid(
            "Mot de passe trop court.",
            errors={"password": f"au moins {MIN_PASSWORD} caractères"},
        )


def create(
    *,
    session: Session,
    login: str,
    role: str,
    password: str | None = None,
    email: str | None = None,
    full_name: str | None = None,
    organisation_id: int | None = None,
    territory_ids: list[int] | None = None,
    manager: str | None = None,
    actor: str | None = None,
) -> User:
    """Create an account; the password (if any) is stored hashed; `manager` is a login."""
    errors = {}
    if (
        not login
        or len(login) > 200
        or not login.replace(".", "").replace("-", "").replace("_", "").replace("@", "").isalnum()
    ):
        errors["login"] = "identifiant invalide (lettres, chiffres, . - _ @)"
    if role not in ROLES:
        errors["role"] = "rôle inconnu : " + ", ".join(ROLES)
    if role == "acheteur" and organisation_id is None:
        errors["organisation"] = "un acheteur appartient à une organisation"
    if errors:
        raise FormInvalid("Compte refusé.", errors=errors)
    if session.scalar(select(User.id).where(User.login == login)):
        raise FormInvalid("Compte refusé.", errors={"login": "identifiant déjà utilisé"})
    if password is not None:
        _check_password(password)
    user = User(
        login=login,
        role=role,
        email=email,
        full_name=full_name,
        organisation_id=organisation_id,
        password_hash=generate_password_hash(password) if password else None,
        territories=[UserTerritory(territory_id=t) for t in territory_ids or []],
    )
    session.add(user)
    session.flush()
    if manager is not None:
        set_manager(session=session, login=login, manager=manager, actor=actor)
    return user


def _manager_error(user: User, manager: User | None, login: str) -> str | None:
    if manager is None:
        return f"compte « {login} » introuvable"
    if not manager.active:
        return f"le compte « {login} » est désactivé"
    if manager.organisation_id != user.organisation_id:
        return "le responsable doit appartenir à la même organisation"
    seen, boss = set(), manager
    while boss is not None and boss.id not in seen:  # walk up: the user must not be above
        if boss.id == user.id:
            return "cycle : ce compte ne peut pas être le responsable de son propre responsable"
        seen.add(boss.id)
        boss = boss.manager
    return None


def set_manager(
    *, session: Session, login: str, manager: str | None, actor: str | None = None
) -> User:
    """Set (or clear, with None) an account's manager, checked and audited.

    The manager must exist, be active, belong to the same organisation, and not be managed
    (directly or not) by the account itself.
    """
    user = get_by_login(session=session, login=login)
    boss = None
    if manager is not None:
        boss = session.scalars(select(User).where(User.login == manager)).first()
        error = _manager_error(user, boss, manager)
        if error:
            raise FormInvalid("Responsable refusé.", errors={"manager": error})
    old = user.manager.login if user.manager else None
    new = boss.login if boss else None
    if old == new:
        return user
    user.manager = boss
    session.add(
        Event(
            instance_id=None,
            actor=actor,
            kind="user.manager_changed",
            data={"login": user.login, "old": old, "new": new},
        )
    )
    session.flush()
    return user


def get_by_login(*, session: Session, login: str) -> User:
    user = session.scalars(select(User).where(User.login == login)).first()
    if user is None:
        raise NotFound(f"compte « {login} » introuvable")
    return user


def set_password(*, session: Session, login: str, password: str) -> User:
    _check_password(password)
    user = get_by_login(session=session, login=login)
    user.password_hash = generate_password_hash(password)
    user.failed_logins, user.locked_until = 0, None
    return user


def disable(*, session: Session, login: str) -> User:
    """Disable an account: it can no longer log in, and its tokens stop working."""
    user = get_by_login(session=session, login=login)
    user.active = False
    return user


def authenticate(*, session: Session, login: str, password: str) -> User:
    """The account for these credentials; locked for a while after repeated failures."""
    refused = Unauthorized("Identifiant ou mot de passe incorrect.")
    user = session.scalars(select(User).where(User.login == login)).first()
    now = timers.now()
    if user is None or not user.active or not user.password_hash:
        raise refused
    if user.locked_until is not None and user.locked_until > now:
        raise Unauthorized("Trop d'essais : compte verrouillé quelques minutes.")
    if not check_password_hash(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILURES:
            user.locked_until, user.failed_logins = now + timedelta(minutes=LOCK_MINUTES), 0
        raise refused
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(*, session: Session, login: str, name: str = "jeton") -> tuple[ApiToken, str]:
    """A new personal token; the clear value is returned once and never stored."""
    user = get_by_login(session=session, login=login)
    require(user.active, "Compte désactivé.")
    clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name, prefix=clear[:12], token_hash=_digest(clear))
    session.add(token)
    session.flush()
    return token, clear


def revoke_token(*, session: Session, token_id: int, actor: Actor) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFound(f"jeton {token_id} introuvable")
    owner = session.get(User, token.user_id)
    require(actor.is_admin or owner.login == actor.login, "Ce jeton n'est pas le vôtre.")
    token.revoked_at = timers.now()
    return token


# Every API call reads its token: one prepared statement (token, account and territories).
_TOKEN_ACTOR = (
    select(
        ApiToken.id,
        ApiToken.revoked_at,
        ApiToken.last_used_at,
        User.login,
        User.role,
        User.organisation_id,
        User.active,
        UserTerritory.territory_id,
    )
    .join(User, User.id == ApiToken.user_id)
    .outerjoin(UserTerritory, UserTerritory.user_id == User.id)
    .where(ApiToken.token_hash == bindparam("token_hash"))
)
_TOKEN_USED = update(ApiToken).where(ApiToken.id == bindparam("token_id"))


def authenticate_token(*, session: Session, token: str) -> Actor:
    """The Actor behind a personal token, unless it is revoked or its account disabled."""
    session.flush()  # e.g. a revocation made in this session
    connection = session.connection()  # plain statements: no ORM entity is needed here
    rows = connection.execute(_TOKEN_ACTOR, {"token_hash": _digest(token)}).all()
    if not rows or rows[0].revoked_at is not None:
        raise Unauthorized("Jeton invalide ou révoqué.")
    first = rows[0]
    if not first.active:
        raise Unauthorized("Compte désactivé.")
    now = timers.now()
    if first.last_used_at is None or now - first.last_used_at > TOKEN_USE_PRECISION:
        # to the minute: not one write per API call
        connection.execute(_TOKEN_USED, {"token_id": first.id, "last_used_at": now})
    return Actor(
        login=first.login,
        role=first.role,
        organisation_id=first.organisation_id,
        territory_ids=frozenset(r.territory_id for r in rows if r.territory_id is not None),
    )


def actor_of(user: User) -> Actor:
    """The Actor an account acts as in every scoped service."""
    return Actor(
        login=user.login,
        role=user.role,  # type: ignore[arg-type]
        organisation_id=user.organisation_id,
        territory_ids=frozenset(t.territory_id for t in user.territories),
    )
