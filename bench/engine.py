"""Engine benchmark: one lifecycle workload, bare SpiffWorkflow vs our engine on SQLite/PostgreSQL.

    .venv/bin/python bench/engine.py [--lifecycles 30] [--warmup 3] [--postgres URL]

The workload is the `clause_et_critere` path of `marche_clause_sociale` (12 user tasks, 3 monthly
timers fired by moving a frozen clock). See bench/README.md for the meaning of every column.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import func, select, text

from server.schema import upgrade
from workflows.engine import runtime, timers
from workflows.engine.db import make_engine, make_session_factory, transaction
from workflows.engine.deploy import deploy, read_files
from workflows.engine.models import Event, HumanTask, Instance, Timer
from workflows.engine.parser import ClausierParser
from workflows.engine.sandbox import make_script_engine

BPMN_DIR = Path(__file__).resolve().parent.parent / "bpmn"
KEY = "marche_clause_sociale"
PG_SCHEMA = "clausier_bench"
START = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
TIMER = "<timer>"  # a step that moves the clock to `data` and fires the due timers
CLOCK = [START]

# Form data already typed as the forms would clean it, so both paths see the same task data.
STEPS: list[tuple[str, object]] = [
    (
        "analyse_amont",
        {
            "objet": "Réhabilitation du groupe scolaire Jean-Jaurès",
            "montant_estime_ht": 1_000_000.0,
            "duree_mois": 3,
            "nature": "travaux",
            "code_cpv": "45214200",
            "lieu_execution": "Créteil",
            "accord_cadre": False,
        },
    ),
    ("choisir_disposition", {"disposition": "clause_et_critere"}),
    ("calibrer_heures", {"heures_retenues": 800.0, "justification_calibrage": "Technicité"}),
    ("valider_calibrage", {"calibrage_valide": True}),
    (
        "rediger_consultation",
        {"reference_consultation": "2027-AO-12", "date_publication": "2027-01-10"},
    ),
    (
        "analyser_offres",
        {"analyse_critere": "Offre B la plus engagée", "ponderation_critere": 15.0},
    ),
    (
        "enregistrer_notification",
        {
            "titulaires": "BTP Val-de-Marne (SIRET 12345678900011)",
            "date_notification": "2027-02-01",
            "montant_final_ht": 980_000.0,
        },
    ),
    ("tenir_reunion_lancement", {"date_reunion": "2027-02-10"}),
]
for _month, _hours in enumerate([120.0, 95.5, 140.0], start=1):
    STEPS += [
        (TIMER, datetime(2027, 2 + _month, 1, 8, 0, 1, tzinfo=UTC)),
        ("saisir_rapport", {"heures_realisees_mois": _hours}),
    ]
STEPS.append(
    (
        "rediger_bilan",
        {"bilan_qualitatif": "Objectif atteint, deux CDI signés.", "sorties_durables": 2},
    )
)


class Broken(Exception):
    """The workload did not follow the expected path: the figures would be meaningless."""


def bare_serializer() -> BpmnWorkflowSerializer:
    """SpiffWorkflow's stock serializer (specs included), knowing our timers, dates, decimals."""
    config = dict(CAMUNDA_CONFIG)
    for original, ours in timers.REPLACEMENTS.items():
        config[ours] = config[original]
    registry = BpmnWorkflowSerializer.configure(config)
    registry.register(
        date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"])
    )
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]))
    return BpmnWorkflowSerializer(registry)


