"""Timers fired by real scheduler processes: exactly once, however many processes poll."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from tests.workflows.engine.diagrams import chain
from workflows.engine import runtime, timers
from workflows.engine.db import transaction
from workflows.engine.deploy import deploy
from workflows.engine.models import Event, HumanTask, Instance, Timer

WAIT = """    <bpmn:intermediateCatchEvent id="attendre">
      <bpmn:timerEventDefinition><bpmn:timeDate>echeance</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
"""


def _scheduler(url: str, log: Path) -> subprocess.Popen:
    env = {**os.environ, "CLAUSIER_DATABASE_URL": url}
    command = "from server.cli import main; main()"
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-c", command, "scheduler", "--poll", "0.2"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_ready(log: Path) -> None:
    deadline = time.monotonic() + 60
    while "Ordonnanceur démarré" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)


def _create_due_instances(db, count: int) -> None:
    """`count` suspended instances whose timer is already due by the real clock."""
    due = datetime.now(UTC) - timedelta(minutes=5)
    timers.set_clock(lambda: due - timedelta(days=1))  # so the timers wait at creation
    try:
        with transaction(db.factory) as s:
            deploy(session=s, files={"m.bpmn": chain("minuterie", [WAIT, "apres"])})
        for start in range(0, count, 250):
            with transaction(db.factory) as s:
                for _ in range(start, min(count, start + 250)):
                    runtime.start(
                        session=s, key="minuterie", variables={"echeance": due.isoformat()}
                    )
    finally:
        timers.set_clock(None)
    with transaction(db.factory) as s:
        s.execute(update(Instance).values(status="suspended"))


def test_two_scheduler_processes_fire_each_timer_exactly_once(db, tmp_path):
    count = 2000 if db.dialect == "postgresql" else 400
    _create_due_instances(db, count)
    logs = [tmp_path / f"scheduler{n}.log" for n in (1, 2)]
    procs = [_scheduler(db.url, log) for log in logs]
    try:
        for log in logs:  # both polling before any timer becomes eligible
            _wait_ready(log)
        with transaction(db.factory) as s:
            s.execute(update(Instance).values(status="running"))
        deadline = time.monotonic() + 240
        with db.factory() as s:
            while s.scalar(select(func.count()).select_from(Timer)) and time.monotonic() < deadline:
                s.rollback()
                time.sleep(0.5)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)
    with db.factory() as s:
        assert s.scalar(select(func.count()).select_from(Timer)) == 0
        fired = s.execute(
            select(Event.instance_id, func.count())
            .where(Event.kind == "timers.fired")
            .group_by(Event.instance_id)
        ).all()
        assert len(fired) == count and {n for _, n in fired} == {1}
        after = s.execute(
            select(HumanTask.instance_id, func.count())
            .where(HumanTask.element_id == "apres")
            .group_by(HumanTask.instance_id)
        ).all()
        assert len(after) == count and {n for _, n in after} == {1}
        actors = set(s.scalars(select(Event.actor).where(Event.kind == "timers.fired")))
        if db.dialect == "postgresql":  # SQLite serialises writers: one may take every batch
            assert len(actors) == 2, "both processes took part"
        assert "Traceback" not in logs[0].read_text() + logs[1].read_text()
        assert {p.returncode for p in procs} <= {0, -15}


def test_a_killed_schedulers_lease_expires_and_another_fires(db):
    _create_due_instances(db, 3)
    with transaction(db.factory) as s:
        s.execute(update(Instance).values(status="running"))
    with transaction(db.factory) as s:  # a process leases, then dies before firing
        leased = runtime.lease_due_timers(session=s, owner="mort", lease_seconds=60)
    assert len(leased) == 3
    with transaction(db.factory) as s:
        assert runtime.lease_due_timers(session=s, owner="vivant") == []
    timers.set_clock(lambda: datetime.now(UTC) + timedelta(seconds=61))
    try:
        from server.scheduler import fire_due_timers

        assert fire_due_timers(db.factory) == 3
    finally:
        timers.set_clock(None)
    with db.factory() as s:
        assert s.scalar(select(func.count()).select_from(Timer)) == 0
