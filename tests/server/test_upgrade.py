"""Upgrade from the previous release on a populated database.

The previous release is session 1's (commit 05e3d27, schema revision 0006_merge). Its own code —
taken from git with `git archive`, which changes nothing in the repository — loads its
demonstration data into a fresh database (SQLite, and PostgreSQL in a database of its own); this
code then migrates that database to the latest schema and works with it: every row is still
there, every demo account sees what it should (instances and inbox, through the service layer
the API uses), a task is completed, timers fire, the server starts on it and answers.

Without git history (a shallow clone, an archive of the sources) the test is skipped, except
under CI=true where it fails.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, inspect, select, text

from server.api import process_service, scope
from server.api import tasks_service as inbox
from server.config import Config
from server.demo import DEMO_ACCOUNTS, DEMO_PASSWORD
from server.scheduler import fire_due_timers
from server.schema import upgrade
from tests.conftest import BPMN_DIR, ROOT, missing
from tests.server.test_backup import scratch_databases
from workflows.accounts import service as accounts
from workflows.engine import timers
from workflows.engine.db import make_engine, make_session_factory, transaction
from workflows.engine.models import Event, HumanTask, Instance, Timer
from workflows.marches.models import Marche
from workflows.rgpd import service as rgpd

PREVIOUS_RELEASE = "05e3d27"  # session 1
PREVIOUS_REVISION = "0006_merge"
SOURCES = ["server", "workflows", "notifications", "bpmn"]
LOADER = """
import sys
root, url = sys.argv[1], sys.argv[2]
import notifications, server, workflows
for package in (notifications, server, workflows):
    assert package.__file__.startswith(root), ("code of this checkout", package.__file__)
from server.app import create_app
from server.config import Config
from server.demo import load_demo
from workflows.engine.db import transaction
app = create_app(Config(database_url=url, scheduler=False, testing=True))
with transaction(app.extensions["clausier.sessions"]) as session:
    print(load_demo(session=session))
