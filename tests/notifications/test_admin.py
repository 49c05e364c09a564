"""Admin settings: policy layers, editable templates, the outbox page, concurrent senders."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from notifications import policy, render
from notifications.models import Notification
from notifications.settings import Settings
from server import scheduler
from tests.notifications.factories import ADMIN, Clock
from tests.notifications.smtp import SmtpServer
from tests.notifications.test_delivery import write
from workflows.access import Actor, Forbidden
from workflows.engine import timers
from workflows.engine.errors import EngineError, FormInvalid

FACIL = Actor(login="fab", role="facilitateur")


@pytest.fixture(autouse=True)
def _clock():
    Clock.freeze(datetime(2027, 5, 14, 5, tzinfo=UTC))
    yield
    timers.set_clock(None)


def test_policy_defaults_then_process_then_task(session):
    settings = Settings(before_days=4)
    assert policy.resolve(session=session, process_key="p", element_id="t", settings=settings) == (
        policy.defaults(settings)
    )
    policy.update(session=session, actor=ADMIN, process_key="p", overdue_every_days=1)
    policy.update(session=session, actor=ADMIN, process_key="p", element_id="t", before_days=0)
    rules = policy.resolve(session=session, process_key="p", element_id="t", settings=settings)
    assert (rules.before_days, rules.overdue_every_days, rules.escalate_after_days) == (0, 1, 5)
    other = policy.resolve(session=session, process_key="p", element_id="u", settings=settings)
    assert (other.before_days, other.overdue_every_days) == (4, 1)
    with pytest.raises(Forbidden):
        policy.update(session=session, actor=FACIL, process_key="p", before_days=1)
    with pytest.raises(FormInvalid) as refused:
        policy.update(
            session=session, actor=ADMIN, process_key="p", before_days=-1, escalate_to="x"
        )
    assert set(refused.value.errors) == {"before_days", "escalate_to"}
    assert len(policy.get_all(session=session)) == 2


def test_admins_edit_templates_in_a_sandbox(session):
    with pytest.raises(FormInvalid):
        render.update(
            session=session,
            actor=ADMIN,
            kind="echeance",
            subject="{% if %}",
            body_text="",
            body_html="",
        )
    with pytest.raises(Forbidden):
        render.update(
            session=session, actor=FACIL, kind="echeance", subject="", body_text="", body_html=""
        )
    render.update(
        session=session,
        actor=ADMIN,
        kind="echeance",
        subject="À faire : {{ task }}",
        body_text="Bonjour {{ name }}",
        body_html="<b>{{ task }}</b>",
    )
    message = render.render(session, "echeance", {"task": "<Bilan>", "name": "Léa"})
    assert (message.subject, message.text) == ("À faire : <Bilan>", "Bonjour Léa")
    assert message.html == "<b>&lt;Bilan&gt;</b>"


def test_two_senders_at_once_send_each_mail_once(db):
    server = SmtpServer()
    server.start()
    try:
        write(db, 60)
        settings = Settings(smtp_host="127.0.0.1", smtp_port=server.port)
        senders = [
            threading.Thread(target=scheduler.deliver_outbox, args=(db.factory, settings))
            for _ in range(2)
        ]
        for thread in senders:
            thread.start()
        for thread in senders:
            thread.join()
        assert sorted(m["To"] for m in server.messages) == sorted(
            f"u{n}@example.org" for n in range(60)
        )
        with db.factory() as s:
            sent = s.scalar(select(func.count()).where(Notification.status == "sent"))
        assert sent == 60
    finally:
        server.stop()


def test_the_outbox_page_lists_mails_for_admins(db, tmp_path):
    from flask import Flask, g

    from server import auth, outbox_web, web
    from server.config import Config
    from workflows.accounts import service as accounts
    from workflows.engine.db import transaction

    write(db, 1)
    with transaction(db.factory) as s:
        accounts.create(session=s, login="root", role="admin", password="motdepasse-solide")
    scheduler.deliver_outbox(db.factory, Settings())
    app = Flask("test", template_folder=str(outbox_web.__file__).rsplit("/", 1)[0] + "/templates")
    app.config.update(SECRET_KEY="x", CLAUSIER=Config(database_url=db.url))
    app.extensions["clausier.sessions"] = db.factory
    app.register_blueprint(outbox_web.blp)
    web.init_app(app)  # the page is drawn in base.html: navigation, languages, assets
    app.register_blueprint(auth.blp)

    @app.teardown_request
    def _close(_exc):
        session = g.pop("session", None)
        if session is not None:
            session.close()

    @app.errorhandler(EngineError)
    def _refused(exc):
        return exc.message, exc.status

    client = app.test_client()
    anonymous = client.get("/boite-envoi/")  # a browser without a session: the sign-in page
    assert anonymous.status_code == 302 and anonymous.location.endswith("/connexion")
    refused = {"Authorization": "Basic cm9vdDptYXV2YWlz"}  # root:mauvais
    assert client.get("/boite-envoi/", headers=refused).status_code == 401
    auth = {"Authorization": "Basic cm9vdDptb3RkZXBhc3NlLXNvbGlkZQ=="}  # root:motdepasse-solide
    page = client.get("/boite-envoi/", headers=auth)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "u0@example.org" in text and "envoyé" in text and "outbox" in text
    assert "fr-header" in text and 'href="/admin/"' in text  # in the site's layout, admin menu
    with db.factory() as s:
        first = s.scalar(select(Notification.id))
    mail = client.get(f"/boite-envoi/{first}", headers=auth)
    assert mail.status_code == 200 and "Personne n°0" in mail.get_data(as_text=True)
