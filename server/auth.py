"""Who is calling: web session (login page), personal API token (Bearer) or HTTP Basic.

- `/connexion` (form with CSRF token) opens a Flask session; `/deconnexion` closes it.
- `Authorization: Bearer clz_…`: a personal token (accounts.authenticate_token).
- `Authorization: Basic …`: login + password, or login + token as password (Camunda clients).
Failed logins are throttled twice: the account locks after 5 failures (accounts.authenticate),
and each client IP may fail at most IP_MAX_FAILURES times per IP_WINDOW seconds (in memory, per
process). A cookie-authenticated API call that changes something needs the `X-CSRF-Token` header.

OpenID Connect (ProConnect or any provider with discovery), off unless configured
(CLAUSIER_OIDC_*): `/connexion/oidc` redirects to the provider (state and nonce kept in the
session), `/connexion/oidc/retour` exchanges the code, checks state, nonce and the id_token's
signature, then opens the same session as the password login for the *active* local account whose
e-mail (or login, with `preferred_username`) matches; accounts are never created here.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import time
from collections import defaultdict, deque

import requests
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.flask_client import OAuth
from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import func, select

from workflows.access import Actor
from workflows.accounts import service as accounts
from workflows.accounts.models import User
from workflows.engine import timers
from workflows.engine.errors import EngineError
from workflows.engine.models import Event

blp = Blueprint("auth", __name__)
log = logging.getLogger(__name__)

IP_MAX_FAILURES = 20
IP_WINDOW = 300.0
SAFE = {"GET", "HEAD", "OPTIONS"}


class TooManyAttempts(EngineError):
    status = 429


class _IpThrottle:
    """Failed authentications per client address, in a sliding window."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.failures: dict[str, deque[float]] = defaultdict(deque)

    def check(self, ip: str) -> None:
        with self.lock:
            window = self.failures.get(ip)
            now = time.monotonic()
            while window and window[0] < now - IP_WINDOW:
                window.popleft()
            if window and len(window) >= IP_MAX_FAILURES:
                raise TooManyAttempts("Trop d'essais depuis cette adresse : réessayez plus tard.")

    def fail(self, ip: str) -> None:
        with self.lock:
            self.failures[ip].append(time.monotonic())


THROTTLE = _IpThrottle()


def db():
    """The request's database session (closed at teardown, committed by the view wrapper)."""
    if "session" not in g:
        g.session = current_app.extensions["clausier.sessions"]()
    return g.session


def _client_ip() -> str:
    return request.remote_addr or "?"


def _password_login(login: str, password: str) -> User:
    ip = _client_ip()
    THROTTLE.check(ip)
    s = db()
    try:
        if password.startswith(accounts.TOKEN_PREFIX):
            if accounts.authenticate_token(session=s, token=password).login != login:
                raise accounts.Unauthorized("Jeton invalide ou révoqué.")
            return accounts.get_by_login(session=s, login=login)
        return accounts.authenticate(session=s, login=login, password=password)
    except accounts.Unauthorized:
        THROTTLE.fail(ip)
        s.commit()  # the failure count must survive the refusal
        raise


def _from_header(header: str) -> Actor:
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        THROTTLE.check(_client_ip())
        try:
            return accounts.authenticate_token(session=db(), token=value.strip())
        except accounts.Unauthorized:
            THROTTLE.fail(_client_ip())
            raise
    if scheme.lower() == "basic" and request.authorization:
        auth = request.authorization
        return accounts.actor_of(_password_login(auth.username or "", auth.password or ""))
    raise accounts.Unauthorized("Schéma d'authentification non pris en charge.")


def _from_session() -> User | None:
    user_id = session.get("user_id")
    if user_id is None:
        return None
    user = db().get(User, user_id)
    if user is None or not user.active:
        session.clear()
        return None
    if request.method not in SAFE:
        sent = request.headers.get("X-CSRF-Token", "")
        if not hmac.compare_digest(sent, session.get("csrf", "")):
            abort(403, description="Jeton CSRF absent ou invalide (en-tête X-CSRF-Token).")
    return user


def current_actor() -> Actor:
    """The authenticated actor of this request, or 401."""
    if "actor" not in g:
        header = request.headers.get("Authorization")
        if header:
            g.actor = _from_header(header)
        else:
            user = _from_session()
            if user is None:
                raise accounts.Unauthorized("Authentification requise.")
            g.actor = accounts.actor_of(user)
    return g.actor


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def _login_page(error: str | None = None, status: int | None = None):
    login = request.form.get("login", "") if request.method == "POST" else ""
    page = render_template("login.html", error=error, login=login, csrf=csrf_token())
    return page, status or (401 if error else 200)


def _open_session(user: User):
    """The web session of an authenticated user (password or OpenID Connect): a fresh session
    (no fixation), a new CSRF token, then the inbox."""
    session.clear()
    session["user_id"] = user.id
    session["csrf"] = secrets.token_urlsafe(32)
    return redirect(url_for("web.inbox"))


@blp.route("/connexion", methods=["GET", "POST"])
def login():
    """Page de connexion."""
    error = None
    if request.method == "POST":
        if not hmac.compare_digest(request.form.get("csrf", ""), session.get("csrf", "")):
            abort(400, description="Formulaire expiré : rechargez la page.")
        try:
            user = _password_login(request.form.get("login", ""), request.form.get("password", ""))
            db().commit()
        except (accounts.Unauthorized, TooManyAttempts) as exc:
            error = exc.message
        else:
            return _open_session(user)
    return _login_page(error)


