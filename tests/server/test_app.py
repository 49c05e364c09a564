"""The application factory and its first pages."""

from __future__ import annotations

from server.app import create_app
from server.config import Config
from tests.conftest import BPMN_DIR


def make_app(db, **overrides):
    config = Config(database_url=db.url, bpmn_dir=BPMN_DIR, scheduler=False, testing=True)
    for key, value in overrides.items():
        setattr(config, key, value)
    return create_app(config)


def test_config_is_applied_and_diagrams_deployed(db):
    app = make_app(db)
    assert app.testing
    client = app.test_client()
    assert client.get("/healthz").get_json() == {"status": "ok"}
    page = client.get("/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Clausier — tâches à faire" in text and 'lang="fr"' in text
    from sqlalchemy import select

    from workflows.engine.models import ProcessDefinition

    with db.factory() as s:
        keys = set(s.scalars(select(ProcessDefinition.key)))
    assert "marche_clause_sociale" in keys


def test_starting_twice_deploys_nothing_new(db):
    make_app(db)
    make_app(db)
    from sqlalchemy import func, select

    from workflows.engine.models import ProcessDefinition

    with db.factory() as s:
        assert s.scalar(select(func.max(ProcessDefinition.version))) == 1
