"""WSGI entry point for gunicorn (see server/gunicorn_conf.py and docs/exploitation.md)."""

from .app import create_app
from .observability import configure_logging, tune_gc

configure_logging()
app = create_app()
tune_gc()  # in gunicorn's master, before the workers fork
