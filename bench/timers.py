"""Timer and mail benchmark: 100 000 pending timers over a year, then time advanced; 10 000 mails.

    .venv/bin/python bench/timers.py --postgres URL [--timers 100000] [--processes 2]
                                     [--rate 100] [--lag-seconds 30] [--mails 10000]

Setup: a minimal diagram (start → timer catch event → end); one instance is created through the
engine, then cloned by SQL with fresh task UUIDs and a due date every year/N.
Phase 1 (lag): scheduler processes (APScheduler, the default 1 s poll, the real lease/fire code)
run on a simulated clock that sweeps the year at `--rate` timers per real second; the lag of a
timer is (real time of its `timers.fired` event − real time at which the simulated clock reached
its due date). Phase 2 (throughput): the clock jumps past the year's end, every remaining timer is
due at once; timers_per_s = timers fired ÷ seconds until none is left.
Mails: `--mails` notifications written to the outbox, then delivered by the outbox job to an
aiosmtpd server on the loopback; mails_per_s = mails ÷ delivery seconds.
Without --postgres a temporary SQLite file is used. Results: bench/README.md.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import re
import socket
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, insert, select, text

from notifications import jobs, service
from notifications.settings import Settings
from server.schema import upgrade
from workflows.accounts.models import User
from workflows.engine import runtime, timers
from workflows.engine.db import make_engine, make_session_factory, transaction
from workflows.engine.deploy import deploy
from workflows.engine.models import Event, Instance, Timer

PG_SCHEMA = "clausier_bench_timers"
T0 = datetime(2027, 1, 1, tzinfo=UTC)
YEAR = timedelta(days=365)
PLACEHOLDER = "2031-01-01T00:00:00+00:00"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
DIAGRAM = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"
                  targetNamespace="http://clausier.test/bpmn">
  <bpmn:process id="minuterie" isExecutable="true">
    <bpmn:startEvent id="debut"/>
    <bpmn:intermediateCatchEvent id="attendre">
      <bpmn:timerEventDefinition><bpmn:timeDate>echeance</bpmn:timeDate></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="fin"/>
    <bpmn:sequenceFlow id="f1" sourceRef="debut" targetRef="attendre"/>
    <bpmn:sequenceFlow id="f2" sourceRef="attendre" targetRef="fin"/>
  </bpmn:process>
</bpmn:definitions>
"""


def make(url: str):
    if url.startswith("postgresql"):
        return make_engine(url, connect_args={"options": f"-c search_path={PG_SCHEMA}"})
    return make_engine(url)


def reset(url: str) -> None:
    if url.startswith("postgresql"):
        admin = make_engine(url)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
        admin.dispose()
    engine = make(url)
    upgrade(engine)
    engine.dispose()


def step_of(count: int) -> timedelta:
    return YEAR / count


def create_timers(factory, count: int) -> int:
    """One instance through the engine, cloned `count - 1` times; returns the first id."""
    timers.set_clock(lambda: T0 - timedelta(days=1))
    with transaction(factory) as s:
        deploy(session=s, files={"t.bpmn": DIAGRAM})
        template = runtime.start(session=s, key="minuterie", variables={"echeance": PLACEHOLDER})
        first, state, definition_id = template.id, template.state, template.definition_id
        timer_id = s.scalar(select(Timer.id))
        s.execute(Timer.__table__.delete())
        s.execute(Instance.__table__.delete())
    timers.set_clock(None)
    step, now = step_of(count), datetime.now(UTC)
    for start in range(0, count, 5000):
        instances, rows = [], []
        for n in range(start, min(count, start + 5000)):
            due = T0 + step * (n + 1)
            fresh = {u: str(uuid.uuid4()) for u in set(UUID.findall(state))}
            clone = UUID.sub(lambda m, fresh=fresh: fresh[m.group(0)], state)
            instances.append(
                {
                    "id": first + n,
                    "definition_id": definition_id,
                    "status": "running",
                    "state": clone.replace(PLACEHOLDER, due.isoformat()),
                    "serializer_version": template.serializer_version,
                    "lock_version": 1,
                    "started_at": now,
                    "updated_at": now,
                }
            )
            rows.append(
                {
                    "id": fresh[timer_id],
                    "instance_id": first + n,
                    "element_id": "attendre",
                    "kind": "date",
                    "due_at": due,
                }
            )
        with transaction(factory) as s:
            s.execute(insert(Instance.__table__), instances)
            s.execute(insert(Timer.__table__), rows)
    with transaction(factory) as s:
        if s.get_bind().dialect.name == "postgresql":
            s.execute(text("SELECT setval('instance_id_seq', (SELECT max(id) FROM instance))"))
            s.execute(text("ANALYZE"))
    return first


