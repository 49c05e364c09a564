"""OpenID Connect login against a real provider on the loopback interface.

The provider below is a small Flask app served by werkzeug in a thread: discovery, authorize
(approves at once and redirects back with a code), token (an RS256 id_token signed with joserfc,
the library Authlib verifies with), JWKS and userinfo (plain JSON, or a signed JWT as ProConnect
answers). Clausier makes the real HTTP exchanges with it.
"""

from __future__ import annotations

import secrets
import threading
import time
from contextlib import contextmanager
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from flask import Flask, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from werkzeug.serving import make_server

from tests.server.test_app import running_app
from workflows.accounts import service as accounts
from workflows.accounts.models import User
from workflows.engine.models import Event

CLIENT_ID, CLIENT_SECRET = "clausier-test", "secret-du-client"


class Provider:
    """A minimal OpenID provider; `identity` is who logs in next."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
        self.identity: dict = {}
        self.id_token_claims = (
            "email",
            "email_verified",
            "preferred_username",
        )  # the rest via userinfo only
        self.userinfo_as_jwt = False
        self.forged_key: RSAKey | None = None  # signs the id_token instead of the published key
        self.forged_nonce: str | None = None  # replaces the nonce the client sent
        self.codes: dict[str, dict] = {}
        self.tokens: dict[str, dict] = {}
        self.app = Flask("fournisseur")
        self.issuer = ""
        self._routes()

    def _routes(self) -> None:
        app = self.app

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify(
                issuer=self.issuer,
                authorization_endpoint=f"{self.issuer}/authorize",
                token_endpoint=f"{self.issuer}/token",
                jwks_uri=f"{self.issuer}/jwks",
                userinfo_endpoint=f"{self.issuer}/userinfo",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
                token_endpoint_auth_methods_supported=["client_secret_basic"],
            )

        @app.get("/authorize")
        def authorize():
            args = request.args
            assert args["client_id"] == CLIENT_ID and args["response_type"] == "code"
            assert "openid" in args["scope"].split()
            code = secrets.token_urlsafe(16)
            self.codes[code] = {
                "nonce": args.get("nonce"),
                "redirect_uri": args["redirect_uri"],
                "identity": dict(self.identity),
            }
            query = urlencode({"code": code, "state": args["state"]})
            return redirect(f"{args['redirect_uri']}?{query}")

        @app.post("/token")
        def token():
            auth = request.authorization
            if not auth or (auth.username, auth.password) != (CLIENT_ID, CLIENT_SECRET):
                return jsonify(error="invalid_client"), 401
            grant = self.codes.pop(request.form.get("code", ""), None)
            if grant is None or grant["redirect_uri"] != request.form.get("redirect_uri"):
                return jsonify(error="invalid_grant"), 400
            identity, now = grant["identity"], int(time.time())
            claims = {
                "iss": self.issuer,
                "aud": CLIENT_ID,
                "sub": identity["sub"],
                "iat": now,
                "exp": now + 300,
                "nonce": self.forged_nonce or grant["nonce"],
                **{k: v for k, v in identity.items() if k in self.id_token_claims},
            }
            key = self.forged_key or self.key
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
            access = secrets.token_urlsafe(16)
            self.tokens[access] = identity
            return jsonify(
                access_token=access, token_type="Bearer", expires_in=300, id_token=id_token
            )

        @app.get("/jwks")
        def jwks():
            return jsonify(KeySet([self.key]).as_dict(private=False))

        @app.get("/userinfo")
        def userinfo():
            scheme, _, value = request.headers.get("Authorization", "").partition(" ")
            identity = self.tokens.get(value) if scheme == "Bearer" else None
            if identity is None:
                return jsonify(error="invalid_token"), 401
            if self.userinfo_as_jwt:
                body = jwt.encode(
                    {"alg": "RS256", "kid": "k1"},
                    {"iss": self.issuer, "aud": CLIENT_ID, **identity},
                    self.key,
                )
                return body, 200, {"Content-Type": "application/jwt"}
            return jsonify(identity)


@contextmanager
def provider_on_loopback():
    provider = Provider()
    server = make_server("127.0.0.1", 0, provider.app, threaded=True)
    provider.issuer = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


@contextmanager
def oidc_app(db, provider, **overrides):
    settings = {
        "oidc_issuer": provider.issuer,
        "oidc_client_id": CLIENT_ID,
        "oidc_client_secret": CLIENT_SECRET,
        **overrides,
    }
    with running_app(db, **settings) as app:
        with db.factory() as s:
            accounts.create(session=s, login="agent.ville", role="admin", email="Agent@Ville.fr")
            accounts.create(session=s, login="ancien", role="admin", email="ancien@ville.fr")
            accounts.disable(session=s, login="ancien")
            s.commit()
        yield app, app.test_client()


def _login(client, provider, identity, *, tamper_state: bool = False):
    """Follow the real redirects: app → provider (HTTP) → app's callback."""
    provider.identity = identity
    start = client.get("/connexion/oidc")
    assert start.status_code == 302, start.get_data(as_text=True)
    location = start.headers["Location"]
    assert location.startswith(f"{provider.issuer}/authorize?")
    sent = parse_qs(urlsplit(location).query)
    assert sent["state"][0] and sent["nonce"][0]
    back = requests.get(location, allow_redirects=False, timeout=10)
    assert back.status_code == 302
    callback = urlsplit(back.headers["Location"])
    assert callback.path == "/connexion/oidc/retour"
    query = callback.query
    if tamper_state:
        query = query.replace(f"state={sent['state'][0]}", "state=forge")
    return client.get(f"{callback.path}?{query}")


def _logged_in_as(client) -> str | None:
    me = client.get("/api/v1/users/me")
    return me.get_json()["login"] if me.status_code == 200 else None


