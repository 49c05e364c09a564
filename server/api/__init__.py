"""REST API under /api/v1 (flask-smorest): one blueprint per resource, OpenAPI 3 document.

Every view runs inside `unit_of_work`: it gets the request's session and authenticated actor,
calls one service, and the transaction is committed once, at the top, before the response.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import flask_smorest
from flask import Flask, request
from flask_smorest import Api

from .. import errors
from ..auth import current_actor, db

PREFIX = "/api/v1"


class ClausierApi(Api):
    """flask-smorest's Api with our JSON errors (French by default)."""

    def handle_http_exception(self, error):
        return errors.json_error(error)


def unit_of_work(view: Callable) -> Callable:
    """Give the view `session` and `actor`; commit once when it returns."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        session = db()
        result = view(*args, session=session, actor=current_actor(), **kwargs)
        session.commit()
        return result

    return wrapper


def if_match() -> int | None:
    """The lock_version a client sends in If-Match (`"3"` or `3`), or None."""
    value = request.headers.get("If-Match")
    if not value or value.strip() == "*":
        return None
    try:
        return int(value.strip().removeprefix("W/").strip('"'))
    except ValueError:
        return -1  # never a version: answered 412


def etag(version: int) -> dict[str, str]:
    return {"ETag": f'"{version}"'}


def init_app(app: Flask) -> None:
    """Register the API blueprints and the OpenAPI document (/api/v1/openapi.json)."""
    app.config.update(
        API_TITLE="Clausier",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX=PREFIX,
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "components": {
                "securitySchemes": {
                    "bearer": {"type": "http", "scheme": "bearer"},
                    "basic": {"type": "http", "scheme": "basic"},
                }
            },
            "security": [{"bearer": []}, {"basic": []}],
            "info": {"description": "API REST de Clausier : processus, tâches, marchés."},
        },
    )
    api = ClausierApi(app)
    from . import definitions, docs, instances, marches, messages, people, reports, tasks

    for module in (definitions, instances, tasks, marches, people, reports, messages):
        api.register_blueprint(module.blp)
    app.register_blueprint(docs.blp)


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint with the total count in an `X-Total-Count` header."""

    PAGINATION_HEADER_NAME = "X-Total-Count"

    def _set_pagination_metadata(self, page_params, result, headers):
        headers = headers or {}
        headers["X-Total-Count"] = str(page_params.item_count)
        return result, headers

    def _document_pagination_metadata(self, spec, resp_doc):
        resp_doc.setdefault("headers", {})["X-Total-Count"] = {
            "description": "Nombre total d'éléments (toutes pages)",
            "schema": {"type": "integer", "minimum": 0},
        }
