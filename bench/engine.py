"""Engine benchmark: one lifecycle workload, bare SpiffWorkflow vs our engine on SQLite/PostgreSQL.

    .venv/bin/python bench/engine.py [--lifecycles 30] [--warmup 3] [--postgres URL]

Workload: the `clause_et_critere` path of `marche_clause_sociale` (12 user tasks, 3 monthly
timers fired by moving a frozen clock). Column meanings: bench/README.md.
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
KEY, PG_SCHEMA, TIMER = "marche_clause_sociale", "clausier_bench", "<timer>"
START = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
CLOCK = [START]  # the frozen engine clock; a TIMER step moves it to the step's datetime
ANALYSE = {"objet": "Groupe scolaire", "nature": "travaux", "code_cpv": "45214200", "duree_mois": 3}
ANALYSE |= {"montant_estime_ht": 1e6, "lieu_execution": "Créteil", "accord_cadre": False}
NOTIFICATION = {"titulaires": "BTP", "date_notification": "2027-02-01", "montant_final_ht": 980e3}
# Typed as the forms clean it (same task data on every path), in the order the tasks open.
STEPS: list[tuple[str, object]] = [
    ("analyse_amont", ANALYSE),
    ("choisir_disposition", {"disposition": "clause_et_critere"}),
    ("calibrer_heures", {"heures_retenues": 800.0, "justification_calibrage": "Technicité"}),
    ("valider_calibrage", {"calibrage_valide": True}),
    ("rediger_consultation", {"reference_consultation": "AO-12", "date_publication": "2027-01-10"}),
    ("analyser_offres", {"analyse_critere": "Offre B engagée", "ponderation_critere": 15.0}),
    ("enregistrer_notification", NOTIFICATION),
    ("tenir_reunion_lancement", {"date_reunion": "2027-02-10"}),
    ("rediger_bilan", {"bilan_qualitatif": "Objectif atteint.", "sorties_durables": 2}),
]
for _month, _hours in ((3, 120.0), (4, 95.5), (5, 140.0)):  # a monthly report after each timer
    STEPS.insert(-1, (TIMER, datetime(2027, _month, 1, 8, 0, 1, tzinfo=UTC)))
    STEPS.insert(-1, ("saisir_rapport", {"heures_realisees_mois": _hours}))
OPEN_TASK = select(HumanTask.id).where(HumanTask.state == "open")


class Broken(Exception):
    """The workload left the expected path: its figures would be meaningless."""


def settle(workflow: BpmnWorkflow) -> None:
    """Run engine steps (firing due timers) until only user tasks or future timers remain."""
    for _ in range(1000):
        workflow.do_engine_steps()
        if all(t.task_spec.manual for t in workflow.get_tasks(state=TaskState.READY)):
            return
    raise Broken("engine steps never settle")


class Bare:
    """(a) SpiffWorkflow alone, in memory, with one stock serialize + deserialize per step."""

    def __init__(self) -> None:
        parser = ClausierParser()
        parser.add_dmn_files([str(p) for p in sorted(BPMN_DIR.glob("*.dmn"))])
        parser.add_bpmn_files([str(p) for p in sorted(BPMN_DIR.glob("*.bpmn"))])
        self.spec, self.subs = parser.get_spec(KEY), parser.get_subprocess_specs(KEY)
        self.script_engine = make_script_engine()
        config = dict(CAMUNDA_CONFIG)  # as workflows/engine/serializer.py, but specs included
        config.update({ours: config[base] for base, ours in timers.REPLACEMENTS.items()})
        registry = BpmnWorkflowSerializer.configure(config)
        for kind, load in ((date, date.fromisoformat), (Decimal, Decimal)):
            registry.register(kind, lambda v: {"value": str(v)}, lambda v, f=load: f(v["value"]))
        self.serializer = BpmnWorkflowSerializer(registry)

    def lifecycle(self, latencies: list[float]) -> int:
        CLOCK[0] = START
        workflow = BpmnWorkflow(self.spec, self.subs, script_engine=self.script_engine)
        settle(workflow)
        state = self.serializer.serialize_json(workflow)
        for element, data in STEPS:
            began = time.perf_counter()
            workflow = self.serializer.deserialize_json(state)
            workflow.script_engine = self.script_engine
            if element == TIMER:
                CLOCK[0] = data
            else:
                ready = workflow.get_tasks(state=TaskState.READY, manual=True, spec_name=element)
                if not ready:
                    raise Broken(f"bare: {element} is not ready")
                ready[0].data.update(data)
                ready[0].run()
            settle(workflow)
            state = self.serializer.serialize_json(workflow)
            if element != TIMER:
                latencies.append(time.perf_counter() - began)
        if not workflow.is_completed():
            raise Broken("bare: the workflow did not complete")
        return len(state)


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
                query = OPEN_TASK.filter_by(instance_id=instance_id, element_id=element)
                task_id = session.scalar(query)
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
        """Per instance: state bytes, human_task/timer/event rows and their ≈ bytes (str())."""
        with transaction(self.factory) as session:
            query = select(func.sum(func.length(Instance.state))).where(Instance.id.in_(ids))
            out = {"state": session.scalar(query) / len(ids), "rows": 0.0}
            for model in (HumanTask, Timer, Event):
                table = model.__table__
                rows = session.execute(select(table).where(table.c.instance_id.in_(ids))).all()
                out[table.name] = len(rows) / len(ids)
                out["rows"] += sum(len(str(v)) for r in rows for v in r if v is not None) / len(ids)
        return out


def measure(paths: dict, n: int, warmup: int) -> dict[str, dict]:
    """Warm each path up, then time n lifecycles of each, interleaved so load drift hits all alike.

    Latencies are those of the user task completions; wall time sums each path's lifecycles.
    """
    for lifecycle in paths.values():
        for _ in range(warmup):
            lifecycle([])
    runs = {name: {"wall": 0.0, "latencies": [], "results": []} for name in paths}
    for _ in range(n):
        for name, lifecycle in paths.items():
            run, began = runs[name], time.perf_counter()
            run["results"].append(lifecycle(run["latencies"]))
            run["wall"] += time.perf_counter() - began
    for run in runs.values():
        ms, wall = [x * 1000 for x in run.pop("latencies")], run["wall"]
        run.update(n=n, done=len(ms), lps=n / wall, tps=len(ms) / wall, p50=statistics.median(ms))
        run["p95"] = statistics.quantiles(ms, n=20)[18]
    return runs


def pg_schema(url: str, *, create: bool) -> None:
    """Drop the benchmark's own schema (never `public`), and create it again if asked."""
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
        if create:
            conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
    admin.dispose()


