"""E-mail over SMTP: multipart (plain text and HTML), with the .ics invitation when there is one.

Without an SMTP host (embedded default) nothing leaves the machine: mails are kept in the outbox
table, marked delivered to "outbox", and shown by the outbox page.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime

from .settings import Settings


@dataclass(frozen=True)
class Envelope:
    """What the delivery job sends, read from a notification row (no database needed)."""

    id: int
    email: str
    title: str
    text: str
    html: str
    ics: str | None
    created_at: object


@dataclass(frozen=True)
class Result:
    id: int
    error: str | None = None
    delivered_to: str = "smtp"


def message(envelope: Envelope, settings: Settings) -> EmailMessage:
    """The MIME message of one notification; its Message-ID is stable across retries."""
    msg = EmailMessage()
    msg["From"] = settings.sender
    msg["To"] = envelope.email
    msg["Subject"] = envelope.title
    msg["Date"] = format_datetime(envelope.created_at)
    msg["Message-ID"] = f"<notification-{envelope.id}@clausier>"
    msg.set_content(envelope.text)
    msg.add_alternative(envelope.html, subtype="html")
    if envelope.ics:
        method = "CANCEL" if "METHOD:CANCEL" in envelope.ics else "REQUEST"
        msg.add_attachment(
            envelope.ics.encode("utf-8"),
            maintype="text",
            subtype="calendar",
            filename="invitation.ics",
            params={"method": method, "charset": "utf-8"},
        )
    return msg


def _connect(settings: Settings) -> smtplib.SMTP:
    if settings.smtp_tls == "ssl":
        server: smtplib.SMTP = smtplib.SMTP_SSL(
            settings.smtp_host, settings.smtp_port, timeout=15, context=ssl.create_default_context()
        )
    else:
        server = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=15)
        if settings.smtp_tls == "starttls":
            server.starttls(context=ssl.create_default_context())
    if settings.smtp_user:
        server.login(settings.smtp_user, settings.smtp_password)
    return server


def send(envelopes: list[Envelope], settings: Settings) -> list[Result]:
    """Send over one SMTP connection; each mail gets its own result (sent or the error)."""
    if not envelopes:
        return []
    if settings.outbox_only:
        return [Result(e.id, delivered_to="outbox") for e in envelopes]
    try:
        server = _connect(settings)
    except (OSError, smtplib.SMTPException) as exc:
        return [Result(e.id, error=f"connexion SMTP impossible : {exc}") for e in envelopes]
    results = []
    try:
        for envelope in envelopes:
            try:
                server.send_message(message(envelope, settings))
                results.append(Result(envelope.id))
            except (OSError, smtplib.SMTPException) as exc:
                results.append(Result(envelope.id, error=f"envoi refusé : {exc}"))
    finally:
        try:
            server.quit()
        except (OSError, smtplib.SMTPException):
            server.close()
    return results
