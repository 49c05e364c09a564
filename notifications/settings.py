"""Settings of the notifications, filled from the environment by server/config.py."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    smtp_host: str = ""  # empty: mail goes to the local outbox (embedded default)
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_tls: str = "none"  # none, starttls, ssl
    sender: str = "Clausier <clausier@localhost>"
    base_url: str = "http://127.0.0.1:8000"
    digest_hour: int = 7
    max_attempts: int = 5
    retry_seconds: float = 60.0  # first retry; doubles at each try
    # Default reminder policy (working days); admins override it per process and task.
    before_days: int = 3
    on_due: bool = True
    overdue_every_days: int = 2
    escalate_after_days: int = 5
    escalate_to: str = "coordinateur"  # or responsable, coordinateur_et_responsable
    follow_up: bool = True
    copy_facilitators: bool = True

    @property
    def outbox_only(self) -> bool:
        return not self.smtp_host


DEFAULT = Settings()

# The settings the engine listeners (meeting invitations, new-task notices) use: links, sender.
# The server sets them at start with `use(settings)`.
CURRENT: dict[str, Settings] = {"settings": DEFAULT}


def use(settings: Settings) -> None:
    """Make `settings` the ones the listeners use in this process."""
    CURRENT["settings"] = settings
