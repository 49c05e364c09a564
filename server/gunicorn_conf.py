"""gunicorn settings: `gunicorn -c python:server.gunicorn_conf server.wsgi:app`.

The app is loaded once in the master (migrations and deployment run once, not per worker), then
each worker drops the inherited database connections. Metrics of all workers are pooled in
PROMETHEUS_MULTIPROC_DIR. Timers and notifications run in `clausier scheduler` processes, not in
the workers (CLAUSIER_SCHEDULER is ignored here). Settings from the environment:
CLAUSIER_BIND (127.0.0.1:8000), CLAUSIER_WORKERS (2), CLAUSIER_THREADS (4).
"""

import os
import shutil
import tempfile

bind = os.environ.get("CLAUSIER_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("CLAUSIER_WORKERS", "2"))
threads = int(os.environ.get("CLAUSIER_THREADS", "4"))
worker_class = "gthread"
preload_app = True
timeout = 60
keepalive = 30  # seconds an idle keep-alive connection stays open (API clients, the proxy)
graceful_timeout = 30
forwarded_allow_ips = os.environ.get("CLAUSIER_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = None  # the app logs each request with its request id

if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="clausier-metrics-")
else:  # stale files of a previous run would add up
    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)


def post_fork(server, worker):
    from server.wsgi import app

    app.extensions["clausier.engine"].dispose(close=False)  # connections belong to the master


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