app.extensions["clausier.engine"].dispose()
"""


@pytest.fixture(scope="module")
def previous_release(tmp_path_factory) -> Path:
    """The previous release's sources, extracted from git (nothing in the repository changes)."""
    git = shutil.which("git")
    if git is None:
        missing("git est absent : impossible de retrouver la version précédente")
    found = subprocess.run(
        [git, "-C", str(ROOT), "cat-file", "-e", f"{PREVIOUS_RELEASE}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    if found.returncode != 0:
        missing(f"historique git sans le commit {PREVIOUS_RELEASE} (clone superficiel ?)")
    archive = subprocess.run(
        [git, "-C", str(ROOT), "archive", "--format=tar", PREVIOUS_RELEASE, *SOURCES],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    destination = tmp_path_factory.mktemp("version-precedente")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(destination, filter="data")
    return destination


def _load_with_previous_release(source: Path, url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAUSIER_")}
    env["PYTHONPATH"] = str(source)
    result = subprocess.run(
        [sys.executable, "-c", LOADER, str(source), url],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "5"  # five marchés


def _state(engine) -> dict:
    """What must survive the upgrade: row counts of every table, and the instances' data."""
    with engine.connect() as conn:
        tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
        counts = {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar() for t in tables}
        instances = {
            row.id: (row.business_key, row.status, hashlib.sha256(row.state.encode()).hexdigest())
            for row in conn.execute(text("SELECT id, business_key, status, state FROM instance"))
        }
        tasks = dict(conn.execute(text("SELECT id, state FROM human_task")).all())
        pending = dict(conn.execute(text("SELECT id, element_id FROM timer")).all())
        people = set(conn.execute(text("SELECT first_name, last_name FROM beneficiary")).all())
        revision = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return {
        "counts": counts,
        "instances": instances,
        "tasks": tasks,
        "timers": pending,
        "people": people,
        "revision": revision,
    }


def _check_upgrade(source: Path, url: str) -> None:
    _load_with_previous_release(source, url)
    engine = make_engine(url)
    try:
        before = _state(engine)
        assert before["revision"] == PREVIOUS_REVISION
        assert before["counts"]["instance"] == 5 and before["timers"] and before["people"]
        upgrade(engine)
        after = _state(engine)
        assert after["revision"] != PREVIOUS_REVISION
        for table, count in before["counts"].items():
            assert after["counts"][table] == count, table
        for key in ("instances", "tasks", "timers", "people"):
            assert after[key] == before[key], key
        _operate(engine)
        _serve(url)
    finally:
        engine.dispose()


def _operate(engine) -> None:
    """What users and the scheduler do, on the upgraded data, through the services."""
    factory = make_session_factory(engine)
    with transaction(factory) as session:
        buyers = dict(session.execute(select(Marche.instance_id, Marche.buyer_id)).all())
        every = set(session.scalars(select(Instance.id)))
        open_tasks = set(session.scalars(select(HumanTask.id).where(HumanTask.state == "open")))
        actors = {}
        for login, role, _buyer in DEMO_ACCOUNTS:
            user = accounts.authenticate(session=session, login=login, password=DEMO_PASSWORD)
            actor = accounts.actor_of(user)
            actors[login] = actor
            seen = set(session.scalars(scope.filtered_instances(session, actor)))
            seen_ids = {i.id for i in seen}
            query = inbox.inbox(session=session, actor=actor, query=inbox.Query())
            tasks, total = inbox.page(session, query, 0, 500)
            if role == "acheteur":
                expected = {i for i, b in buyers.items() if b == actor.organisation_id}
                assert expected and seen_ids == expected, login
                assert {t.instance_id for t in tasks} <= expected, login
            else:  # admin, and the facilitator and coordination of the demo territory
                assert seen_ids == every, login
                assert {t.id for t in tasks} == open_tasks, login
            assert total == len(tasks)
        # the buyers' lists split the marchés between them
        assert {
            i
            for login in ("acheteur.gpsea", "acheteur.creteil")
            for i in buyers
            if buyers[i] == actors[login].organisation_id
        } == set(buyers)

    # complete a task as someone it is offered to
    with transaction(factory) as session:
        task = session.scalars(
            select(HumanTask).where(
                HumanTask.element_id == "choisir_disposition", HumanTask.state == "open"
            )
        ).first()
        actor = next(
            a
            for a in actors.values()
            if a.role != "admin"
            and scope.may_work_on(a, task)
            and session.scalar(scope.tasks(session, a).where(HumanTask.id == task.id))
        )
        instance = inbox.complete(
            session=session,
            actor=actor,
            task_id=task.id,
            data={
                "disposition": "clause_insertion",
                "justification_disposition": "Choix confirmé après la mise à jour.",
            },
        )
        assert instance.status == "running"
        completed_instance = instance.id
    with transaction(factory) as session:
        assert session.get(HumanTask, task.id).state == "completed"
        follow = session.scalars(
            select(HumanTask.element_id).where(
                HumanTask.instance_id == completed_instance, HumanTask.state == "open"
            )
        ).all()
        assert follow and "choisir_disposition" not in follow
        last_due = session.scalar(select(func.max(Timer.due_at)))

    # fire every timer as the scheduler would, once they are due
    timers.set_clock(lambda: last_due + timedelta(minutes=1))
    try:
        assert fire_due_timers(factory) >= 1
    finally:
        timers.set_clock(None)
    with transaction(factory) as session:
        overdue = select(func.count()).select_from(Timer).where(Timer.due_at <= last_due)
        assert session.scalar(overdue) == 0
        fired = select(func.count()).select_from(Event).where(Event.kind == "timers.fired")
        assert session.scalar(fired) >= 1
        # personal data: readable by the facilitator, never in a buyer's audit export
        person = session.execute(text("SELECT id, last_name FROM beneficiary")).first()
        export = rgpd.export_person(
            session=session, actor=actors["camille.martin"], beneficiary_id=person.id
        )
        assert export["personne"]["nom"] == person.last_name
        buyer = actors["acheteur.gpsea"]
        for instance_id in session.scalars(scope.filtered_instances(session, buyer)):
            audit = process_service.audit(session=session, actor=buyer, instance_id=instance_id.id)
            assert person.last_name not in repr(audit)


def _serve(url: str) -> None:
    """The current server starts on the upgraded database and answers a demo account."""
    from server.app import create_app

    app = create_app(Config(database_url=url, bpmn_dir=BPMN_DIR, scheduler=False, testing=True))
    try:
        client = app.test_client()
        response = client.get("/api/v1/tasks", auth=("camille.martin", DEMO_PASSWORD))
        assert response.status_code == 200, response.get_json()
        assert response.get_json()
        history = client.get("/api/v1/instances/1/history", auth=("admin", DEMO_PASSWORD))
        assert history.status_code == 200 and history.get_json()["events"]
    finally:
        app.extensions["clausier.engine"].dispose()


def test_upgrade_from_previous_release_on_sqlite(previous_release, tmp_path):
    _check_upgrade(previous_release, f"sqlite:///{tmp_path / 'version-precedente.db'}")


def test_upgrade_from_previous_release_on_postgresql(previous_release):
    with scratch_databases(1) as (url,):
        _check_upgrade(previous_release, url)
