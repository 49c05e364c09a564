"""API benchmark: the REST API served by waitress (`clausier serve`) in a subprocess, over HTTP.

    .venv/bin/python bench/api.py [--marches 40] [--postgres URL] [--inbox-sizes 1000,100000]
                                  [--workers 1,2]

Workload: buyers register marchés (POST /api/v1/marches, untimed), then every task of the
`marche_reserve` path of the lifecycle is completed through POST /api/v1/tasks/{id}/complete
(6 tasks a marché: analyse, choice, consultation, notification, kickoff, bilan), each next task
id taken from the completion's response. Timed: the completions, with one client, then four
clients in threads (one keep-alive connection each). Then the inbox (GET /api/v1/tasks
?my_groups=true, first page of 50 with its total) with 1 000 and 100 000 instances stored
(bulk-inserted rows: marché + instance + open task), as a buyer and as a facilitator
(20 warm-up requests, then 400 timed). Last, the resident memory of each web process once it
has served the largest store.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, insert, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from server.schema import upgrade  # noqa: E402
from workflows.access import Actor  # noqa: E402
from workflows.accounts import service as accounts  # noqa: E402
from workflows.engine.db import make_engine, make_session_factory, transaction  # noqa: E402
from workflows.engine.deploy import deploy, read_files  # noqa: E402
from workflows.engine.models import HumanTask, Instance, ProcessDefinition  # noqa: E402
from workflows.marches.models import Marche  # noqa: E402
from workflows.referentiel import service as referentiel  # noqa: E402

ADMIN = Actor(login="bench", role="admin")
PASSWORD = "banc-d-essai-solide"
PG_SCHEMA = "clausier_api_bench"
STEPS = {
    "analyse_amont": {
        "objet": "Groupe scolaire",
        "nature": "travaux",
        "code_cpv": "45214200",
        "duree_mois": 3,
        "montant_estime_ht": 1_000_000,
        "lieu_execution": "Créteil",
    },
    "choisir_disposition": {
        "disposition": "marche_reserve",
        "type_reservation": "siae",
        "justification_disposition": "Structures locales prêtes",
    },
    "rediger_consultation": {"reference_consultation": "AO-12", "date_publication": "2027-01-10"},
    "enregistrer_notification": {
        "titulaires": "BTP Val-de-Marne (SIRET 51234567800019)",
        "date_notification": "2027-02-01",
        "montant_final_ht": 980_000,
    },
    "tenir_reunion_lancement": {"date_reunion": "2027-02-10"},
    "rediger_bilan": {"bilan_qualitatif": "Objectif atteint.", "sorties_durables": 2},
}
ROLE_OF = {"acheteur": "buyer", "facilitateur": "facilitator", "coordinateur": "coordinator"}


class Client:
    """One keep-alive HTTP connection with a personal token."""

    def __init__(self, port: int, token: str):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, body=None) -> tuple[int, object, dict]:
        data = json.dumps(body).encode() if body is not None else None
        try:
            self.conn.request(method, path, body=data, headers=self.headers)
        except (BrokenPipeError, ConnectionResetError):  # idle connection closed: not sent
            self.conn.close()
            self.conn.request(method, path, body=data, headers=self.headers)
        response = self.conn.getresponse()
        raw = response.read()
        return response.status, json.loads(raw) if raw else None, dict(response.getheaders())


def prepare(url: str) -> tuple[dict[str, str], int, int]:
    """Schema, diagrams, one territory and buyer, accounts with tokens."""
    engine = make_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        deploy(session=s, files=read_files([ROOT / "bpmn"]), actor="bench")
        territory = referentiel.create_territory(session=s, actor=ADMIN, code="BENCH", name="Banc")
        buyer = referentiel.create_organisation(
            session=s, actor=ADMIN, kind="acheteur", name="Ville du banc"
        )
        tokens = {}
        for role, name in ROLE_OF.items():
            accounts.create(
                session=s,
                login=name,
                role=role,
                password=PASSWORD,
                organisation_id=buyer.id if role == "acheteur" else None,
                territory_ids=[territory.id] if role != "acheteur" else [],
            )
            tokens[role] = accounts.create_token(session=s, login=name)[1]
        ids = territory.id, buyer.id
    engine.dispose()
    return tokens, *ids


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(url: str, workers: int = 1) -> tuple[subprocess.Popen, int]:
    port = free_port()
    env = {
        **os.environ,
        "CLAUSIER_DATABASE_URL": url,
        "CLAUSIER_DEPLOY_ON_START": "false",
        "CLAUSIER_LOG_LEVEL": "WARNING",  # no access log line per request
    }
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "clausier"),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    for _ in range(300):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    log.seek(0)
    raise SystemExit("le serveur n'a pas démarré : " + log.read().decode()[-2000:])


def register(client: Client, territory_id: int, buyer_id: int, reference: str) -> list[dict]:
    """POST a marché; returns its open tasks."""
    status, body, _ = client.call(
        "POST",
        "/api/v1/marches",
        {
            "reference": reference,
            "subject": "Groupe scolaire",
            "buyer_id": buyer_id,
            "territory_id": territory_id,
            "nature": "travaux",
            "cpv_code": "45214200",
            "estimated_amount_ht": "1000000",
            "duration_months": 3,
        },
    )
    assert status == 201, body
    status, instance, _ = client.call("GET", f"/api/v1/instances/{body['instance_id']}")
    return instance["tasks"]


def run_lifecycles(clients: dict[str, Client], first_tasks: list[list[dict]]) -> list[float]:
    """Complete every task of each marché; returns the completion latencies (s)."""
    latencies = []
    for tasks in first_tasks:
        while tasks:
            task = tasks[0]
            group = task["candidate_groups"][0]
            start = time.perf_counter()
            status, body, _ = clients[group].call(
                "POST", f"/api/v1/tasks/{task['id']}/complete", {"data": STEPS[task["element_id"]]}
            )
            latencies.append(time.perf_counter() - start)
            assert status == 200, (task["element_id"], body)
            tasks = body["tasks"]
        assert body["status"] == "completed", body
    return latencies


def lifecycle_round(port, tokens, ids, n_marches: int, n_clients: int, tag: str):
    """n_clients threads, each registering then completing n_marches // n_clients marchés."""
    per_client = max(1, n_marches // n_clients)
    sessions = [{g: Client(port, t) for g, t in tokens.items()} for _ in range(n_clients)]
    work = [
        [register(c["acheteur"], *ids, f"{tag}-{i}-{k}") for k in range(per_client)]
        for i, c in enumerate(sessions)
    ]
    results: list[list[float]] = [[] for _ in range(n_clients)]
    threads = [
        threading.Thread(target=lambda i=i: results[i].extend(run_lifecycles(sessions[i], work[i])))
        for i in range(n_clients)
    ]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    latencies = [x for r in results for x in r]
    assert len(latencies) == per_client * n_clients * len(STEPS), "lifecycle incomplete"
    return len(latencies) / wall, latencies


def seed_inbox(url: str, target: int, territory_id: int, buyer_id: int) -> None:
    """Bulk-insert marché + instance + open task rows until `target` instances are stored;
    one instance in 20 belongs to the bench buyer, the others to 19 other organisations."""
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        have = s.scalar(select(func.count()).select_from(Instance))
        if have >= target:
            return
        template = s.scalars(select(Instance).order_by(Instance.id).limit(1)).one()
        definition_id = s.scalar(
            select(ProcessDefinition.id).where(ProcessDefinition.key == "marche_clause_sociale")
        )
        others = [
            referentiel.create_organisation(
                session=s, actor=ADMIN, kind="acheteur", name=f"Autre {i} {target}"
            ).id
            for i in range(19)
        ]
        state, version = template.state, template.serializer_version
        next_id = (s.scalar(select(func.max(Instance.id))) or 0) + 1
    now = datetime.now(UTC)
    batch = 5000
    for first in range(next_id, next_id + target - have, batch):
        ids = range(first, min(first + batch, next_id + target - have))
        with transaction(factory) as s:
            s.execute(
                insert(Instance),
                [
                    {
                        "id": i,
                        "definition_id": definition_id,
                        "business_key": f"SEED-{i}",
                        "buyer_id": buyer_id if i % 20 == 0 else others[i % 19],
                        "territory_id": territory_id,
                        "status": "running",
                        "state": state,
                        "serializer_version": version,
                        "started_at": now,
                        "updated_at": now,
                        "lock_version": 1,
                    }
                    for i in ids
                ],
            )
            s.execute(
                insert(HumanTask),
                [
                    {
                        "id": f"00000000-0000-4000-8000-{i:012d}",
                        "instance_id": i,
                        "process_key": "marche_clause_sociale",
                        "element_id": "analyse_amont",
                        "name": "Analyse amont",
                        "lane": "Acheteur",
                        "candidate_groups": ["acheteur"],
                        "candidate_users": [],
                        "candidates": "|acheteur|",
                        "due_at": now + timedelta(days=i % 60),
                        "form": {},
                        "properties": {},
                        "state": "open",
                        "created_at": now,
                        "buyer_id": buyer_id if i % 20 == 0 else others[i % 19],
                        "territory_id": territory_id,
                    }
                    for i in ids
                ],
            )
            s.execute(
                insert(Marche),
                [
                    {
                        "reference": f"SEED-{i}",
                        "subject": "Marché d'amorçage",
                        "buyer_id": buyer_id if i % 20 == 0 else others[i % 19],
                        "territory_id": territory_id,
                        "nature": "travaux",
                        "cpv_code": "45214200",
                        "estimated_amount_ht": 100000,
                        "duration_months": 12,
                        "phase": "analyse",
                        "instance_id": i,
                        "created_at": now,
                    }
                    for i in ids
                ],
            )
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            # the instance ids were given explicitly: move the sequence past them, or the next
            # marché registered would collide with a seeded instance (a 409 "doublon")
            conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('instance', 'id'), "
                    "(SELECT max(id) FROM instance))"
                )
            )
        conn.execute(text("ANALYZE"))
    engine.dispose()


