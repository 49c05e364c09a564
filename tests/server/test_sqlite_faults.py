"""SQLite faults: a read-only database and a full disk are answered 503 with a French message (no
500, no traceback); the write is rolled back, the database stays intact, reads go on, and writes
work again once the fault is gone.

Each fault is produced two ways: by SQLite itself (`mode=ro` URI, `PRAGMA max_page_count`), which
runs anywhere, and by the file system (a read-only bind mount, a full tmpfs) when this process may
mount (root in a container usually may; else that variant falls back to SQLite's, never skipped).
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import event

from server.app import create_app
from server.config import Config
from tests.conftest import BPMN_DIR, Database
from tests.server.api.world import world_app
from workflows.engine.db import make_engine, make_session_factory

BIG = "x" * 600_000  # a write of more than a megabyte (instance state and its start event)


def _mount(*args: str) -> bool:
    return subprocess.run(["mount", *args], capture_output=True, check=False).returncode == 0


def _umount(path: Path) -> None:
    if subprocess.run(["umount", str(path)], capture_output=True, check=False).returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


@cache
def can_mount() -> bool:
    """Whether this process may mount (a tmpfs, a bind): root with CAP_SYS_ADMIN."""
    if os.geteuid() != 0:
        return False
    probe = Path(f"/tmp/clausier-mount-probe-{os.getpid()}")
    probe.mkdir(exist_ok=True)
    try:
        if not _mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)):
            return False
        _umount(probe)
        return True
    finally:
        probe.rmdir()


@contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    assert _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path))
    try:
        yield path
    finally:
        _umount(path)


@contextmanager
def world_in(directory: Path):
    """The matrix tests' world in a database stored in `directory`."""
    url = f"sqlite:///{directory / 'clausier.db'}"
    engine = make_engine(url)
    try:
        with world_app(Database(url, engine, make_session_factory(engine))) as (app, client, w):
            yield app, client, w
    finally:
        engine.dispose()


def _is_french_503(response, words: str) -> None:
    assert response.status_code == 503, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == 503 and body["status"] == "Service Unavailable"
    assert words in body["message"], body["message"]
    assert "Traceback" not in response.get_data(as_text=True)


