"""The outbox page: latest mails (all of them for admins, one's own otherwise) and one mail.

The list is a page of the web interface (`base.html`, linked from the admin area); the mail itself
is served as written, under a Content-Security-Policy that forbids any script.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import lazy_gettext
from sqlalchemy import select

from notifications.models import Notification

from .auth import current_actor, db
from .web.pages import signed_in

blp = Blueprint("outbox", __name__, url_prefix="/boite-envoi")
PARIS = ZoneInfo("Europe/Paris")
STATES = {
    "pending": lazy_gettext("en attente"),
    "sent": lazy_gettext("envoyé"),
    "failed": lazy_gettext("en échec"),
    "digest": lazy_gettext("pour le récapitulatif"),
    "digested": lazy_gettext("dans un récapitulatif"),
    "off": lazy_gettext("désactivé"),
    "skipped": lazy_gettext("sans objet (tâche close)"),
    "inapp": lazy_gettext("dans l'application seulement"),
}


def _actor():
    """A script with credentials (header), or the web session; a browser without a session is
    sent to the sign-in page, not given a JSON error."""
    if request.headers.get("Authorization"):
        return current_actor()
    actor = signed_in()
    if actor is None:
        abort(redirect(url_for("auth.login")))
    return actor


def _visible():
    actor = _actor()
    query = select(Notification).where(Notification.email.is_not(None))
    return query if actor.is_admin else query.where(Notification.recipient == actor.login)


@blp.get("/")
def mails():
    """Derniers courriels."""
    rows = db().scalars(_visible().order_by(Notification.id.desc()).limit(200)).all()
    settings = current_app.config["CLAUSIER"].notifications
    return render_template(
        "outbox.html", mails=rows, states=STATES, paris=PARIS, outbox_only=settings.outbox_only
    )


@blp.get("/<int:notification_id>")
def mail(notification_id: int):
    """Un courriel, tel qu'il est lu (HTML)."""
    row = db().scalar(_visible().where(Notification.id == notification_id))
    if row is None:
        abort(404)
    response = Response(row.body_html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


@blp.get("/<int:notification_id>/invitation.ics")
def invitation(notification_id: int):
    """L'invitation jointe (.ics)."""
    row = db().scalar(_visible().where(Notification.id == notification_id))
    if row is None or not row.ics:
        abort(404)
    return Response(row.ics, mimetype="text/calendar")
