"""The application factory and its first pages."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import func, select

from server.app import create_app
from server.config import Config
from tests.conftest import BPMN_DIR
from workflows.engine.models import ProcessDefinition


@contextmanager
def running_app(db, **overrides):
    config = Config(database_url=db.url, bpmn_dir=BPMN_DIR, scheduler=False, testing=True)
    for key, value in overrides.items():
        setattr(config, key, value)
    app = create_app(config)
    try:
        yield app
    finally:
        app.extensions["clausier.engine"].dispose()


def test_config_is_applied_and_diagrams_deployed(db):
    with running_app(db) as app:
        assert app.testing
        client = app.test_client()
        assert client.get("/healthz").get_json() == {"status": "ok"}
        page = client.get("/")
        assert page.status_code == 302 and page.headers["Location"].endswith("/connexion")
    with db.factory() as s:
        keys = set(s.scalars(select(ProcessDefinition.key)))
    assert "marche_clause_sociale" in keys


def test_starting_twice_deploys_nothing_new(db):
    with running_app(db):
        pass
    with running_app(db):
        pass
    with db.factory() as s:
        assert s.scalar(select(func.max(ProcessDefinition.version))) == 1


def test_deploy_on_start_can_be_turned_off(db):
    with running_app(db, deploy_on_start=False):
        pass
    with db.factory() as s:
        assert s.scalar(select(func.count()).select_from(ProcessDefinition)) == 0
