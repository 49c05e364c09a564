"""`clausier backup` / `clausier restore`: SQLite copies taken while the server writes, refusals
of what must not be restored, and a PostgreSQL round trip with the real pg_dump / pg_restore."""

from __future__ import annotations

import os
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

from server import cli_ops
from server.cli import main
from server.demo import load_demo
from tests.conftest import BPMN_DIR, postgres_url
from workflows.engine import runtime
from workflows.engine.db import make_engine, make_session_factory, transaction
from workflows.engine.deploy import deploy, read_files
from workflows.engine.models import Event, HumanTask
from workflows.models import Base


def _heads() -> set[str]:
    from alembic.script import ScriptDirectory

    from server.schema import alembic_config

    return set(ScriptDirectory.from_config(alembic_config(None)).get_heads())


def clausier(url: str, *args: str, code: int = 0) -> str:
    env = {"CLAUSIER_DATABASE_URL": url, "CLAUSIER_DEPLOY_ON_START": "false"}
    pgbin = os.environ.get("CLAUSIER_TEST_PGBIN")
    if pgbin:
        env["CLAUSIER_PGBIN"] = pgbin
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    output = result.output + (result.stderr or "")
    assert result.exit_code == code, output
    assert "Traceback" not in output
    return output


def snapshot(engine) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order."""
    with engine.connect() as conn:
        rows = {
            table.name: [
                tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key))
            ]
            for table in Base.metadata.sorted_tables
        }
        rows["alembic_version"] = list(
            conn.execute(text("SELECT version_num FROM alembic_version"))
        )
    return rows


def _integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


# --- SQLite -------------------------------------------------------------------------------------


@pytest.fixture
def live(tmp_path, sqlite_template) -> Path:
    path = tmp_path / "clausier.db"
    shutil.copy(sqlite_template, path)
    return path


def test_sqlite_backup_while_another_connection_writes(live, tmp_path):
    url = f"sqlite:///{live}"
    engine = make_engine(url)
    factory = make_session_factory(engine)
    committed: list[int] = []
    stop = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            i = 0
            while not stop.is_set() or i < 400:
                with transaction(factory) as session:
                    event = Event(kind="test.write", data={"i": i, "pad": "x" * 3000})
                    session.add(event)
                    session.flush()
                    event_id = event.id
                committed.append(event_id)  # after the commit returned
                i += 1
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        while len(committed) < 100 and thread.is_alive():
            stop.wait(0.01)
        before = set(committed)
        out = clausier(url, "backup", str(tmp_path / "copie.db"))
    finally:
        stop.set()
        thread.join(timeout=60)
        engine.dispose()
    assert not failures, failures
    assert "Sauvegarde écrite" in out and "intégrité vérifiée" in out
    copy = tmp_path / "copie.db"
    assert not Path(f"{copy}-wal").exists()  # one self-contained file
    assert _integrity(copy) == "ok"
    conn = sqlite3.connect(copy)
    try:
        in_copy = {row[0] for row in conn.execute("SELECT id FROM event")}
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    finally:
        conn.close()
    # every row committed before the backup started is there; the copy is one instant of the
    # database: exactly the rows committed up to its last one, none missing in between
    assert before <= in_copy <= set(committed)
    assert in_copy == {i for i in committed if i <= max(in_copy)}

    restored = tmp_path / "restauree.db"
    out = clausier(f"sqlite:///{restored}", "restore", str(copy))
    assert "Base restaurée" in out
    assert _integrity(restored) == "ok"
    check = make_engine(f"sqlite:///{restored}")
    try:
        with check.connect() as conn:
            ids = set(conn.execute(text("SELECT id FROM event")).scalars())
            revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        check.dispose()
    assert ids == in_copy and revision in _heads()


def test_sqlite_restore_refuses_what_is_not_a_clausier_database(live, tmp_path):
    url = f"sqlite:///{tmp_path / 'cible.db'}"
    not_db = tmp_path / "notes.txt"
    not_db.write_text("ceci n'est pas une base")
    assert "n'est pas une base SQLite" in clausier(url, "restore", str(not_db), code=1)
    other = tmp_path / "autre.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    assert "pas une base Clausier" in clausier(url, "restore", str(other), code=1)
    # a backup damaged on its way: a page in the middle overwritten
    damaged = tmp_path / "abimee.db"
    shutil.copy(live, damaged)
    conn = sqlite3.connect(damaged)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    size = damaged.stat().st_size
    with damaged.open("r+b") as file:
        for offset in range(4096 * 3, size, 4096 * 5):  # page headers of several pages
            file.seek(offset)
            file.write(b"\xff" * 64)
    out = clausier(url, "restore", str(damaged), code=1)
    assert "endommagé" in out or "illisible" in out
    assert not (tmp_path / "cible.db").exists()  # nothing written meanwhile
    assert "introuvable" in clausier(url, "restore", str(tmp_path / "absent.db"), code=1)


def test_sqlite_restore_does_not_overwrite_data_without_force(live, tmp_path):
    url = f"sqlite:///{live}"
    engine = make_engine(url)
    with transaction(make_session_factory(engine)) as session:
        session.add(Event(kind="test.avant", data={}))
    clausier(url, "backup", str(tmp_path / "sauvegarde.db"))
    assert "existe déjà" in clausier(url, "backup", str(tmp_path / "sauvegarde.db"), code=1)
    with transaction(make_session_factory(engine)) as session:
        session.add(Event(kind="test.apres", data={}))
    engine.dispose()
    out = clausier(url, "restore", str(tmp_path / "sauvegarde.db"), code=1)
    assert "contient déjà des données" in out and "--force" in out
    engine = make_engine(url)
    with engine.connect() as conn:
        kinds = set(conn.execute(text("SELECT kind FROM event")).scalars())
    assert kinds == {"test.avant", "test.apres"}  # untouched
    # in use (a server's connection is open): refused even with --force
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
        conn.commit()  # idle, but open: as in a running server's pool
        out = clausier(url, "restore", str(tmp_path / "sauvegarde.db"), "--force", code=1)
        assert "en cours d'utilisation" in out
    engine.dispose()
    assert "Base restaurée" in clausier(url, "restore", str(tmp_path / "sauvegarde.db"), "--force")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            kinds = set(conn.execute(text("SELECT kind FROM event")).scalars())
    finally:
        engine.dispose()
    assert kinds == {"test.avant"}
    assert _integrity(live) == "ok"
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind


def test_an_older_backup_is_upgraded_on_restore(tmp_path):
    from server.schema import upgrade

    old = tmp_path / "ancienne.db"
    engine = make_engine(f"sqlite:///{old}")
    upgrade(engine, "0006_merge")
    engine.dispose()
    clausier(f"sqlite:///{old}", "backup", str(tmp_path / "sauvegarde.db"))
    out = clausier(f"sqlite:///{tmp_path / 'neuve.db'}", "restore", str(tmp_path / "sauvegarde.db"))
    assert "révision 0006_merge" in out and "mise à jour" in out
    conn = sqlite3.connect(tmp_path / "neuve.db")
    try:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] in _heads()
    finally:
        conn.close()


def test_postgresql_tools_missing_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("CLAUSIER_PGBIN", str(tmp_path))
    with pytest.raises(cli_ops.OpsError, match="introuvable dans CLAUSIER_PGBIN"):
        cli_ops.pg_tool("pg_dump")
    monkeypatch.delenv("CLAUSIER_PGBIN")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(cli_ops, "DEBIAN_PGBIN", str(tmp_path / "postgresql/*/bin"))
    with pytest.raises(cli_ops.OpsError, match="installez le client PostgreSQL"):
        cli_ops.pg_tool("pg_restore")
    (tmp_path / "postgresql/15/bin").mkdir(parents=True)
    (tmp_path / "postgresql/9/bin").mkdir(parents=True)
    for version in ("15", "9"):
        tool = tmp_path / f"postgresql/{version}/bin/pg_dump"
        tool.write_text("#!/bin/sh\n")
        tool.chmod(0o755)
    assert cli_ops.pg_tool("pg_dump") == str(tmp_path / "postgresql/15/bin/pg_dump")


# --- PostgreSQL ---------------------------------------------------------------------------------


@contextmanager
def scratch_databases(count: int) -> Iterator[list[str]]:
    """Throw-away databases on the test server (dropped at the end): their URLs."""
    server = make_url(postgres_url())
    admin = make_engine(server.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT")
    names = [f"clausier_essai_{uuid.uuid4().hex[:8]}" for _ in range(count)]
    try:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield [server.set(database=name).render_as_string(hide_password=False) for name in names]
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_databases():
    with scratch_databases(2) as urls:
        yield urls


def _populate(url: str) -> None:
    from server.schema import upgrade

    engine = make_engine(url)
    try:
        upgrade(engine)
        with transaction(make_session_factory(engine)) as session:
            deploy(session=session, files=read_files([BPMN_DIR]), actor="test")
            assert load_demo(session=session) == 5
    finally:
        engine.dispose()


def test_postgresql_round_trip_with_pg_dump_and_pg_restore(pg_databases, tmp_path):
    source, empty = pg_databases
    _populate(source)
    engine = make_engine(source)
    before = snapshot(engine)
    engine.dispose()
    assert len(before["event"]) > 20 and before["beneficiary"]
    archive = tmp_path / "clausier.dump"
    out = clausier(source, "backup", str(archive))
    assert "archive vérifiée" in out and archive.read_bytes()[:5] == b"PGDMP"

    # into an empty database
    assert "Base restaurée" in clausier(empty, "restore", str(archive))
    engine = make_engine(empty)
    try:
        assert snapshot(engine) == before
    finally:
        engine.dispose()

    # over the source, changed since: refused without --force, then identical to the backup
    engine = make_engine(source)
    with transaction(make_session_factory(engine)) as session:
        session.add(Event(kind="test.apres", data={}))
        session.execute(text("DELETE FROM beneficiary_access"))
    engine.dispose()
    assert "contient déjà des données" in clausier(source, "restore", str(archive), code=1)
    clausier(source, "restore", str(archive), "--force")
    engine = make_engine(source)
    try:
        assert snapshot(engine) == before
        # usable: sequences go on after the restored ids, the engine runs the instances
        factory = make_session_factory(engine)
        with transaction(factory) as session:
            event = Event(kind="test.apres", data={})
            session.add(event)
            session.flush()
            assert event.id > max(row[0] for row in before["event"])
            task = session.scalars(
                select(HumanTask).where(
                    HumanTask.element_id == "choisir_disposition", HumanTask.state == "open"
                )
            ).first()
            instance = runtime.complete_task(
                session=session,
                task_id=task.id,
                data={
                    "disposition": "clause_insertion",
                    "justification_disposition": "Essai après restauration.",
                },
                actor="test",
            )
            assert instance.status == "running"
    finally:
        engine.dispose()

    # what is not a pg_dump archive of Clausier is refused
    not_dump = tmp_path / "notes.txt"
    not_dump.write_text("PGDMP? non")
    assert "pas une archive pg_dump" in clausier(empty, "restore", str(not_dump), code=1)
