"""Web session login with CSRF, personal tokens, throttling of failed logins."""

from __future__ import annotations

import re

from server import auth
from tests.server.api.world import PASSWORD, world_app
from workflows.accounts import service as accounts


def _csrf(page) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.get_data(as_text=True)).group(1)


def test_session_login_csrf_and_logout(db):
    with world_app(db) as (app, client, _w):
        page = client.get("/connexion")
        assert page.status_code == 200 and "Connexion" in page.get_data(as_text=True)
        token = _csrf(page)
        forged = client.post("/connexion", data={"login": "acheteur1", "password": PASSWORD})
        assert forged.status_code == 400
        wrong = client.post(
            "/connexion", data={"csrf": token, "login": "acheteur1", "password": "x"}
        )
        assert wrong.status_code == 401 and "incorrect" in wrong.get_data(as_text=True)
        ok = client.post(
            "/connexion", data={"csrf": token, "login": "acheteur1", "password": PASSWORD}
        )
        assert ok.status_code == 302
        cookie = ok.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert client.get("/api/v1/users/me").get_json()["login"] == "acheteur1"
        without = client.post("/api/v1/tasks/x/claim")
        assert without.status_code == 403
        csrf = client.get("/api/v1/csrf").get_json()["csrf"]
        with_header = client.post("/api/v1/tasks/x/claim", headers={"X-CSRF-Token": csrf})
        assert with_header.status_code == 404
        client.post("/deconnexion", data={"csrf": csrf})
        assert client.get("/api/v1/users/me").status_code == 401


def test_secure_cookie_outside_tests(db):
    with world_app(db) as (app, _client, _w):
        assert app.config["SESSION_COOKIE_SECURE"] is False  # testing
    from server.app import create_app
    from server.config import Config
    from tests.conftest import BPMN_DIR

    app = create_app(Config(database_url=db.url, bpmn_dir=BPMN_DIR, scheduler=False))
    try:
        assert app.config["SESSION_COOKIE_SECURE"] is True
    finally:
        app.extensions["clausier.engine"].dispose()


def test_account_locks_after_five_failures_and_ip_is_throttled(db):
    with world_app(db) as (_app, client, w):
        for _ in range(5):
            assert (
                client.get("/api/v1/users/me", headers=w.basic("facilitateur1", "faux")).status_code
                == 401
            )
        locked = client.get("/api/v1/users/me", headers=w.basic("facilitateur1", PASSWORD))
        assert locked.status_code == 401 and "verrouillé" in locked.get_json()["message"]
        assert client.get("/api/v1/users/me", headers=w.auth("facilitateur1")).status_code == 200
        auth.THROTTLE.failures.clear()
        try:
            for _ in range(auth.IP_MAX_FAILURES):
                client.get("/api/v1/users/me", headers={"Authorization": "Bearer clz_faux"})
            throttled = client.get("/api/v1/users/me", headers=w.auth("admin1"))
            assert throttled.status_code == 429
        finally:
            auth.THROTTLE.failures.clear()


def test_disabled_account_and_revoked_token(db):
    with world_app(db) as (_app, client, w):
        with db.factory() as s:
            accounts.disable(session=s, login="acheteur1")
            s.commit()
        assert client.get("/api/v1/users/me", headers=w.auth("acheteur1")).status_code == 401
        assert (
            client.get("/api/v1/users/me", headers={"Authorization": "Digest x"}).status_code == 401
        )