COLUMNS = (
    "n:lifecycles,done:completions,wall:wall s,lps:lcycles/s,tps:compl/s,p50:p50 ms,p95:p95 ms"
)
SUMMARY = (
    "bare_tps sqlite_tps postgres_tps ratio_sqlite ratio_postgres bare_lps sqlite_lps postgres_lps "
    "sqlite_p50_ms sqlite_p95_ms postgres_p50_ms postgres_p95_ms"
).split()


def report(results: dict[str, dict | None]) -> str:
    """Print the table; return the summary line."""
    columns = [c.split(":") for c in COLUMNS.split(",")]
    heads = [h for _, h in columns] + ["state B"]
    print(f"{'path':<9}" + "".join(f"{h:>12}" for h in heads) + "  rows/instance (≈bytes)")
    for name, r in results.items():
        if r is None:
            print(f"{name:<9}skipped (no --postgres URL or DATABASE_URL)")
            continue
        s = r["storage"]
        cells = [f"{r[k]:.2f}" if isinstance(r[k], float) else r[k] for k, _ in columns]
        rows = "n/a (in memory; state = stock JSON, specs included)"
        if "rows" in s:
            rows = f"human_task {s['human_task']:.0f}, timer {s['timer']:.0f}, "
            rows += f"event {s['event']:.0f} (≈{s['rows']:.0f} B)"
        print(f"{name:<9}" + "".join(f"{c:>12}" for c in [*cells, round(s["state"])]) + "  " + rows)

    def value(key: str) -> float | None:
        name, metric = key.split("_")[:2]
        if name == "ratio":
            r = results[metric]
            return r and r["tps"] / results["bare"]["tps"]
        return results[name] and results[name][metric]

    pairs = [(k, value(k)) for k in SUMMARY]
    line = " ".join(f"{k}={'na' if v is None else f'{v:.2f}'}" for k, v in pairs)
    return line + f" state_bytes={round(results['sqlite']['storage']['state'])}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lifecycles", type=int, default=30, help="timed lifecycles per path")
    parser.add_argument("--warmup", type=int, default=3, help="untimed lifecycles first")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("DATABASE_URL") or os.environ.get("CLAUSIER_TEST_POSTGRES_URL"),
        help=f"PostgreSQL URL for benchmarking (schema {PG_SCHEMA} is dropped and recreated)",
    )
    args = parser.parse_args(argv)
    if args.lifecycles < 2:
        parser.error("--lifecycles must be at least 2")
    pg_url = args.postgres if (args.postgres or "").startswith("postgres") else None
    timers.set_clock(lambda: CLOCK[0])
    engines: dict[str, Engine] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="clausier-bench-") as tmp:
            engines["sqlite"] = Engine(f"sqlite:///{tmp}/bench.db")
            if pg_url:
                where = pg_url.rsplit("@", 1)[-1]  # no password in the output
                print(f"WARNING: dropping and recreating schema {PG_SCHEMA} in {where}")
                pg_schema(pg_url, create=True)
                options = {"options": f"-c search_path={PG_SCHEMA}"}
                engines["postgres"] = Engine(pg_url, connect_args=options)
            paths = {"bare": Bare().lifecycle} | {k: e.lifecycle for k, e in engines.items()}
            results: dict[str, dict | None] = measure(paths, args.lifecycles, args.warmup)
            results["bare"]["storage"] = {"state": statistics.mean(results["bare"]["results"])}
            for name, engine in engines.items():
                results[name]["storage"] = engine.storage(results[name]["results"])
    except Broken as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        timers.set_clock(None)
        for engine in engines.values():
            engine.engine.dispose()
        if "postgres" in engines:
            pg_schema(pg_url, create=False)
    results.setdefault("postgres", None)
    if pg_url is None:
        print("postgres: skipped (no --postgres URL or DATABASE_URL)")
    tasks = sum(e != TIMER for e, _ in STEPS)
    print(
        f"workload: {KEY} / clause_et_critere, {tasks} user tasks + {len(STEPS) - tasks} timer "
        f"firings per lifecycle; {args.warmup} warm-up lifecycles not counted, paths interleaved\n"
    )
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
