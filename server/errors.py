"""Every error as JSON `{code, status, message, errors}`, in French unless the client asks English.

Domain errors (EngineError subclasses) carry their own status and French message; framework
messages (marshmallow's field messages, HTTP reasons) are translated here in one table.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from flask import request
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from workflows.engine.errors import DiagramError, EngineError, StaleInstance

log = logging.getLogger(__name__)

MESSAGES_FR = {
    400: "Requête invalide.",
    401: "Authentification requise.",
    403: "Accès refusé.",
    404: "Introuvable.",
    405: "Méthode non autorisée.",
    409: "Conflit : l'objet a changé entre-temps.",
    412: "Précondition échouée : la version (If-Match) ne correspond plus ; rechargez.",
    413: "Requête trop volumineuse.",
    415: "Type de contenu non pris en charge.",
    422: "Données invalides.",
    428: "En-tête If-Match requis.",
    429: "Trop de requêtes : réessayez plus tard.",
    500: "Erreur interne.",
    501: "Non disponible.",
    503: "Service momentanément indisponible : réessayez plus tard.",
}

FIELD_FR = {
    "Missing data for required field.": "Champ obligatoire manquant.",
    "Field may not be null.": "Ce champ ne peut pas être nul.",
    "Unknown field.": "Champ inconnu.",
    "Not a valid integer.": "Nombre entier invalide.",
    "Not a valid number.": "Nombre invalide.",
    "Not a valid string.": "Texte invalide.",
    "Not a valid boolean.": "Booléen invalide.",
    "Not a valid datetime.": "Date et heure invalides.",
    "Not a valid date.": "Date invalide.",
    "Not a valid mapping type.": "Objet attendu.",
    "Not a valid list.": "Liste attendue.",
    "Invalid input type.": "Type de donnée invalide.",
    "Invalid value.": "Valeur invalide.",
    "Invalid JSON body.": "Corps JSON invalide.",
    "Shorter than minimum length 1.": "Ne peut pas être vide.",
    "Number too large.": "Nombre trop grand.",
    "Special numeric values (nan or infinity) are not permitted.": "Nombre fini attendu.",
}
PREFIX_FR = {
    "Must be one of: ": "Valeurs possibles : ",
    "Must be greater than or equal to ": "Doit être supérieur ou égal à ",
    "Must be less than or equal to ": "Doit être inférieur ou égal à ",
    "Length must be between ": "Longueur attendue entre ",
    "Must be between ": "Doit être compris entre ",
    "Longer than maximum length ": "Longueur maximale : ",
}


def wants_english() -> bool:
    """French by default; English when Accept-Language prefers it."""
    best = request.accept_languages.best_match(["fr", "en"]) if request else None
    return best == "en"


def translate(value: Any) -> Any:
    """Marshmallow's English field messages in French (nested dicts and lists kept)."""
    if isinstance(value, dict):
        return {k: translate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [translate(v) for v in value]
    if isinstance(value, str):
        if value in FIELD_FR:
            return FIELD_FR[value]
        for prefix, french in PREFIX_FR.items():
            if value.startswith(prefix):
                return french + value[len(prefix) :]
    return value


def body(code: int, message: str | None = None, errors: Any = None) -> dict[str, Any]:
    english = wants_english()
    if message is None:
        message = HTTP_STATUS_CODES.get(code, "Error") if english else MESSAGES_FR.get(code, "")
    payload: dict[str, Any] = {
        "code": code,
        "status": HTTP_STATUS_CODES.get(code, "Error"),
        "message": message,
    }
    if errors:
        payload["errors"] = errors if english else translate(errors)
    return payload


# Faults of the database itself (not of the request): answered 503 with what the user can do.
# Nothing was written: the request's transaction is rolled back by the session's teardown.
DATABASE_FAULTS = {
    "full": "Espace disque insuffisant : la base de données ne peut plus rien enregistrer. "
    "Votre modification n'a pas été enregistrée ; la consultation reste possible. "
    "Réessayez quand l'exploitant aura libéré de la place.",
    "readonly": "Base de données en lecture seule : aucune modification n'est possible pour "
    "le moment ; la consultation reste possible. Votre modification n'a pas été enregistrée.",
    "io": "Erreur d'entrée-sortie sur la base de données : votre modification n'a pas été "
    "enregistrée. Réessayez plus tard ; si l'erreur persiste, prévenez l'exploitant.",
    "busy": "Base de données occupée : réessayez dans quelques instants.",
    "down": "Base de données indisponible : réessayez dans quelques instants.",
}
# SQLite primary result codes (the low byte of the extended code)
SQLITE_FAULTS = {5: "busy", 6: "busy", 8: "readonly", 10: "io", 13: "full", 14: "down"}
SQLITE_MESSAGES = {
    "database or disk is full": "full",
    "attempt to write a readonly database": "readonly",
    "disk i/o error": "io",
    "database is locked": "busy",
    "unable to open database file": "down",
}
# PostgreSQL SQLSTATE: disk full, read-only transaction (standby), server shutting down or
# starting, too many connections; class 08 (connection exception) is "down" as a whole.
POSTGRES_FAULTS = {
    "53100": "full",
    "25006": "readonly",
    "57P01": "down",
    "57P02": "down",
    "57P03": "down",
    "53300": "busy",
}


def database_fault(exc: BaseException) -> str | None:
    """The kind of database fault `exc` is (a key of DATABASE_FAULTS), or None."""
    if isinstance(exc, PoolTimeout):  # every pooled connection busy for pool_timeout seconds
        return "busy"
    if not isinstance(exc, DBAPIError):
        return None
    orig = exc.orig
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        if code is not None and code & 0xFF in SQLITE_FAULTS:
            return SQLITE_FAULTS[code & 0xFF]
        return SQLITE_MESSAGES.get(str(orig).strip().lower())
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate in POSTGRES_FAULTS:
        return POSTGRES_FAULTS[sqlstate]
    if sqlstate and sqlstate.startswith("08"):
        return "down"
    if exc.connection_invalidated:
        return "down"
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return None
    # no SQLSTATE at all: the server could not be reached (refused, reset, timed out)
    if isinstance(orig, psycopg.OperationalError) and not sqlstate:
        return "down"
    return None


def status_of(exc: BaseException) -> tuple[int, str | None, Any]:
    """(HTTP status, message, field errors) for any exception."""
    fault = database_fault(exc)
    if fault is not None:
        log.error("base de données (%s) : %s", fault, getattr(exc, "orig", exc))
        return 503, DATABASE_FAULTS[fault], None
    if isinstance(exc, DiagramError):
        where = {"file": exc.file_name, "element": exc.element_id, "line": exc.line or None}
        return exc.status, exc.message, {k: v for k, v in where.items() if v} or None
    if isinstance(exc, EngineError):
        return exc.status, exc.message, exc.errors or None
    if isinstance(exc, StaleDataError):
        return 409, None, None
    if isinstance(exc, IntegrityError):
        return 409, "Conflit avec une donnée existante (doublon ?).", None
    if isinstance(exc, HTTPException):
        data = getattr(exc, "data", None) or {}
        errors = data.get("errors") or data.get("messages")
        if isinstance(errors, dict) and set(errors) <= {
            "json",
            "query",
            "form",
            "files",
            "headers",
        }:
            # webargs nests by location; one level is enough for a client
            flat: dict[str, Any] = {}
            for location, part in errors.items():
                flat.update(part if isinstance(part, dict) else {location: part})
            errors = flat
        return exc.code or 500, data.get("message"), errors
    log.exception("erreur non prévue", exc_info=exc)
    return 500, None, None


def json_error(exc: BaseException):
    """The Flask error handler: one JSON shape for every error."""
    code, message, errors = status_of(exc)
    headers = (getattr(exc, "data", None) or {}).get("headers", {})
    if code == 401:
        headers = {**headers, "WWW-Authenticate": 'Basic realm="clausier", charset="UTF-8"'}
    if code == 503 and database_fault(exc) in ("busy", "down"):
        headers = {**headers, "Retry-After": "5"}
    return body(code, message, errors), code, headers


class PreconditionFailed(StaleInstance):
    """If-Match named a version that is no longer current (HTTP 412)."""

    status = 412