INBOX = {  # a buyer's "offered to me" inbox; a facilitator's whole territory, by due date
    "acheteur": "/api/v1/tasks?my_groups=true&page_size=50",
    "facilitateur": "/api/v1/tasks?page_size=50&sort=due",
}


def inbox_p95(port: int, token: str, path: str, requests: int = 400) -> tuple[float, float, int]:
    client = Client(port, token)
    for _ in range(20):  # warm-up: connection, caches, the database's pages
        client.call("GET", path)
    latencies, total = [], 0
    for _ in range(requests):
        start = time.perf_counter()
        status, body, headers = client.call("GET", path)
        latencies.append(time.perf_counter() - start)
        assert status == 200, body
        total = int(headers["X-Total-Count"])
    latencies.sort()
    return statistics.median(latencies) * 1000, latencies[int(len(latencies) * 0.95)] * 1000, total


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def web_workers(process: subprocess.Popen, workers: int) -> list[int]:
    """The processes serving requests: the waitress process, or gunicorn's workers."""
    if workers == 1:
        return [process.pid]
    return [w for master in _children(process.pid) for w in _children(master)]


def completions(port, tokens, ids, n_marches: int, tag: str) -> dict:
    tps1, lat1 = lifecycle_round(port, tokens, ids, n_marches, 1, f"{tag}-one")
    tps4, lat4 = lifecycle_round(port, tokens, ids, n_marches, 4, f"{tag}-four")
    q1, q4 = statistics.quantiles(lat1, n=20), statistics.quantiles(lat4, n=20)
    return {
        "tps_1client": tps1,
        "p50_ms": statistics.median(lat1) * 1000,
        "p95_ms": q1[18] * 1000,
        "tps_4clients": tps4,
        "p50_4_ms": statistics.median(lat4) * 1000,
        "p95_4_ms": q4[18] * 1000,
        "completions": len(lat1) + len(lat4),
    }


