"""Migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from workflows.models import Base


def test_migrations_match_the_models(db):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_migrations_have_a_single_head():
    from alembic.script import ScriptDirectory

    from server.schema import MIGRATIONS, alembic_config

    config = alembic_config(None)
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1, MIGRATIONS