def test_login_opens_the_same_session_as_a_password(db):
    with provider_on_loopback() as provider, oidc_app(db, provider) as (_app, client):
        page = client.get("/connexion")
        assert "/connexion/oidc" in page.get_data(as_text=True)
        done = _login(client, provider, {"sub": "u-1", "email": "agent@ville.fr"})
        assert done.status_code == 302 and done.headers["Location"].endswith("/")
        assert "HttpOnly" in done.headers["Set-Cookie"]
        assert client.get("/").status_code == 200
        assert _logged_in_as(client) == "agent.ville"
        csrf = client.get("/api/v1/csrf").get_json()["csrf"]
        assert client.post("/api/v1/tasks/x/claim", headers={"X-CSRF-Token": csrf}).status_code == (
            404
        )
        with db.factory() as s:
            user = s.query(User).filter_by(login="agent.ville").one()
            assert user.last_login_at is not None
            event = s.query(Event).filter_by(kind="user.login").one()
            assert event.actor == "agent.ville" and event.data["method"] == "oidc"


def test_email_from_a_signed_userinfo_like_proconnect(db):
    with provider_on_loopback() as provider, oidc_app(db, provider) as (_app, client):
        provider.id_token_claims = ()  # the id_token carries only sub
        provider.userinfo_as_jwt = True
        done = _login(client, provider, {"sub": "u-2", "email": "AGENT@ville.fr"})
        assert done.status_code == 302
        assert _logged_in_as(client) == "agent.ville"


def test_login_claim_preferred_username(db):
    with (
        provider_on_loopback() as provider,
        oidc_app(db, provider, oidc_login_claim="preferred_username") as (_app, client),
    ):
        identity = {"sub": "u-3", "preferred_username": "agent.ville", "email": "x@y.fr"}
        assert _login(client, provider, identity).status_code == 302
        assert _logged_in_as(client) == "agent.ville"


@pytest.mark.parametrize(
    "identity",
    [
        {"sub": "u-4", "email": "inconnu@ville.fr"},  # no account: never created
        {"sub": "u-5", "email": "ancien@ville.fr"},  # disabled account
        {"sub": "u-6", "email": "agent@ville.fr", "email_verified": False},
    ],
)
def test_unknown_or_disabled_account_is_refused(db, identity):
    with provider_on_loopback() as provider, oidc_app(db, provider) as (_app, client):
        refused = _login(client, provider, identity)
        assert refused.status_code == 403
        text = refused.get_data(as_text=True)
        assert "Aucun compte Clausier actif" in text and "administrateur" in text
        assert _logged_in_as(client) is None
        assert client.get("/").status_code == 302
        with db.factory() as s:
            assert s.query(User).count() == 2


def test_bad_state_is_refused(db):
    with provider_on_loopback() as provider, oidc_app(db, provider) as (_app, client):
        refused = _login(
            client, provider, {"sub": "u-1", "email": "agent@ville.fr"}, tamper_state=True
        )
        assert refused.status_code == 401
        assert "recommencez" in refused.get_data(as_text=True)
        assert _logged_in_as(client) is None
        # a callback without any login started is refused the same way
        assert client.get("/connexion/oidc/retour?code=x&state=y").status_code == 401


def test_wrong_signing_key_is_refused(db):
    with provider_on_loopback() as provider, oidc_app(db, provider) as (_app, client):
        provider.forged_key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
        refused = _login(client, provider, {"sub": "u-1", "email": "agent@ville.fr"})
        assert refused.status_code == 401
        assert _logged_in_as(client) is None


def test_replayed_id_token_with_another_nonce_is_refused(db):
    with provider_on_loopback() as provider, oidc_app(db, provider) as (_app, client):
        provider.forged_nonce = "nonce-d-une-autre-connexion"
        refused = _login(client, provider, {"sub": "u-1", "email": "agent@ville.fr"})
        assert refused.status_code == 401
        assert _logged_in_as(client) is None


def test_unreachable_provider_is_a_clear_refusal(db):
    with provider_on_loopback() as provider:
        issuer = provider.issuer
    # the provider is gone: its port is closed
    with running_app(db, oidc_issuer=issuer, oidc_client_id=CLIENT_ID) as app:
        page = app.test_client().get("/connexion/oidc")
        assert page.status_code == 503 and "injoignable" in page.get_data(as_text=True)


def test_oidc_is_off_by_default(db):
    with running_app(db) as app:
        client = app.test_client()
        assert client.get("/connexion/oidc").status_code == 404
        assert client.get("/connexion/oidc/retour?code=x&state=y").status_code == 404
        assert "/connexion/oidc" not in client.get("/connexion").get_data(as_text=True)


def test_settings_from_the_environment(monkeypatch):
    from server.config import Config

    monkeypatch.setenv("CLAUSIER_DATABASE_URL", "sqlite://")
    monkeypatch.setenv("CLAUSIER_SECRET_KEY", "x" * 32)
    assert Config.from_env().oidc_enabled is False
    monkeypatch.setenv("CLAUSIER_OIDC_ISSUER", "https://auth.example.gouv.fr/api/v2/")
    monkeypatch.setenv("CLAUSIER_OIDC_CLIENT_ID", "clausier")
    monkeypatch.setenv("CLAUSIER_OIDC_CLIENT_SECRET", "s")
    monkeypatch.setenv("CLAUSIER_OIDC_LOGIN_CLAIM", "preferred_username")
    config = Config.from_env()
    assert config.oidc_enabled and config.oidc_login_claim == "preferred_username"
    assert config.oidc_discovery_url == (
        "https://auth.example.gouv.fr/api/v2/.well-known/openid-configuration"
    )
    assert config.oidc_scopes == "openid email"
