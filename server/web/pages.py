"""What every page shares: the signed-in actor, the navigation, asset links and error pages."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import text
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BuildError

from workflows.access import Actor, Forbidden
from workflows.accounts import service as accounts
from workflows.accounts.models import User
from workflows.engine.errors import EngineError, NotFound

from .. import auth

blp = Blueprint("web", __name__)
SAFE = {"GET", "HEAD", "OPTIONS"}


def N_(message: str) -> str:
    """Marks a message for extraction; it is translated where shown."""
    return message


ROLE_LABELS = {
    "acheteur": N_("Acheteur"),
    "facilitateur": N_("Facilitateur"),
    "coordinateur": N_("Coordination"),
    "admin": N_("Administrateur"),
}
# (endpoint, label, who sees it: None = everyone signed in, else a set of roles)
NAVIGATION: list[tuple[str, str, set[str] | None]] = [
    ("web.inbox", N_("Tâches"), None),
    ("marches_web.index", N_("Marchés"), None),
    ("dashboards.index", N_("Tableaux de bord"), None),
    ("admin_web.index", N_("Administration"), {"admin"}),
]


def signed_in() -> Actor | None:
    """The actor of the web session (cookie), or None; checks the form's CSRF token on POST."""
    if "actor" in g:
        return g.actor
    user_id = session.get("user_id")
    user = auth.db().get(User, user_id) if user_id is not None else None
    if user is None or not user.active:
        session.pop("user_id", None)
        return None
    if request.method not in SAFE:
        # forms send the token as a field, scripts (the modeller) in the X-CSRF-Token header
        sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf", "")
        if not hmac.compare_digest(sent, session.get("csrf", "")):
            abort(400, description=_("Formulaire expiré : rechargez la page puis recommencez."))
    g.user = user
    g.actor = accounts.actor_of(user)
    return g.actor


def page(view: Callable) -> Callable:
    """A page for signed-in users: gives `session` and `actor`, commits once when it returns."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        actor = signed_in()
        if actor is None:
            return redirect(url_for("auth.login"))
        s = auth.db()
        result = view(*args, session=s, actor=actor, **kwargs)
        s.commit()
        return result

    return wrapper


def safe_next(target: str | None) -> str:
    """A local path to go back to after an action (never another site)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/"):
            return target
    return url_for("web.inbox")


def has_endpoint(endpoint: str) -> bool:
    """True when a view is registered under this name (pages other parts add later)."""
    try:
        url_for(endpoint)
    except BuildError:
        return False
    return True


def navigation(actor: Actor | None) -> list[dict[str, Any]]:
    """Main menu entries the actor may use, the current one marked."""
    if actor is None:
        return []
    items = []
    for endpoint, label, roles in NAVIGATION:
        if (roles is None or actor.role in roles) and has_endpoint(endpoint):
            blueprint = endpoint.split(".")[0]
            current = (request.endpoint or "").split(".")[0] == blueprint
            items.append({"url": url_for(endpoint), "label": _(label), "current": current})
    return items


_ASSET_VERSIONS: dict[str, str] = {}


def asset(name: str) -> str:
    """URL of a built front-end file with a content hash, so browsers never keep a stale one."""
    version = _ASSET_VERSIONS.get(name)
    if version is None or current_app.debug:
        path = current_app.static_folder and f"{current_app.static_folder}/dist/{name}"
        try:
            with open(path or "", "rb") as built:
                version = hashlib.sha256(built.read()).hexdigest()[:12]
        except OSError:
            version = "absent"  # not built: scripts/setup builds it
        _ASSET_VERSIONS[name] = version
    return url_for("static", filename=f"dist/{name}", v=version)


@blp.app_context_processor
def page_context() -> dict[str, Any]:
    """Names every template may use."""
    actor = g.get("actor")
    return {
        "actor": actor,
        "current_user": g.get("user"),
        "role_label": _(ROLE_LABELS.get(actor.role, actor.role)) if actor else "",
        "navigation": navigation(actor),
        "csrf": auth.csrf_token(),
        "asset": asset,
        "has_endpoint": has_endpoint,
        "lang": str(get_locale() or "fr"),
    }


def error_page(code: int, message: str):
    titles = {
        400: _("Requête invalide"),
        403: _("Accès refusé"),
        404: _("Page introuvable"),
        409: _("Conflit"),
        422: _("Données invalides"),
        429: _("Trop de requêtes"),
    }
    title = titles.get(code, _("Erreur"))
    return render_template("error.html", code=code, title=title, message=message), code


@blp.errorhandler(EngineError)
def engine_error(exc: EngineError):
    """A refusal of the services as a page (out of scope answers 404, as the API does)."""
    auth.db().rollback()
    if isinstance(exc, NotFound):
        return error_page(404, _("Cette page n'existe pas ou n'est pas dans votre périmètre."))
    if isinstance(exc, Forbidden):
        return error_page(403, exc.message)
    return error_page(exc.status, exc.message)


@blp.errorhandler(HTTPException)
def http_error(exc: HTTPException):
    return error_page(exc.code or 500, exc.description or "")


@blp.get("/healthz")
def health():
    auth.db().execute(text("SELECT 1"))
    return jsonify(status="ok")
