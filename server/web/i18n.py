"""Languages of the web pages: French by default, English available.

The choice, first match wins: `?lang=fr|en` (kept in the session), the signed-in user's
`language`, the browser's Accept-Language, French. The English catalogue is a `.po` file under
`server/translations/`; it is compiled to `.mo` at start-up when missing or older than the `.po`
(Babel's pure-Python compiler, a few milliseconds): no build step to forget, no binary committed.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask, g, request, session
from flask_babel import Babel

LANGUAGES = ("fr", "en")
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"
log = logging.getLogger(__name__)


def _compile(source: Path, target: Path) -> None:
    with source.open("rb") as po:
        catalog = read_po(po)
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as mo:
        write_mo(mo, catalog)


def compiled_catalogues() -> Path:
    """The directory holding up-to-date `.mo` files (beside the `.po`, else a temporary one)."""
    sources = sorted(TRANSLATIONS.glob("*/LC_MESSAGES/messages.po"))
    stale = [
        p
        for p in sources
        if not p.with_suffix(".mo").exists()
        or p.with_suffix(".mo").stat().st_mtime < p.stat().st_mtime
    ]
    try:
        for po in stale:
            _compile(po, po.with_suffix(".mo"))
        return TRANSLATIONS
    except OSError:  # read-only installation: compile elsewhere
        elsewhere = Path(tempfile.mkdtemp(prefix="clausier-i18n-"))
        for po in sources:
            _compile(po, elsewhere / po.relative_to(TRANSLATIONS).with_suffix(".mo"))
        log.info("catalogues compilés dans %s", elsewhere)
        return elsewhere


def select_locale() -> str:
    """The language of this request's page."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        session["lang"] = asked
        return asked
    if session.get("lang") in LANGUAGES:
        return session["lang"]
    user = g.get("user")
    if user is not None and user.language in LANGUAGES:
        return user.language
    return request.accept_languages.best_match(LANGUAGES) or "fr"


def init_app(app: Flask) -> None:
    Babel(
        app,
        default_locale="fr",
        default_timezone="Europe/Paris",
        default_translation_directories=str(compiled_catalogues()),
        locale_selector=select_locale,
    )