@blp.route("/deconnexion", methods=["POST", "GET"])
def logout():
    """Fin de session (POST avec jeton CSRF ; GET affiche la page de connexion)."""
    if request.method == "POST":
        if not hmac.compare_digest(request.form.get("csrf", ""), session.get("csrf", "")):
            abort(400, description="Formulaire expiré : rechargez la page.")
        session.clear()
    return redirect(url_for("auth.login"))


@blp.get("/api/v1/csrf")
def csrf():
    """The CSRF token a cookie-authenticated script sends in X-CSRF-Token."""
    return {"csrf": csrf_token()}


# --- OpenID Connect ------------------------------------------------------------------------------

OIDC_REFUSED = "Connexion refusée par le fournisseur d'identité, ou expirée : recommencez."
OIDC_NO_ACCOUNT = (
    "Aucun compte Clausier actif ne correspond à cette identité ({who}). Les comptes sont créés "
    "par un administrateur : demandez-lui d'en ouvrir un à cette adresse."
)


@blp.record_once
def _init_oidc(state) -> None:
    """Register the provider with Authlib when configured (discovery read on first use)."""
    app: Flask = state.app
    config = app.config.get("CLAUSIER")
    if config is None or not config.oidc_enabled:
        return
    oauth = OAuth(app)
    oauth.register(
        "oidc",
        client_id=config.oidc_client_id,
        client_secret=config.oidc_client_secret or None,
        server_metadata_url=config.oidc_discovery_url,
        client_kwargs={"scope": config.oidc_scopes, "timeout": 10},
    )
    app.extensions["clausier.oidc"] = oauth.oidc


@blp.app_context_processor
def _oidc_flag() -> dict[str, bool]:
    return {"oidc_enabled": "clausier.oidc" in current_app.extensions}


def _oidc_client():
    client = current_app.extensions.get("clausier.oidc")
    if client is None:
        abort(404)
    return client


@blp.get("/connexion/oidc")
def oidc_login():
    """Connexion par OpenID Connect (ProConnect) : redirection vers le fournisseur."""
    client = _oidc_client()
    try:
        return client.authorize_redirect(url_for("auth.oidc_callback", _external=True))
    except (AuthlibBaseError, requests.RequestException, ValueError, KeyError) as exc:
        log.warning("OpenID Connect : fournisseur injoignable ou mal configuré : %s", exc)
        return _login_page("Fournisseur d'identité injoignable : réessayez plus tard.", 503)


@blp.get("/connexion/oidc/retour")
def oidc_callback():
    """Retour du fournisseur : code échangé, state, nonce et signature vérifiés."""
    client = _oidc_client()
    try:
        THROTTLE.check(_client_ip())
        token = client.authorize_access_token()  # checks state, nonce, id_token signature
        claims = dict(token.get("userinfo") or {})
        claim = current_app.config["CLAUSIER"].oidc_login_claim
        if not claims.get(claim):
            claims.update(_userinfo(client, token, claims.get("sub")))
    except TooManyAttempts as exc:
        return _login_page(exc.message, 429)
    except (AuthlibBaseError, JoseError, requests.RequestException, ValueError, KeyError) as exc:
        THROTTLE.fail(_client_ip())
        log.warning("OpenID Connect : retour refusé (%s) : %s", type(exc).__name__, exc)
        return _login_page(OIDC_REFUSED, 401)
    user = _oidc_account(claims, claim)
    if user is None:
        return _login_page(OIDC_NO_ACCOUNT.format(who=claims.get(claim) or "?"), 403)
    user.last_login_at = timers.now()
    db().add(
        Event(
            actor=user.login, kind="user.login", data={"method": "oidc", "sub": claims.get("sub")}
        )
    )
    db().commit()
    return _open_session(user)


def _userinfo(client, token: dict, sub: str | None) -> dict:
    """The userinfo claims, plain JSON or signed JWT (ProConnect); same subject required."""
    metadata = client.load_server_metadata()
    response = client.get(metadata["userinfo_endpoint"], token=token)
    response.raise_for_status()
    if response.headers.get("Content-Type", "").startswith("application/jwt"):
        keys = KeySet.import_key_set(client.fetch_jwk_set())
        data = dict(jose_jwt.decode(response.text.strip(), keys).claims)
    else:
        data = response.json()
    if not isinstance(data, dict) or data.get("sub") != sub:
        raise ValueError("userinfo: sujet différent de celui de l'id_token")
    return data


def _oidc_account(claims: dict, claim: str) -> User | None:
    """The active local account matching the identity, or None (logged)."""
    value = claims.get(claim)
    if claim == "email" and claims.get("email_verified") is False:
        log.warning("OpenID Connect : adresse non vérifiée refusée : %s", value)
        return None
    if not isinstance(value, str) or not value.strip():
        log.warning(
            "OpenID Connect : revendication « %s » absente (sub=%s)", claim, claims.get("sub")
        )
        return None
    value = value.strip()
    if claim == "email":
        query = select(User).where(func.lower(User.email) == value.lower())
    else:
        query = select(User).where(User.login == value)
    found = [u for u in db().scalars(query) if u.active]
    if len(found) != 1:
        log.warning(
            "OpenID Connect : %s « %s » : %s compte actif correspondant, connexion refusée",
            claim,
            value,
            len(found),
        )
        return None
    return found[0]
