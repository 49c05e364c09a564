"""Operations: request ids in responses and logs, JSON logs, readiness, Prometheus metrics,
and several gunicorn workers sharing one database and their metrics."""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
from flask import request
from sqlalchemy import text

from server.observability import configure_logging
from tests.conftest import ROOT
from tests.server.api.world import world_app
from tests.server.test_app import running_app
from workflows.engine import timers
from workflows.engine.models import Timer


def _metric(body: str, name: str) -> float:
    """Sum of the samples of `name` (all label sets)."""
    total = 0.0
    for line in body.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_request_id_is_echoed_or_made_and_written_in_json_logs(db, capsys, restore_logging):
    configure_logging("json", "INFO")
    with running_app(db) as app:
        client = app.test_client()
        sent = client.get("/healthz", headers={"X-Request-Id": "proxy-42"})
        assert sent.headers["X-Request-Id"] == "proxy-42"
        made = client.get("/healthz", headers={"X-Request-Id": "<script> et espaces"})
        assert made.headers["X-Request-Id"] != "<script> et espaces"
        assert len(made.headers["X-Request-Id"]) == 32
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    access = [entry for entry in lines if entry["logger"] == "clausier.http"]
    assert {e["request_id"] for e in access} >= {"proxy-42", made.headers["X-Request-Id"]}
    assert all({"time", "level", "message"} <= set(e) for e in access)
    assert any("GET /healthz 200" in e["message"] for e in access)


def test_readiness_says_when_the_schema_is_behind(db):
    with running_app(db) as app:
        client = app.test_client()
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.get_json()["checks"] == {"database": "ok", "schema": "ok"}
        with db.engine.begin() as conn:
            head = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            conn.execute(text("UPDATE alembic_version SET version_num = '0006_merge'"))
        try:
            behind = client.get("/readyz")
            assert behind.status_code == 503
            assert behind.get_json()["checks"]["schema"].startswith("à migrer")
        finally:
            with db.engine.begin() as conn:
                conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head})


def test_metrics_count_committed_completions_only_and_read_the_database(db, monkeypatch):
    with world_app(db) as (_app, client, w):
        buyer = w.auth("acheteur1")
        before = client.get("/metrics").get_data(as_text=True)
        refused = client.post(  # another organisation's task: refused, not counted
            f"/api/v1/tasks/{w.foreign.task_id}/complete", json={"data": {}}, headers=buyer
        )
        assert refused.status_code == 404
        data = {  # the upstream analysis of the lifecycle
            "objet": "Groupe scolaire",
            "nature": "travaux",
            "code_cpv": "45214200",
            "duree_mois": 3,
            "montant_estime_ht": 1_000_000,
            "lieu_execution": "Créteil",
        }
        done = client.post(
            f"/api/v1/tasks/{w.own.task_id}/complete", json={"data": data}, headers=buyer
        )
        assert done.status_code == 200, done.get_json()
        with db.factory() as s:  # a timer due an hour ago
            s.add(
                Timer(
                    id="00000000-0000-4000-8000-000000000001",
                    instance_id=w.own.committee_id,
                    element_id="t",
                    kind="date",
                    due_at=timers.now() - timedelta(hours=1),
                )
            )
            s.commit()
        after = client.get("/metrics").get_data(as_text=True)
        completed = "clausier_tasks_completed_total"
        assert _metric(after, completed) == _metric(before, completed) + 1
        assert 3500 < _metric(after, "clausier_timer_lag_seconds") < 3700
        assert _metric(after, "clausier_open_tasks") >= 1
        assert _metric(after, 'clausier_instances{status="running"}') >= 2
        assert _metric(after, "clausier_http_request_duration_seconds_count") >= 3
        # from elsewhere than loopback: only with the token
        elsewhere = {"REMOTE_ADDR": "10.1.2.3"}
        assert client.get("/metrics", environ_base=elsewhere).status_code == 403
        monkeypatch.setenv("CLAUSIER_METRICS_TOKEN", "jeton-metriques")
        assert client.get("/metrics", environ_base=elsewhere).status_code == 403
        ok = client.get(
            "/metrics",
            environ_base=elsewhere,
            headers={"Authorization": "Bearer jeton-metriques"},
        )
        assert ok.status_code == 200


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_gunicorn_workers_share_the_database_and_their_metrics(db, tmp_path):
    port = _free_port()
    log = (tmp_path / "serve.log").open("w+b")
    (tmp_path / "metrics").mkdir()
    env = {
        **os.environ,
        "CLAUSIER_DATABASE_URL": db.url,
        "CLAUSIER_SCHEDULER": "false",
        "CLAUSIER_LOG_LEVEL": "WARNING",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    clausier = str(Path(sys.executable).parent / "clausier")
    command = [clausier, "serve", "--port", str(port), "--workers", "2"]
    process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=log)
    try:
        for _ in range(300):
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/readyz")
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            log.seek(0)
            pytest.fail("gunicorn n'a pas démarré : " + log.read().decode()[-3000:])
        for _ in range(40):  # new connections: the two workers take turns
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/readyz")
            response = conn.getresponse()
            assert response.status == 200
            response.read()
            conn.close()
        served = [f for f in os.listdir(tmp_path / "metrics") if f.startswith("histogram_")]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
        assert _metric(body, "clausier_http_request_duration_seconds_count") >= 40
        conn.close()
        assert len(served) == 2, served  # both workers served and wrote, pooled in one scrape
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_behind_a_proxy_the_client_address_and_scheme_come_from_the_proxy(db):
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    with running_app(db) as app:  # without CLAUSIER_PROXY_HOPS the headers are not believed
        assert app.test_client().get("/metrics", headers=forwarded).status_code == 200
    with running_app(db, proxy_hops=1) as app:
        app.add_url_rule("/_vu", "seen", lambda: f"{request.scheme} {request.remote_addr}")
        client = app.test_client()
        assert client.get("/_vu", headers=forwarded).get_data(as_text=True) == "https 203.0.113.9"
        assert client.get("/metrics", headers=forwarded).status_code == 403  # not loopback