class Bare:
    """(a) SpiffWorkflow alone, in memory, with one serialize + deserialize per step."""

    def __init__(self) -> None:
        parser = ClausierParser()
        parser.add_dmn_files([str(p) for p in sorted(BPMN_DIR.glob("*.dmn"))])
        parser.add_bpmn_files([str(p) for p in sorted(BPMN_DIR.glob("*.bpmn"))])
        self.spec, self.subs = parser.get_spec(KEY), parser.get_subprocess_specs(KEY)
        self.script_engine = make_script_engine()
        self.serializer = bare_serializer()

    @staticmethod
    def advance(workflow: BpmnWorkflow) -> None:
        for _ in range(1000):
            workflow.do_engine_steps()
            if all(t.task_spec.manual for t in workflow.get_tasks(state=TaskState.READY)):
                return
        raise Broken("engine steps never settle")

    def lifecycle(self, latencies: list[float]) -> dict[str, int]:
        CLOCK[0] = START
        workflow = BpmnWorkflow(self.spec, self.subs, script_engine=self.script_engine)
        self.advance(workflow)
        state = self.serializer.serialize_json(workflow)
        for element, data in STEPS:
            began = time.perf_counter()
            workflow = self.serializer.deserialize_json(state)
            workflow.script_engine = self.script_engine
            if element == TIMER:
                CLOCK[0] = data
            else:
                ready = [
                    t
                    for t in workflow.get_tasks(state=TaskState.READY, manual=True)
                    if t.task_spec.bpmn_id == element
                ]
                if not ready:
                    raise Broken(f"bare: {element} is not ready")
                ready[0].data.update(data)
                ready[0].run()
            self.advance(workflow)
            state = self.serializer.serialize_json(workflow)
            if element != TIMER:
                latencies.append(time.perf_counter() - began)
        if not workflow.is_completed():
            raise Broken("bare: the workflow did not complete")
        return {"state": len(state)}


class Engine:
    """(b)/(c) our engine: one transaction per start, per completion, per timer firing."""

    def __init__(self, url: str, **kwargs) -> None:
        self.engine = make_engine(url, **kwargs)
        upgrade(self.engine)
        self.factory = make_session_factory(self.engine)
        with transaction(self.factory) as session:
            deploy(session=session, files=read_files([BPMN_DIR]), actor="bench")

    def lifecycle(self, latencies: list[float]) -> int:
        CLOCK[0] = START
        with transaction(self.factory) as session:
            instance_id = runtime.start(session=session, key=KEY, business_key="BENCH").id
        for element, data in STEPS:
            if element == TIMER:
                CLOCK[0] = data
                with transaction(self.factory) as session:
                    runtime.fire_timers(session=session, instance_id=instance_id)
                continue
            began = time.perf_counter()
            with transaction(self.factory) as session:
                task_id = session.scalars(
                    select(HumanTask.id).where(
                        HumanTask.instance_id == instance_id,
                        HumanTask.element_id == element,
                        HumanTask.state == "open",
                    )
                ).first()
                if task_id is None:
                    raise Broken(f"engine: {element} is not open")
                runtime.complete_task(session=session, task_id=task_id, data=data, actor="bench")
            latencies.append(time.perf_counter() - began)
        with transaction(self.factory) as session:
            instance = session.get(Instance, instance_id)
            if instance.status != "completed":
                raise Broken(f"engine: instance {instance.status}: {instance.error_message}")
        return instance_id

    def storage(self, ids: list[int]) -> dict[str, float]:
        """Per instance: state bytes, projection/audit row counts, and their approximate bytes."""
        n = len(ids)
        out: dict[str, float] = {}
        with transaction(self.factory) as session:
            out["state"] = (
                session.scalar(
                    select(func.sum(func.length(Instance.state))).where(Instance.id.in_(ids))
                )
                / n
            )
            rows_bytes = 0
            for model in (HumanTask, Timer, Event):
                rows = session.execute(select(model.__table__).where(model.instance_id.in_(ids)))
                rows = rows.all()
                out[model.__tablename__] = len(rows) / n
                rows_bytes += sum(len(str(v)) for row in rows for v in row if v is not None)
            out["rows"] = rows_bytes / n
        return out


def measure(lifecycle, n: int, warmup: int) -> dict:
    for _ in range(warmup):
        lifecycle([])
    latencies: list[float] = []
    began = time.perf_counter()
    results = [lifecycle(latencies) for _ in range(n)]
    wall = time.perf_counter() - began
    ms = sorted(x * 1000 for x in latencies)
    return {
        "n": n,
        "wall": wall,
        "lps": n / wall,
        "tps": len(ms) / wall,
        "done": len(ms),
        "p50": statistics.median(ms),
        "p95": statistics.quantiles(ms, n=20)[18],
        "results": results,
    }


def run_engine(url: str, n: int, warmup: int, **kwargs) -> dict:
    engine = Engine(url, **kwargs)
    try:
        figures = measure(engine.lifecycle, n, warmup)
        figures["storage"] = engine.storage(figures["results"])
    finally:
        engine.engine.dispose()
    return figures


