"""Templates: files shipped in notifications/templates/, overridden by admins in the database.

Admins edit templates, so they run in Jinja's sandbox. A `.txt` template's first line is the
subject; the rest is the plain-text body; the `.html` file is the HTML body (autoescaped).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.access import Actor, require
from workflows.engine import timers
from workflows.engine.errors import FormInvalid

from .models import KINDS, NotificationTemplate

FILES = Path(__file__).parent / "templates"
TEXT = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)
HTML = SandboxedEnvironment(autoescape=True)


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str


@lru_cache(maxsize=64)
def shipped(kind: str) -> tuple[str, str, str]:
    """The default (subject, text, html) of a kind, from the files."""
    subject, _, text = (FILES / f"{kind}.txt").read_text(encoding="utf-8").partition("\n")
    return subject, text.lstrip("\n"), (FILES / f"{kind}.html").read_text(encoding="utf-8")


def _sources(session: Session, kind: str, language: str) -> tuple[str, str, str]:
    row = session.scalar(
        select(NotificationTemplate).where(
            NotificationTemplate.kind == kind, NotificationTemplate.language == language
        )
    )
    return (row.subject, row.body_text, row.body_html) if row else shipped(kind)


@lru_cache(maxsize=256)
def _compiled(source: str, html: bool):
    """Compiled once per source text: an edited template is a new source, hence a new entry."""
    return (HTML if html else TEXT).from_string(source)


def render(session: Session, kind: str, context: dict[str, Any], language: str = "fr") -> Message:
    """The message of `kind` for this context (French unless a template exists in `language`)."""
    subject, text, html = _sources(session, kind, language)
    return Message(
        subject=" ".join(_compiled(subject, False).render(context).split())[:500],
        text=_compiled(text, False).render(context),
        html=_compiled(html, True).render(context),
    )


def update(
    *, session: Session, actor: Actor, kind: str, subject: str, body_text: str, body_html: str
) -> NotificationTemplate:
    """Replace the French template of one kind (admins only); a template that fails is refused."""
    require(actor.is_admin, "Réservé aux administrateurs.")
    if kind not in KINDS:
        raise FormInvalid("Modèle refusé.", errors={"kind": "valeurs : " + ", ".join(KINDS)})
    for name, source in (("subject", subject), ("body_text", body_text), ("body_html", body_html)):
        try:
            TEXT.parse(source)
        except TemplateError as exc:
            raise FormInvalid("Modèle refusé.", errors={name: str(exc)}) from exc
    row = session.scalar(
        select(NotificationTemplate).where(
            NotificationTemplate.kind == kind, NotificationTemplate.language == "fr"
        )
    )
    if row is None:
        row = NotificationTemplate(kind=kind, language="fr")
        session.add(row)
    row.subject, row.body_text, row.body_html = subject, body_text, body_html
    row.updated_by, row.updated_at = actor.login, timers.now()
    session.flush()
    return row
