"""Shared fixtures: every test that takes `db` runs on SQLite and on PostgreSQL, on fresh tables."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from server.schema import upgrade
from workflows.engine.db import make_engine, make_session_factory
from workflows.models import Base

ROOT = Path(__file__).resolve().parent.parent
BPMN_DIR = ROOT / "bpmn"
SCENARIOS = Path(__file__).resolve().parent / "bpmn"


@dataclass
class Database:
    url: str
    engine: Engine
    factory: sessionmaker[Session]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name


def missing(reason: str):
    """A dependency of a test is absent: under CI=true the test fails, otherwise it is skipped
    (the one place that decides; ./scripts/test installs and starts everything)."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true et {reason}")
    pytest.skip(reason)  # outside CI only


def postgres_url() -> str:
    """The throw-away server started by scripts/test; its absence fails under CI."""
    url = os.environ.get("CLAUSIER_TEST_POSTGRES_URL")
    if url:
        return url
    missing("PostgreSQL absent (CLAUSIER_TEST_POSTGRES_URL) : lancez ./scripts/test")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def pg_engine():
    engine = make_engine(postgres_url(), pool_size=10, max_overflow=20)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    upgrade(engine)
    yield engine
    engine.dispose()


def _truncate(engine: Engine) -> None:
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, tmp_path, sqlite_template) -> Database:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        path = tmp_path / "clausier.db"
        shutil.copy(sqlite_template, path)
        url = f"sqlite:///{path}"
        engine = make_engine(url)
        yield Database(url, engine, make_session_factory(engine))
        engine.dispose()
    else:
        engine = request.getfixturevalue("pg_engine")
        _truncate(engine)
        yield Database(str(engine.url), engine, make_session_factory(engine))


@pytest.fixture
def session(db: Database):
    with db.factory() as s:
        yield s


@pytest.fixture
def sqlite_session(tmp_path, sqlite_template):
    """A session on a fresh SQLite database, for tests where the database plays no part."""
    path = tmp_path / "clausier.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with make_session_factory(engine)() as s:
        yield s
    engine.dispose()