def _integrity(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def _start(client, headers, variables):
    return client.post(
        "/api/v1/instances",
        json={"key": "formulaire", "business_key": "T1/essai", "variables": variables},
        headers=headers,
    )


# --- read-only ----------------------------------------------------------------------------------


@contextmanager
def read_only(how: str, app, path: Path) -> Iterator[object]:
    """A client on the same database, now read-only."""
    if how == "filesystem" and can_mount():
        keeper = sqlite3.connect(path)  # keeps the -wal and -shm files, as a server's pool does
        keeper.execute("SELECT count(*) FROM instance").fetchone()
        app.extensions["clausier.engine"].dispose()  # new connections open the file read-only
        assert _mount("--bind", str(path.parent), str(path.parent))
        try:
            assert _mount("-o", "remount,bind,ro", str(path.parent))
            with pytest.raises(OSError) as refused:
                (path.parent / "essai").write_text("?")
            assert refused.value.errno == errno.EROFS
            yield app.test_client()
        finally:
            app.extensions["clausier.engine"].dispose()
            _umount(path.parent)
            keeper.close()
    else:
        # SQLite's own read-only mode, through the configuration's URL
        config = Config(
            database_url=f"sqlite:///file:{path}?mode=ro&uri=true",
            bpmn_dir=BPMN_DIR,
            scheduler=False,
            testing=True,
        )
        readonly_app = create_app(config)
        try:
            yield readonly_app.test_client()
        finally:
            readonly_app.extensions["clausier.engine"].dispose()


@pytest.mark.parametrize("how", ["sqlite", "filesystem"])
def test_read_only_database(tmp_path, how):
    directory = tmp_path / "base"
    directory.mkdir()
    path = directory / "clausier.db"
    with world_in(directory) as (app, client, w):
        fac, admin = w.auth("facilitateur1"), w.auth("admin1")
        task = f"/api/v1/tasks/{w.own.task_id}"
        instance = f"/api/v1/instances/{w.own.instance_id}"
        for headers in (fac, admin):  # tokens used within the minute: no write to record it
            assert client.get(instance, headers=headers).status_code == 200
        with read_only(how, app, path) as ro:
            _is_french_503(ro.post(f"{task}/claim", headers=admin), "lecture seule")
            _is_french_503(_start(ro, admin, {"a": 1}), "lecture seule")
            # reads still work, and nothing was written
            assert ro.get(instance, headers=fac).status_code == 200
            assert ro.get(task, headers=fac).get_json()["assignee"] is None
            listed = ro.get("/api/v1/instances", headers=admin)
            assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "4"
            assert ro.get(f"{instance}/history", headers=fac).status_code == 200
        assert _integrity(path) == "ok"
        # writable again: the same write goes through
        claimed = client.post(f"{task}/claim", headers=admin)
        assert claimed.status_code == 200 and claimed.get_json()["assignee"] == "admin1"


# --- disk full ----------------------------------------------------------------------------------


@contextmanager
def full_disk(how: str, app, path: Path) -> Iterator[None]:
    """No room left for the database to grow (about 64 Kio free)."""
    if how == "filesystem" and can_mount():
        filler = path.parent / "remplissage"
        with filler.open("wb") as file:
            chunk = b"\0" * (1024 * 1024)
            try:
                while True:
                    file.write(chunk)
                    file.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        os.truncate(filler, max(filler.stat().st_size - 64 * 1024, 0))
        try:
            yield
        finally:
            filler.unlink()  # space freed
    else:
        engine = app.extensions["clausier.engine"]
        with engine.connect() as conn:
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar()

        def cap(dbapi_connection, _record) -> None:
            dbapi_connection.execute(f"PRAGMA max_page_count = {pages + 4}")

        event.listen(engine, "connect", cap)
        engine.dispose()
        try:
            yield
        finally:
            event.remove(engine, "connect", cap)
            engine.dispose()


@contextmanager
def disk_for(how: str, tmp_path: Path) -> Iterator[Path]:
    if how == "filesystem" and can_mount():
        with tmpfs(tmp_path / "disque", "48m") as directory:
            yield directory
    else:
        directory = tmp_path / "disque"
        directory.mkdir()
        yield directory


@pytest.mark.parametrize("how", ["sqlite", "filesystem"])
def test_disk_full(tmp_path, how):
    with disk_for(how, tmp_path) as directory:
        path = directory / "clausier.db"
        with world_in(directory) as (app, client, w):
            fac, admin = w.auth("facilitateur1"), w.auth("admin1")
            instance = f"/api/v1/instances/{w.own.instance_id}"
            for headers in (fac, admin):
                assert client.get(instance, headers=headers).status_code == 200
            with full_disk(how, app, path):
                _is_french_503(_start(client, admin, {"gros": BIG}), "Espace disque insuffisant")
                # rolled back: no instance more, the database intact, reads served
                listed = client.get("/api/v1/instances", headers=admin)
                assert listed.status_code == 200 and listed.headers["X-Total-Count"] == "4"
                assert client.get(instance, headers=fac).status_code == 200
                assert client.get(f"{instance}/history", headers=fac).status_code == 200
                assert _integrity(path) == "ok"
            # room again: the same write goes through
            started = _start(client, admin, {"gros": BIG})
            assert started.status_code == 201, started.get_json()
            listed = client.get("/api/v1/instances", headers=admin)
            assert listed.headers["X-Total-Count"] == "5"
            assert _integrity(path) == "ok"


# --- the mapping, and a database that cannot be reached -----------------------------------------


def _wrapped(orig: BaseException) -> BaseException:
    from sqlalchemy.exc import OperationalError

    return OperationalError("INSERT …", {}, orig)


def test_database_faults_are_mapped_explicitly():
    import psycopg
    from psycopg import errors as pg

    from server.errors import database_fault

    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13
    assert database_fault(_wrapped(full)) == "full"
    assert database_fault(_wrapped(sqlite3.OperationalError("database or disk is full"))) == "full"
    readonly = sqlite3.OperationalError("attempt to write a readonly database")
    assert database_fault(_wrapped(readonly)) == "readonly"
    assert database_fault(_wrapped(sqlite3.OperationalError("no such table: x"))) is None
    assert database_fault(_wrapped(pg.DiskFull("plus de place"))) == "full"
    assert database_fault(_wrapped(pg.ReadOnlySqlTransaction("standby"))) == "readonly"
    assert database_fault(_wrapped(pg.AdminShutdown("arrêt"))) == "down"
    assert database_fault(_wrapped(psycopg.OperationalError("connection refused"))) == "down"
    assert database_fault(_wrapped(pg.UniqueViolation("doublon"))) is None
    assert database_fault(ValueError("autre chose")) is None


def test_an_unreachable_postgresql_is_503_unavailable(tmp_path):
    directory = tmp_path / "base"
    directory.mkdir()
    with world_in(directory) as (app, client, w):
        dead = make_engine("postgresql://clausier@127.0.0.1:9/clausier")
        factory = app.extensions["clausier.sessions"]
        factory.configure(bind=dead)
        try:
            response = client.get("/api/v1/instances", headers=w.auth("admin1"))
        finally:
            dead.dispose()
        _is_french_503(response, "Base de données indisponible")
        assert response.headers["Retry-After"] == "5"
