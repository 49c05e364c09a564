"""The domain tables as migrated match the models, with the indexes the indicators rely on."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from workflows.models import Base

ENGINE_TABLES = {
    "process_definition",
    "decision_definition",
    "instance",
    "human_task",
    "timer",
    "event",
}


def _table_of(diff) -> str | None:
    item = diff[0] if isinstance(diff, list) else diff
    for part in item[1:]:
        name = getattr(part, "name", None) if not isinstance(part, str) else part
        table = getattr(part, "table", None)
        if table is not None:
            return table.name
        if isinstance(name, str) and name in Base.metadata.tables:
            return name
    return None


def test_migrations_create_the_domain_tables_as_modelled(db):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        diffs = compare_metadata(context, Base.metadata)
    ours = [d for d in diffs if _table_of(d) not in ENGINE_TABLES | {None}]
    assert ours == []


def test_indexes_for_the_indicators(db):
    inspector = inspect(db.engine)

    def indexed(table: str) -> set[tuple[str, ...]]:
        return {tuple(i["column_names"]) for i in inspector.get_indexes(table)}

    assert ("marche_id", "month") in indexed("hours_record")
    assert ("month",) in indexed("hours_record")
    assert ("territory_id",) in indexed("marche")
    assert ("territory_id",) in indexed("beneficiary")
    assert ("territory_id",) in indexed("marche_territory")
