"""A real server (demo data, SQLite in a temporary folder) and Debian's Chromium driven by
Playwright. Every page fails its test on a console error or an uncaught script error.

Chromium comes from Debian (`/usr/bin/chromium`, installed by scripts/test), never from
`playwright install`. Without it the tests are skipped, or fail under CI=true.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from server.app import create_app
from server.config import Config
from server.demo import DEMO_PASSWORD, load_demo
from tests.conftest import BPMN_DIR, ROOT, missing
from workflows.engine.db import transaction

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _need_chromium() -> None:
    if CHROMIUM.exists():
        return
    missing("Chromium absent (/usr/bin/chromium) : ./scripts/test l'installe")


@pytest.fixture(scope="module")
def server_url(tmp_path_factory) -> Iterator[str]:
    """The app with the demo data, served by waitress on a free loopback port."""
    import waitress

    folder = tmp_path_factory.mktemp("serveur")
    config = Config(
        database_url=f"sqlite:///{folder / 'clausier.db'}",
        bpmn_dir=BPMN_DIR,
        scheduler=False,
        testing=True,
        secure_cookies=False,
    )
    app = create_app(config)
    with transaction(app.extensions["clausier.sessions"]) as session:
        load_demo(session=session)
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        server.close()
        thread.join(timeout=5)
        app.extensions["clausier.engine"].dispose()


@pytest.fixture(scope="module")
def browser():
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server_url):
    """A fresh browser context (no cookies) whose page fails the test on any console error."""
    context = browser.new_context(
        base_url=server_url, locale="fr-FR", viewport={"width": 1280, "height": 900}
    )
    context.set_default_timeout(10_000)
    tab = context.new_page()
    problems: list[str] = []
    tab.on(
        "console",
        lambda msg: (
            problems.append(f"console {msg.type}: {msg.text} ({tab.url})")
            if msg.type == "error"
            else None
        ),
    )
    tab.on("pageerror", lambda exc: problems.append(f"erreur de script : {exc} ({tab.url})"))
    yield tab
    context.close()
    assert not problems, "\n".join(problems)


def login(page, user: str, password: str = DEMO_PASSWORD) -> None:
    page.goto("/connexion")
    page.get_by_label("Identifiant", exact=True).fill(user)
    page.get_by_label("Mot de passe", exact=True).fill(password)
    page.get_by_role("button", name="Se connecter", exact=True).click()
    page.wait_for_url("**/")


def screenshot(page, name: str) -> None:
    """Full-page capture kept as a test artefact (test-artifacts/screenshots/NAME.png)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