def bench_database(
    name: str, url: str, n_marches: int, inbox_sizes: list[int], workers: list[int]
) -> dict:
    tokens, territory_id, buyer_id = prepare(url)
    ids = (territory_id, buyer_id)
    figures: dict = {}
    for count in workers:  # completions through 1 process (waitress) or gunicorn workers
        process, port = start_server(url, count)
        try:
            lifecycle_round(port, tokens, ids, 4, 1, f"warm{count}")
            figures[f"workers{count}"] = completions(port, tokens, ids, n_marches, f"w{count}")
        finally:
            process.terminate()
            process.wait(timeout=60)
    figures.update(figures[f"workers{workers[0]}"])
    process, port = start_server(url, 1)
    try:
        for size in inbox_sizes:
            seed_inbox(url, size, territory_id, buyer_id)
            for role in ("acheteur", "facilitateur"):
                p50, p95, total = inbox_p95(port, tokens[role], INBOX[role])
                figures[f"inbox_{role}_{size}"] = (p50, p95, total)
    finally:
        process.terminate()
        process.wait(timeout=60)
    count = max(workers)  # memory of each worker once it has served the largest store
    process, port = start_server(url, count)
    try:
        for _ in range(count * 2):  # new connections: every worker serves its share
            for role in ("acheteur", "facilitateur"):
                inbox_p95(port, tokens[role], INBOX[role], requests=25)
                inbox_p95(port, tokens[role], "/api/v1/instances?page_size=100", requests=5)
        figures["rss_mb"] = max(_rss_mb(pid) for pid in web_workers(process, count))
        figures["rss_workers"] = count
    finally:
        process.terminate()
        process.wait(timeout=60)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--marches", type=int, default=40, help="marchés per round (6 tasks each)")
    parser.add_argument("--postgres", help=f"PostgreSQL URL (schema {PG_SCHEMA} is recreated)")
    parser.add_argument("--inbox-sizes", default="1000,100000")
    parser.add_argument("--workers", default="1,2", help="web processes to compare (1 = waitress)")
    args = parser.parse_args(argv)
    workers = [int(x) for x in args.workers.split(",") if x]
    sizes = [int(x) for x in args.inbox_sizes.split(",") if x]
    workdir = Path(tempfile.mkdtemp(prefix="clausier-api-bench-"))
    urls = {"sqlite": f"sqlite:///{workdir / 'bench.db'}"}
    if args.postgres:
        engine = make_engine(args.postgres)
        with engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
        engine.dispose()
        sep = "&" if "?" in args.postgres else "?"
        urls["postgres"] = f"{args.postgres}{sep}options=-csearch_path%3D{PG_SCHEMA}"
    results = {}
    try:
        for name, url in urls.items():
            results[name] = bench_database(name, url, args.marches, sizes, workers)
            report(name, results[name], sizes, workers)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    main_db = results["sqlite"]
    small, large = min(sizes), max(sizes)
    p95_large = main_db[f"inbox_acheteur_{large}"][1]
    print(
        f"tps_1client={main_db['tps_1client']:.0f} p50_ms={main_db['p50_ms']:.1f} "
        f"p95_ms={main_db['p95_ms']:.1f} tps_4clients={main_db['tps_4clients']:.0f} "
        f"inbox_p95_ms_100k={p95_large:.1f} "
        f"inbox_ratio_100k_1k={p95_large / main_db[f'inbox_acheteur_{small}'][1]:.2f} "
        f"rss_mb={max(r['rss_mb'] for r in results.values()):.0f}"
        + "".join(
            f" tps_4clients_{count}workers={main_db[f'workers{count}']['tps_4clients']:.0f}"
            for count in workers[1:]
        )
    )
    return 0


def report(name: str, f: dict, sizes: list[int], workers: list[int]) -> None:
    for count in workers:
        w = f[f"workers{count}"]
        print(
            f"{name:<9} workers={count} tps_1client={w['tps_1client']:.0f} "
            f"p50={w['p50_ms']:.1f}ms p95={w['p95_ms']:.1f}ms | "
            f"tps_4clients={w['tps_4clients']:.0f} p50={w['p50_4_ms']:.1f}ms "
            f"p95={w['p95_4_ms']:.1f}ms ({w['completions']} completions)"
        )
    for size in sizes:
        for role in ("acheteur", "facilitateur"):
            p50, p95, total = f[f"inbox_{role}_{size}"]
            print(
                f"{'':<9} inbox {role:<12} {size:>7} instances: p50={p50:.1f}ms "
                f"p95={p95:.1f}ms (total {total})"
            )
    print(f"{'':<9} RSS per web process ({f['rss_workers']} workers): {f['rss_mb']:.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
