"""Who is calling: web session (login page), personal API token (Bearer) or HTTP Basic.

- `/connexion` (form with CSRF token) opens a Flask session; `/deconnexion` closes it.
- `Authorization: Bearer clz_…`: a personal token (accounts.authenticate_token).
- `Authorization: Basic …`: login + password, or login + token as password (Camunda clients).
Failed logins are throttled twice: the account locks after 5 failures (accounts.authenticate),
and each client IP may fail at most IP_MAX_FAILURES times per IP_WINDOW seconds (in memory, per
process). A cookie-authenticated API call that changes something needs the `X-CSRF-Token` header.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import defaultdict, deque

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    redirect,
    render_template_string,
    request,
    session,
    url_for,
)

from workflows.access import Actor
from workflows.accounts import service as accounts
from workflows.accounts.models import User
from workflows.engine.errors import EngineError

blp = Blueprint("auth", __name__)

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
            user = accounts.authenticate_token(session=s, token=password)
            if user.login != login:
                raise accounts.Unauthorized("Jeton invalide ou révoqué.")
            return user
        return accounts.authenticate(session=s, login=login, password=password)
    except accounts.Unauthorized:
        THROTTLE.fail(ip)
        s.commit()  # the failure count must survive the refusal
        raise


def _from_header(header: str) -> User | None:
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
        return _password_login(auth.username or "", auth.password or "")
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
        user = _from_header(header) if header else _from_session()
        if user is None:
            raise accounts.Unauthorized("Authentification requise.")
        g.actor = accounts.actor_of(user)
    return g.actor


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


LOGIN_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Clausier — connexion</title></head>
<body><main><h1>Connexion</h1>
{% if error %}<p role="alert">{{ error }}</p>{% endif %}
<form method="post" action="{{ url_for('auth.login') }}">
<input type="hidden" name="csrf" value="{{ csrf }}">
<p><label>Identifiant <input name="login" autocomplete="username" required></label></p>
<p><label>Mot de passe <input name="password" type="password"
 autocomplete="current-password" required></label></p>
<p><button type="submit">Se connecter</button></p>
</form></main></body></html>"""


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
            session.clear()
            session["user_id"] = user.id
            session["csrf"] = secrets.token_urlsafe(32)
            return redirect(url_for("web.inbox"))
    return render_template_string(LOGIN_PAGE, error=error, csrf=csrf_token()), 401 if error else 200


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
