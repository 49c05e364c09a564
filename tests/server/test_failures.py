"""Faults under load, with the server run as in production (gunicorn, several workers) on a
real PostgreSQL: a worker killed with SIGKILL in the middle of completions, the database
server restarted. No completion may be lost or applied twice, every instance stays loadable,
and clients get clean JSON errors while the database is away."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select, text

from server.schema import upgrade
from tests.conftest import ROOT, _truncate, missing
from workflows.access import Actor
from workflows.accounts import service as accounts
from workflows.engine import runtime
from workflows.engine.db import make_engine, make_session_factory, transaction
from workflows.engine.deploy import deploy, read_files
from workflows.engine.models import Event, HumanTask, Instance
from workflows.referentiel import service as referentiel

ADMIN = Actor(login="admin", role="admin")
STEPS = {  # the marche_reserve path of the lifecycle: six user tasks
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
ROLES = {"acheteur": "buyer", "facilitateur": "facilitator", "coordinateur": "coordinator"}
RETRYABLE = (ConnectionError, http.client.HTTPException, TimeoutError, OSError)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Client:
    """A keep-alive HTTP client that reconnects after a broken connection."""

    def __init__(self, port: int, token: str):
        self.port, self.token, self.conn = port, token, None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def call(self, method: str, path: str, body=None) -> tuple[int, dict | list | None]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        try:
            self.conn.request(
                method, path, body=json.dumps(body) if body else None, headers=headers
            )
            response = self.conn.getresponse()
            raw = response.read()
        except RETRYABLE:
            self.conn.close()
            self.conn = None
            raise
        return response.status, json.loads(raw) if raw else None


def _prepare(url: str) -> tuple[dict[str, str], int, int]:
    engine = make_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        deploy(session=s, files=read_files([ROOT / "bpmn"]), actor="test")
        territory = referentiel.create_territory(session=s, actor=ADMIN, code="T", name="T")
        buyer = referentiel.create_organisation(
            session=s, actor=ADMIN, kind="acheteur", name="Ville"
        )
        tokens = {}
        for role, login in ROLES.items():
            accounts.create(
                session=s,
                login=login,
                role=role,
                password="mot-de-passe-solide-1",
                organisation_id=buyer.id if role == "acheteur" else None,
                territory_ids=[territory.id] if role != "acheteur" else [],
            )
            tokens[role] = accounts.create_token(session=s, login=login)[1]
        ids = territory.id, buyer.id
    engine.dispose()
    return tokens, *ids


def _serve(url: str, tmp_path: Path, workers: int = 2) -> tuple[subprocess.Popen, int, object]:
    port = _free_port()
    log = (tmp_path / "serve.log").open("w+b")
    env = {
        **os.environ,
        "CLAUSIER_DATABASE_URL": url,
        "CLAUSIER_SCHEDULER": "false",
        "CLAUSIER_LOG_LEVEL": "WARNING",
        "CLAUSIER_DEPLOY_ON_START": "false",
    }
    clausier = str(Path(sys.executable).parent / "clausier")
    command = [clausier, "serve", "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
    for _ in range(300):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return process, port, log
        except OSError:
            time.sleep(0.1)
    process.kill()
    log.seek(0)
    pytest.fail("le serveur n'a pas démarré : " + log.read().decode()[-3000:])


def _stop(process: subprocess.Popen, log) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    finally:
        log.close()


def _children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry))
    return found


def _register(client: Client, territory_id: int, buyer_id: int, reference: str) -> int:
    status, body = client.call(
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
    return body["instance_id"]


def _drive(clients: dict[str, Client], instance_id: int, outcome: dict) -> None:
    """Complete every task of one lifecycle, retrying through broken connections: a retried
    completion that had been applied answers 409/404, and the next task is read afresh."""
    buyer = clients["acheteur"]
    while True:
        try:
            status, instance = buyer.call("GET", f"/api/v1/instances/{instance_id}")
        except RETRYABLE:
            outcome["broken"] += 1
            time.sleep(0.2)
            continue
        if status == 503:
            time.sleep(0.2)
            continue
        assert status == 200, instance
        if instance["status"] == "completed":
            return
        task = instance["tasks"][0]
        client = clients[task["candidate_groups"][0]]
        try:
            status, body = client.call(
                "POST",
                f"/api/v1/tasks/{task['id']}/complete",
                {"data": STEPS[task["element_id"]]},
            )
        except RETRYABLE:
            outcome["broken"] += 1
            time.sleep(0.2)
            continue
        assert status in (200, 409, 404, 503), (status, body)
        outcome[status] += 1


def _wait_for(condition, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "la charge n'a pas progressé"
        time.sleep(0.01)


@pytest.fixture
def pg_url(pg_engine):
    _truncate(pg_engine)
    yield pg_engine.url.render_as_string(hide_password=False)
    pg_engine.dispose()  # its pooled connections may predate a restart of the server
    _truncate(pg_engine)


def _check_exactly_once(url: str, instance_ids: list[int]) -> None:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as s:
            for instance_id in instance_ids:
                instance = s.get(Instance, instance_id)
                assert instance.status == "completed", (instance_id, instance.status)
                runtime.restore(s, instance)  # loadable
                done = Counter(
                    s.scalars(
                        select(Event.element_id).where(
                            Event.instance_id == instance_id, Event.kind == "task.completed"
                        )
                    )
                )
                assert done == Counter(STEPS.keys()), (instance_id, done)  # each exactly once
                rows = s.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id))
                assert sorted(r.state for r in rows) == ["completed"] * len(STEPS)
    finally:
        engine.dispose()


def test_a_worker_killed_mid_completion_loses_nothing_and_applies_nothing_twice(pg_url, tmp_path):
    tokens, territory_id, buyer_id = _prepare(pg_url)
    process, port, log = _serve(pg_url, tmp_path)
    try:
        setup = Client(port, tokens["acheteur"])
        ids = [_register(setup, territory_id, buyer_id, f"K-{i}") for i in range(16)]
        setup.close()
        master = next(iter(_children(process.pid)))
        workers = _children(master)
        assert len(workers) == 2, workers
        outcome: Counter = Counter()
        errors: list[BaseException] = []

        def run(mine: list[int]) -> None:
            clients = {role: Client(port, token) for role, token in tokens.items()}
            try:
                for instance_id in mine:
                    _drive(clients, instance_id, outcome)
            except BaseException as exc:  # reported below
                errors.append(exc)
            finally:
                for client in clients.values():
                    client.close()

        threads = [threading.Thread(target=run, args=(ids[i::4],)) for i in range(4)]
        for thread in threads:
            thread.start()
        _wait_for(lambda: outcome[200] >= 30 or errors)  # in the middle of the load
        victim = sorted(workers)[0]
        os.kill(victim, signal.SIGKILL)
        for thread in threads:
            thread.join(timeout=180)
        assert not errors, errors
        assert outcome[200] >= len(ids) * len(STEPS) - outcome["broken"]
        replaced = _children(master)
        assert victim not in replaced and len(replaced) == 2  # gunicorn started another
    finally:
        _stop(process, log)
    _check_exactly_once(pg_url, ids)


def test_database_restart_under_load_gives_clean_errors_then_recovers(pg_url, tmp_path):
    pgbin = os.environ.get("CLAUSIER_TEST_PGBIN")
    if not pgbin:
        missing("CLAUSIER_TEST_PGBIN absent : lancez ./scripts/test")
    data = Path(os.environ["CLAUSIER_TEST_PGDATA"])
    tokens, territory_id, buyer_id = _prepare(pg_url)
    process, port, log = _serve(pg_url, tmp_path)
    try:
        setup = Client(port, tokens["acheteur"])
        ids = [_register(setup, territory_id, buyer_id, f"R-{i}") for i in range(8)]
        setup.close()
        outcome: Counter = Counter()
        statuses: Counter = Counter()
        errors: list[BaseException] = []
        stop = threading.Event()

        def run(mine: list[int]) -> None:
            clients = {role: Client(port, token) for role, token in tokens.items()}
            try:
                for instance_id in mine:
                    _drive(clients, instance_id, outcome)
            except BaseException as exc:
                errors.append(exc)
            finally:
                for client in clients.values():
                    client.close()

        def poll() -> None:  # a reader all along: 200, or a clean 503 while the server is away
            client = Client(port, tokens["facilitateur"])
            while not stop.is_set():
                try:
                    status, body = client.call("GET", "/api/v1/tasks?page_size=5")
                except RETRYABLE:
                    statuses["broken"] += 1
                    continue
                statuses[status] += 1
                if status != 200:
                    assert status == 503 and body["message"], body
                time.sleep(0.02)
            client.close()

        threads = [threading.Thread(target=run, args=(ids[i::2],)) for i in range(2)]
        reader = threading.Thread(target=poll)
        reader.start()
        for thread in threads:
            thread.start()
        _wait_for(lambda: outcome[200] >= 10 or errors)
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []
        pg_ctl = [f"{pgbin}/pg_ctl", "-D", str(data), "-l", str(data.parent / "log")]
        subprocess.run(  # the new server keeps its output: not a pipe, or run() waits forever
            [*as_postgres, *pg_ctl, "-m", "fast", "-w", "restart"],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )
        for thread in threads:
            thread.join(timeout=180)
        time.sleep(0.5)
        stop.set()
        reader.join(timeout=30)
        assert not errors, errors
        assert statuses[200] > 0 and statuses[500] == 0, statuses
        fresh = make_engine(pg_url)  # a new pool meets the restarted server
        try:
            with fresh.connect() as conn:
                assert conn.execute(text("SELECT 1")).scalar() == 1
        finally:
            fresh.dispose()
    finally:
        _stop(process, log)
    _check_exactly_once(pg_url, ids)