def worker(url: str, clock, ready) -> None:
    """A scheduler process: APScheduler, 1 s poll, on the shared simulated clock."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    from server.scheduler import fire_due_timers

    def simulated() -> datetime:
        sim0, real0, speed = clock[0], clock[1], clock[2]
        return datetime.fromtimestamp(sim0 + speed * (time.time() - real0), UTC)

    timers.set_clock(simulated)
    factory = make_session_factory(make(url))
    scheduler = BlockingScheduler(timezone="Europe/Paris")
    scheduler.add_job(
        fire_due_timers, "interval", seconds=1, args=[factory], max_instances=1, coalesce=True
    )
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    ready.set()
    scheduler.start()


def remaining(factory) -> int:
    with factory() as s:
        return s.scalar(select(func.count()).select_from(Timer))


def lags(factory, first: int, count: int, clock_at, until: float) -> list[float]:
    """Real seconds from each timer's due moment to its firing, for timers fired before `until`."""
    sim0, real0, speed = clock_at
    step = step_of(count).total_seconds()
    with factory() as s:
        fired = s.execute(select(Event.instance_id, Event.at).where(Event.kind == "timers.fired"))
        out = []
        for instance_id, at in fired:
            if at.timestamp() < until:
                due = T0.timestamp() + step * (instance_id - first + 1)
                out.append(at.timestamp() - (real0 + (due - sim0) / speed))
    return out


def run_timers(url: str, args) -> tuple[float, float]:
    reset(url)
    factory = make_session_factory(make(url))
    t = time.perf_counter()
    first = create_timers(factory, args.timers)
    print(f"{args.timers} timers created in {time.perf_counter() - t:.1f} s")
    ctx = mp.get_context("spawn")
    clock, ready = ctx.Array("d", [T0.timestamp(), time.time() + 3600, 0.0]), ctx.Event()
    procs = [ctx.Process(target=worker, args=(url, clock, ready)) for _ in range(args.processes)]
    for proc in procs:
        proc.start()
    ready.wait(60)
    time.sleep(3)
    speed = args.rate * step_of(args.timers).total_seconds()
    phase1 = (T0.timestamp(), time.time(), speed)
    clock[0], clock[1], clock[2] = phase1  # the year starts sweeping now
    time.sleep(args.lag_seconds)
    jump = time.time()
    clock[0], clock[1], clock[2] = (T0 + YEAR * 2).timestamp(), jump, 0.0
    t = time.perf_counter()
    while remaining(factory):
        time.sleep(0.2)
    elapsed = time.perf_counter() - t
    for proc in procs:
        proc.terminate()
        proc.join()
    measured = sorted(lags(factory, first, args.timers, phase1, jump))
    left = args.timers - len(measured)
    p99 = statistics.quantiles(measured, n=100)[98] if len(measured) > 100 else float("nan")
    print(
        f"phase 1: {len(measured)} timers at {args.rate}/s, lag p50 "
        f"{statistics.median(measured):.2f} s p99 {p99:.2f} s max {measured[-1]:.2f} s"
    )
    print(f"phase 2: {left} timers due at once, fired in {elapsed:.1f} s ({left / elapsed:.0f}/s)")
    return p99, left / elapsed


class Collector:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        return "250 OK"


def run_mails(url: str, count: int) -> float:
    from aiosmtpd.controller import Controller

    factory = make_session_factory(make(url))
    with transaction(factory) as s:
        s.execute(
            insert(User.__table__),
            [
                {
                    "login": f"u{n}",
                    "email": f"u{n}@example.org",
                    "role": "facilitateur",
                    "active": True,
                    "language": "fr",
                    "failed_logins": 0,
                    "created_at": datetime.now(UTC),
                }
                for n in range(100)
            ],
        )
        users = list(s.scalars(select(User)))
        for n in range(count):
            subject = service.Subject("task", f"t{n}", "2027-05-14", link="http://x/taches/1")
            context = {"task": f"Rapport mensuel n°{n}", "due": "14/05/2027", "link": "http://x"}
            service.record(
                session=s, user=users[n % 100], kind="echeance", subject=subject, context=context
            )
    collector = Collector()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = Controller(collector, hostname="127.0.0.1", port=port)
    server.start()
    try:
        settings = Settings(
            smtp_host="127.0.0.1", smtp_port=server.server.sockets[0].getsockname()[1]
        )

        def run(step):
            with transaction(factory) as s:
                return step(s)

        t = time.perf_counter()
        sent = jobs.deliver_outbox(run, settings, "bench")
        elapsed = time.perf_counter() - t
    finally:
        server.stop()
    assert sent == count == collector.count, (sent, collector.count)
    print(f"mails: {count} delivered in {elapsed:.1f} s ({count / elapsed:.0f}/s)")
    return count / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help=f"PostgreSQL URL (schema {PG_SCHEMA} is recreated)")
    parser.add_argument("--timers", type=int, default=100_000)
    parser.add_argument("--processes", type=int, default=2, help="scheduler processes")
    parser.add_argument("--rate", type=float, default=100.0, help="timers due per second, phase 1")
    parser.add_argument("--lag-seconds", type=float, default=30.0, help="length of phase 1")
    parser.add_argument("--mails", type=int, default=10_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        url = args.postgres or f"sqlite:///{tmp}/bench.db"
        if args.postgres:
            print(f"WARNING: dropping and recreating schema {PG_SCHEMA}")
        p99, per_s = run_timers(url, args)
        mails = run_mails(url, args.mails)
    print(f"timer_lag_p99_s={p99:.2f} timers_per_s={per_s:.0f} mails_per_s={mails:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
