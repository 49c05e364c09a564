"""Configuration, read from the environment in this one place."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from notifications.settings import Settings as NotificationSettings

ROOT = Path(__file__).resolve().parent.parent


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "oui", "on")


@dataclass
class Config:
    database_url: str = ""
    bpmn_dir: Path = ROOT / "bpmn"
    secret_key: str = field(default_factory=lambda: secrets.token_hex(32))
    scheduler: bool = True
    timer_poll_seconds: float = 1.0
    deploy_on_start: bool = True
    testing: bool = False
    # None: secure cookies, except for `clausier serve` on a loopback address over plain http
    secure_cookies: bool | None = None
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    # OpenID Connect (e.g. ProConnect): off unless an issuer and a client id are set
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_login_claim: str = "email"  # "email" → account e-mail; "preferred_username" → login
    oidc_scopes: str = "openid email"
    proxy_hops: int = 0  # reverse proxies in front that set X-Forwarded-For/-Proto/-Host

    @property
    def oidc_enabled(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)

    @property
    def oidc_discovery_url(self) -> str:
        return self.oidc_issuer.rstrip("/") + "/.well-known/openid-configuration"

    @classmethod
    def from_env(cls) -> Config:
        """Settings from CLAUSIER_* variables (DATABASE_URL is accepted too)."""
        var = ROOT / "var"
        url = os.environ.get("CLAUSIER_DATABASE_URL") or os.environ.get("DATABASE_URL")
        if not url:
            var.mkdir(exist_ok=True)
            url = f"sqlite:///{var / 'clausier.db'}"
        return cls(
            database_url=url,
            bpmn_dir=Path(os.environ.get("CLAUSIER_BPMN_DIR", ROOT / "bpmn")),
            secret_key=os.environ.get("CLAUSIER_SECRET_KEY") or _local_secret(var),
            scheduler=_bool("CLAUSIER_SCHEDULER", True),
            timer_poll_seconds=float(os.environ.get("CLAUSIER_TIMER_POLL_SECONDS", "1")),
            deploy_on_start=_bool("CLAUSIER_DEPLOY_ON_START", True),
            secure_cookies=(
                _bool("CLAUSIER_SECURE_COOKIES", True)
                if "CLAUSIER_SECURE_COOKIES" in os.environ
                else None
            ),
            notifications=notification_settings(),
            oidc_issuer=os.environ.get("CLAUSIER_OIDC_ISSUER", "").strip(),
            oidc_client_id=os.environ.get("CLAUSIER_OIDC_CLIENT_ID", "").strip(),
            oidc_client_secret=os.environ.get("CLAUSIER_OIDC_CLIENT_SECRET", ""),
            oidc_login_claim=os.environ.get("CLAUSIER_OIDC_LOGIN_CLAIM", "").strip() or "email",
            oidc_scopes=os.environ.get("CLAUSIER_OIDC_SCOPES", "").strip() or "openid email",
            proxy_hops=int(os.environ.get("CLAUSIER_PROXY_HOPS", "0")),
        )


def _local_secret(var: Path) -> str:
    """A secret kept in var/ so sessions survive a restart of the embedded server."""
    path = var / "secret_key"
    if not path.exists():
        var.mkdir(exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


def notification_settings() -> NotificationSettings:
    """SMTP, links, digest hour and default reminder policy from CLAUSIER_* variables."""
    env, d = os.environ.get, NotificationSettings()
    return NotificationSettings(
        smtp_host=env("CLAUSIER_SMTP_HOST", ""),
        smtp_port=int(env("CLAUSIER_SMTP_PORT", str(d.smtp_port))),
        smtp_user=env("CLAUSIER_SMTP_USER", ""),
        smtp_password=env("CLAUSIER_SMTP_PASSWORD", ""),
        smtp_tls=env("CLAUSIER_SMTP_TLS", d.smtp_tls),
        sender=env("CLAUSIER_MAIL_SENDER", d.sender),
        base_url=env("CLAUSIER_BASE_URL", d.base_url).rstrip("/"),
        digest_hour=int(env("CLAUSIER_DIGEST_HOUR", str(d.digest_hour))),
        before_days=int(env("CLAUSIER_REMINDER_BEFORE_DAYS", str(d.before_days))),
        on_due=_bool("CLAUSIER_REMINDER_ON_DUE", d.on_due),
        overdue_every_days=int(env("CLAUSIER_REMINDER_OVERDUE_EVERY", str(d.overdue_every_days))),
        escalate_after_days=int(env("CLAUSIER_ESCALATE_AFTER_DAYS", str(d.escalate_after_days))),
        escalate_to=env("CLAUSIER_ESCALATE_TO", d.escalate_to),
    )