def postgres(url: str, n: int, warmup: int) -> dict:
    shown = url.split("@")[-1]
    print(f"WARNING: dropping and recreating schema {PG_SCHEMA} in {shown} (benchmark database)")
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
    try:
        return run_engine(url, n, warmup, connect_args={"options": f"-c search_path={PG_SCHEMA}"})
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        admin.dispose()


def report(results: dict[str, dict | None]) -> str:
    head = (
        f"{'path':<9}{'lifecycles':>11}{'completions':>12}{'wall s':>8}{'lcycles/s':>10}"
        f"{'compl/s':>9}{'p50 ms':>8}{'p95 ms':>8}{'state B':>9}  rows/instance (≈bytes)"
    )
    print(head)
    print("-" * len(head) + "-" * 24)
    for name, r in results.items():
        if r is None:
            print(f"{name:<9}skipped (no --postgres URL or DATABASE_URL)")
            continue
        s = r.get("storage") or {"state": statistics.mean(x["state"] for x in r["results"])}
        rows = (
            f"human_task {s['human_task']:.0f}, timer {s['timer']:.0f}, event {s['event']:.0f}"
            f" (≈{s['rows']:.0f} B)"
            if "rows" in s
            else "n/a (in memory)"
        )
        print(
            f"{name:<9}{r['n']:>11}{r['done']:>12}{r['wall']:>8.2f}{r['lps']:>10.2f}"
            f"{r['tps']:>9.1f}{r['p50']:>8.2f}{r['p95']:>8.2f}{s['state']:>9.0f}  {rows}"
        )
    bare, lite, pg = results["bare"], results["sqlite"], results["postgres"]

    def fmt(r, key, digits=1):
        return "na" if r is None else f"{r[key]:.{digits}f}"

    ratio_pg = "na" if pg is None else f"{pg['tps'] / bare['tps']:.2f}"
    return (
        f"bare_tps={fmt(bare, 'tps')} sqlite_tps={fmt(lite, 'tps')} "
        f"postgres_tps={fmt(pg, 'tps')} ratio_sqlite={lite['tps'] / bare['tps']:.2f} "
        f"ratio_postgres={ratio_pg} bare_lps={fmt(bare, 'lps', 2)} "
        f"sqlite_lps={fmt(lite, 'lps', 2)} postgres_lps={fmt(pg, 'lps', 2)} "
        f"sqlite_p50_ms={fmt(lite, 'p50', 2)} sqlite_p95_ms={fmt(lite, 'p95', 2)} "
        f"postgres_p50_ms={fmt(pg, 'p50', 2)} postgres_p95_ms={fmt(pg, 'p95', 2)} "
        f"state_bytes={lite['storage']['state']:.0f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lifecycles", type=int, default=30, help="timed lifecycles per path")
    parser.add_argument("--warmup", type=int, default=3, help="untimed lifecycles first")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("DATABASE_URL") or os.environ.get("CLAUSIER_TEST_POSTGRES_URL"),
        help="PostgreSQL URL for benchmarking (schema clausier_bench is recreated)",
    )
    args = parser.parse_args(argv)
    if args.lifecycles < 2:
        parser.error("--lifecycles must be at least 2")
    pg_url = args.postgres if args.postgres and args.postgres.startswith("postgres") else None
    timers.set_clock(lambda: CLOCK[0])
    try:
        results: dict[str, dict | None] = {
            "bare": measure(Bare().lifecycle, args.lifecycles, args.warmup)
        }
        with tempfile.TemporaryDirectory(prefix="clausier-bench-") as tmp:
            results["sqlite"] = run_engine(
                f"sqlite:///{tmp}/bench.db", args.lifecycles, args.warmup
            )
        results["postgres"] = pg_url and postgres(pg_url, args.lifecycles, args.warmup)
    except Broken as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        timers.set_clock(None)
    if pg_url is None:
        print("postgres: skipped (no --postgres URL or DATABASE_URL)")
    print(
        f"workload: {KEY} / clause_et_critere, "
        f"{sum(e != TIMER for e, _ in STEPS)} user tasks + {sum(e == TIMER for e, _ in STEPS)}"
        f" timer firings per lifecycle; {args.warmup} warm-up lifecycles not counted"
    )
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
