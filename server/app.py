"""Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask, g

from workflows.engine.db import make_engine, make_session_factory, transaction
from workflows.engine.deploy import deploy, read_files

from . import errors
from .config import Config
from .schema import upgrade

log = logging.getLogger(__name__)


def create_app(config: Config | None = None) -> Flask:
    """Build the app: database migrated, diagrams deployed, scheduler started if configured."""
    config = config or Config.from_env()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=config.secret_key,
        TESTING=config.testing,
        CLAUSIER=config,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Secure cookies unless configured off (plain http on loopback: `clausier serve`)
        SESSION_COOKIE_SECURE=(
            config.secure_cookies if config.secure_cookies is not None else not config.testing
        ),
        MAX_CONTENT_LENGTH=8 * 1024 * 1024,
    )
    engine = make_engine(config.database_url)
    upgrade(engine)
    factory = make_session_factory(engine)
    app.extensions["clausier.engine"] = engine
    app.extensions["clausier.sessions"] = factory
    if config.deploy_on_start and config.bpmn_dir.is_dir():
        with transaction(factory) as session:
            for item in deploy(
                session=session, files=read_files([config.bpmn_dir]), actor="system"
            ):
                if item.created:
                    log.info("déployé %s %s v%s", item.kind, item.key, item.version)

    @app.teardown_request
    def _close_session(_exc):
        session = g.pop("session", None)
        if session is not None:
            session.rollback()
            session.close()

    app.register_error_handler(Exception, errors.json_error)

    from notifications.settings import use

    use(config.notifications)  # links and sender of the notices written by engine listeners
    from . import api, auth, camunda, observability, outbox_web, web

    web.init_app(app)
    app.register_blueprint(outbox_web.blp)
    app.register_blueprint(auth.blp)
    api.init_app(app)
    camunda.init_app(app)
    observability.init_app(app)
    if config.proxy_hops:  # behind a TLS reverse proxy: client address, https scheme, host
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = config.proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    return app
