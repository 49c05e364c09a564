"""Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify

from workflows.engine.db import make_engine, make_session_factory, transaction
from workflows.engine.deploy import deploy, read_files
from workflows.engine.errors import EngineError

from .config import Config
from .schema import upgrade

log = logging.getLogger(__name__)


def create_app(config: Config | None = None) -> Flask:
    """Build the app: database migrated, diagrams deployed, scheduler started if configured."""
    config = config or Config.from_env()
    app = Flask(__name__)
    app.config.update(SECRET_KEY=config.secret_key, TESTING=config.testing, CLAUSIER=config)
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

    @app.errorhandler(EngineError)
    def _engine_error(exc: EngineError):
        body = {"code": exc.status, "status": type(exc).__name__, "message": exc.message}
        if exc.errors:
            body["errors"] = exc.errors
        return jsonify(body), exc.status

    from . import web

    app.register_blueprint(web.blp)
    return app
