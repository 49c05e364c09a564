"""Delivery to a real SMTP server on the loopback: outage, back-off, failures, re-sending."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from notifications import service
from notifications.models import Notification
from notifications.settings import Settings
from server import scheduler
from server.cli import main
from tests.notifications.factories import Clock
from tests.notifications.smtp import SmtpServer
from workflows.accounts import service as accounts
from workflows.engine import timers
from workflows.engine.db import transaction


@pytest.fixture
def smtp():
    server = SmtpServer()
    yield server
    server.stop()
    timers.set_clock(None)


def settings_for(server: SmtpServer, **values) -> Settings:
    return Settings(smtp_host="127.0.0.1", smtp_port=server.port, retry_seconds=60, **values)


def write(db, count: int) -> None:
    with transaction(db.factory) as session:
        for n in range(count):
            user = accounts.create(
                session=session,
                login=f"u{n}",
                role="facilitateur",
                email=f"u{n}@example.org",
                full_name=f"Personne n°{n} Éloïse",
            )
            subject = service.Subject("task", f"t{n}", "2027-05-14", link="http://x/taches/1")
            context = {"task": "Saisir le rapport mensuel", "due": "14/05/2027", "link": "http://x"}
            assert service.record(
                session=session, user=user, kind="echeance", subject=subject, context=context
            )


def statuses(db) -> list[tuple[str, int]]:
    with db.factory() as s:
        rows = s.scalars(select(Notification).order_by(Notification.id))
        return [(r.status, r.attempts) for r in rows]


def test_outage_then_recovery_loses_and_duplicates_nothing(db, smtp):
    Clock.freeze(datetime(2027, 5, 14, 5, tzinfo=UTC))
    write(db, 5)
    settings = settings_for(smtp)
    assert scheduler.deliver_outbox(db.factory, settings) == 0  # server down
    assert statuses(db) == [("pending", 1)] * 5
    Clock.now += timedelta(seconds=61)
    assert scheduler.deliver_outbox(db.factory, settings) == 0  # still down: next try in 120 s
    assert statuses(db) == [("pending", 2)] * 5
    smtp.start()
    Clock.now += timedelta(seconds=60)
    assert scheduler.deliver_outbox(db.factory, settings) == 0  # back-off not over yet
    Clock.now += timedelta(seconds=61)
    assert scheduler.deliver_outbox(db.factory, settings) == 5
    assert scheduler.deliver_outbox(db.factory, settings) == 0
    assert statuses(db) == [("sent", 2)] * 5
    ids = sorted(m["Message-ID"] for m in smtp.messages)
    assert len(ids) == len(set(ids)) == 5
    message = smtp.messages[0]
    assert message.is_multipart() and message["Subject"].startswith("Échéance aujourd'hui")
    parts = {p.get_content_type(): p for p in message.walk()}
    assert {"text/plain", "text/html"} <= set(parts)
    assert "Éloïse" in parts["text/plain"].get_payload(decode=True).decode("utf-8")


def test_given_up_after_max_tries_then_resent_by_an_admin(db, smtp, monkeypatch):
    Clock.freeze(datetime(2027, 5, 14, 5, tzinfo=UTC))
    write(db, 2)
    settings = settings_for(smtp, max_attempts=2)
    for _ in range(3):
        scheduler.deliver_outbox(db.factory, settings)
        Clock.now += timedelta(minutes=5)
    assert statuses(db) == [("failed", 2)] * 2
    monkeypatch.setenv("CLAUSIER_DATABASE_URL", db.url)
    runner = CliRunner()
    listed = runner.invoke(main, ["notifications", "failed"], catch_exceptions=False)
    assert "connexion SMTP impossible" in listed.output and "u0" in listed.output
    with db.factory() as s:
        first = s.scalar(select(Notification.id).order_by(Notification.id))
    resent = runner.invoke(main, ["notifications", "resend", str(first)], catch_exceptions=False)
    assert resent.exit_code == 0, resent.output
    smtp.start()
    assert scheduler.deliver_outbox(db.factory, settings) == 1
    assert statuses(db) == [("sent", 0), ("failed", 2)]
    assert [m["To"] for m in smtp.messages] == ["u0@example.org"]


def test_without_smtp_mail_stays_in_the_local_outbox(db):
    Clock.freeze(datetime(2027, 5, 14, 5, tzinfo=UTC))
    try:
        write(db, 1)
        assert scheduler.deliver_outbox(db.factory, Settings()) == 1
        with db.factory() as s:
            row = s.scalar(select(Notification))
        assert (row.status, row.delivered_to) == ("sent", "outbox")
    finally:
        timers.set_clock(None)
