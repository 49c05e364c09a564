"""Operations: request ids, structured logs, readiness and Prometheus metrics.

- Every request gets an id (the `X-Request-Id` header if the proxy sent a sane one, else a new
  one), echoed in the response and written on every log line of that request.
- `CLAUSIER_LOG_FORMAT=json` writes one JSON object per line (time, level, logger, message,
  request_id, exception); the default is readable text with the request id.
- `/readyz`: 200 when the database answers and its schema is at the latest migration, else 503
  with the failing check (`/healthz` only says the process answers).
- `/metrics` (Prometheus text format): request latency, tasks completed, instance errors, counted
  when their transaction commits, whatever the entry point; and, read from the database at each
  scrape, the timer lag (age of the oldest due timer not yet fired), the outbox backlog, open and
  overdue tasks, instances by status. Reachable from loopback, or anywhere with
  `Authorization: Bearer $CLAUSIER_METRICS_TOKEN`. Several gunicorn workers share their counters
  through `PROMETHEUS_MULTIPROC_DIR` (set by server/gunicorn_conf.py).
"""

from __future__ import annotations

import gc
import hmac
import json
import logging
import os
import re
import time
import uuid
from datetime import UTC, datetime

from flask import Blueprint, Flask, Response, current_app, g, has_request_context, jsonify, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from notifications.models import Notification
from workflows.engine import timers
from workflows.engine.models import Event, HumanTask, Instance, Timer

log = logging.getLogger("clausier.http")
blp = Blueprint("observability", __name__)
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
LOOPBACK = {"127.0.0.1", "::1"}

HTTP_LATENCY = Histogram(
    "clausier_http_request_duration_seconds",
    "Durée des requêtes HTTP",
    ["method", "endpoint", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
TASKS_COMPLETED = Counter("clausier_tasks_completed", "Tâches utilisateur terminées")
INSTANCE_ERRORS = Counter("clausier_instance_errors", "Instances passées en erreur")
COUNTED = {"task.completed": TASKS_COMPLETED, "instance.error": INSTANCE_ERRORS}


# -- logs ------------------------------------------------------------------------------------


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def tune_gc() -> None:
    """For a long-running process, once its code and app are loaded: what is loaded is moved out
    of the collector's reach (gc.freeze: no rescanning, and pages stay shared after a fork), and
    the young generation is collected every 20 000 allocations instead of 700 (a restored
    workflow allocates thousands of objects; measured: -9 % on a task completion's median)."""
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def configure_logging(fmt: str | None = None, level: str | None = None) -> None:
    """One handler on the root logger, text or JSON (CLAUSIER_LOG_FORMAT, CLAUSIER_LOG_LEVEL)."""
    fmt = (fmt or os.environ.get("CLAUSIER_LOG_FORMAT", "text")).lower()
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel((level or os.environ.get("CLAUSIER_LOG_LEVEL", "INFO")).upper())


# -- counters on commit ----------------------------------------------------------------------


@event.listens_for(Session, "after_flush")
def _seen(session: Session, _context) -> None:
    kinds = [o.kind for o in session.new if isinstance(o, Event) and o.kind in COUNTED]
    if kinds:
        session.info.setdefault("clausier.counted", []).extend(kinds)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    for kind in session.info.pop("clausier.counted", []):
        COUNTED[kind].inc()


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop("clausier.counted", None)


# -- requests --------------------------------------------------------------------------------


def _start_request() -> None:
    sent = request.headers.get("X-Request-Id", "")
    g.request_id = sent if REQUEST_ID.match(sent) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _end_request(response: Response) -> Response:
    response.headers["X-Request-Id"] = g.get("request_id", "-")
    started = g.get("request_started")
    if started is not None:
        elapsed = time.perf_counter() - started
        endpoint = request.url_rule.rule if request.url_rule else "inconnu"
        HTTP_LATENCY.labels(request.method, endpoint, str(response.status_code)).observe(elapsed)
        log.info(
            "%s %s %s %.1f ms", request.method, request.path, response.status_code, elapsed * 1000
        )
    return response


# -- readiness and metrics --------------------------------------------------------------------


def _session():
    return current_app.extensions["clausier.sessions"]()


@blp.get("/readyz")
def ready():
    """Prêt à servir : base joignable et schéma à jour."""
    from .schema import alembic_config

    checks: dict[str, str] = {}
    try:
        with _session() as s:
            s.execute(text("SELECT 1"))
            current = set(s.execute(text("SELECT version_num FROM alembic_version")).scalars())
        from alembic.script import ScriptDirectory

        heads = set(ScriptDirectory.from_config(alembic_config(None)).get_heads())
        checks["database"] = "ok"
        checks["schema"] = "ok" if current == heads else f"à migrer ({', '.join(sorted(current))})"
    except Exception as exc:  # any failure to reach the database means "not ready"
        log.warning("base de données injoignable : %s", exc)
        checks["database"] = "injoignable"
    ok = all(v == "ok" for v in checks.values())
    return jsonify(status="prêt" if ok else "indisponible", checks=checks), 200 if ok else 503


class DatabaseCollector:
    """Gauges read from the database at scrape time (true across every process)."""

    def __init__(self, factory):
        self.factory = factory

    def collect(self):
        now = timers.now()
        with self.factory() as s:
            oldest = s.scalar(select(func.min(Timer.due_at)).where(Timer.due_at <= now))
            backlog = s.scalar(
                select(func.count())
                .select_from(Notification)
                .where(Notification.status == "pending")
            )
            open_tasks = s.scalar(
                select(func.count()).select_from(HumanTask).where(HumanTask.state == "open")
            )
            overdue = s.scalar(
                select(func.count())
                .select_from(HumanTask)
                .where(HumanTask.state == "open", HumanTask.due_at < now)
            )
            statuses = s.execute(select(Instance.status, func.count()).group_by(Instance.status))
            by_status = {status: count for status, count in statuses}
        lag = (now - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "clausier_timer_lag_seconds", "Retard de la plus ancienne minuterie échue", lag
        )
        yield GaugeMetricFamily(
            "clausier_outbox_backlog", "Notifications en attente d'envoi", backlog or 0
        )
        yield GaugeMetricFamily("clausier_open_tasks", "Tâches à faire", open_tasks or 0)
        yield GaugeMetricFamily("clausier_overdue_tasks", "Tâches en retard", overdue or 0)
        family = GaugeMetricFamily("clausier_instances", "Instances par état", labels=["status"])
        for status, count in sorted(by_status.items()):
            family.add_metric([status], count)
        yield family


def _may_scrape() -> bool:
    token = os.environ.get("CLAUSIER_METRICS_TOKEN", "")
    if token:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(sent, token)
    return request.remote_addr in LOOPBACK


@blp.get("/metrics")
def metrics():
    if not _may_scrape():
        return jsonify(
            code="forbidden",
            status=403,
            message="Métriques réservées à la boucle locale ou au jeton CLAUSIER_METRICS_TOKEN.",
            errors={},
        ), 403
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        from prometheus_client import multiprocess

        process_registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(process_registry)
    else:
        process_registry = REGISTRY
    database = CollectorRegistry()
    database.register(DatabaseCollector(current_app.extensions["clausier.sessions"]))
    body = generate_latest(process_registry) + generate_latest(database)
    return Response(body, content_type=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    app.before_request(_start_request)
    app.after_request(_end_request)
    app.register_blueprint(blp)
