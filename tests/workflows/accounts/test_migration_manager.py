"""Migration 0008 (manager_id): SQLite rebuilds app_user without losing tokens or territories."""

from __future__ import annotations

from sqlalchemy import inspect, text

from server.schema import alembic_config, upgrade
from workflows.engine.db import make_engine


def _count(conn, table: str) -> int:
    return conn.execute(text(f"SELECT count(*) FROM {table}")).scalar()


def test_the_sqlite_rebuild_keeps_the_rows_that_reference_accounts(tmp_path):
    from alembic import command

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0007_task_scope")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO territory (id, code, name) VALUES (1, 'T', 'Territoire')"))
        conn.execute(
            text(
                "INSERT INTO app_user (id, login, role, active, language, failed_logins, "
                "created_at) VALUES (1, 'fab', 'facilitateur', 1, 'fr', 0, '2027-01-01')"
            )
        )
        conn.execute(
            text("INSERT INTO user_territory (id, user_id, territory_id) VALUES (1, 1, 1)")
        )
        conn.execute(
            text(
                "INSERT INTO api_token (id, user_id, name, prefix, token_hash, created_at) "
                "VALUES (1, 1, 'jeton', 'clz_abc', 'h', '2027-01-01')"
            )
        )
    upgrade(engine)
    columns = {c["name"] for c in inspect(engine).get_columns("app_user")}
    assert "manager_id" in columns
    (fk,) = [
        f for f in inspect(engine).get_foreign_keys("app_user") if f["referred_table"] == "app_user"
    ]
    assert fk["options"] == {"ondelete": "SET NULL"}
    with engine.connect() as conn:
        assert (_count(conn, "app_user"), _count(conn, "api_token")) == (1, 1)
        assert _count(conn, "user_territory") == 1
    config = alembic_config(engine)
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0007_task_scope")
    assert "manager_id" not in {c["name"] for c in inspect(engine).get_columns("app_user")}
    with engine.connect() as conn:
        assert (_count(conn, "api_token"), _count(conn, "user_territory")) == (1, 1)
    engine.dispose()
