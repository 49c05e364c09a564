"""Due dates read relative to today on the business calendar, in French and in English."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from flask import Flask

from server.web import dates, i18n
from workflows.engine.business_calendar import PARIS

MONDAY = date(2026, 11, 23)


@pytest.fixture(scope="module")
def app():
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "test"
    i18n.init_app(app)
    return app


def due(day: date, hour: int = 17) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("day", "french", "english", "state"),
    [
        (date(2026, 11, 26), "dans 3 jours ouvrés", "in 3 working days", "soon"),
        (date(2026, 11, 24), "dans 1 jour ouvré", "in 1 working day", "soon"),
        (date(2026, 12, 7), "dans 10 jours ouvrés", "in 10 working days", "later"),
        (MONDAY, "aujourd'hui", "today", "today"),
        (date(2026, 11, 21), "en retard de 2 jours", "2 days overdue", "late"),
        (date(2026, 11, 22), "en retard de 1 jour", "1 day overdue", "late"),
    ],
)
def test_relative_due(app, day, french, english, state):
    with app.test_request_context("/?lang=fr"):
        assert dates.relative_due(due(day), MONDAY) == french
    with app.test_request_context("/?lang=en"):
        assert dates.relative_due(due(day), MONDAY) == english
    assert dates.due_state(due(day), MONDAY) == state


def test_holidays_and_week_ends_do_not_count(app):
    christmas_eve = date(2026, 12, 24)  # Thursday; the 25th is a public holiday
    with app.test_request_context("/?lang=fr"):
        assert dates.relative_due(due(date(2026, 12, 28)), christmas_eve) == "dans 1 jour ouvré"
        assert dates.relative_due(due(date(2026, 12, 26)), christmas_eve) == (
            "avant le prochain jour ouvré"
        )
        assert dates.relative_due(None) == "sans échéance"


def test_a_late_evening_deadline_is_read_in_paris_time(app):
    # 23:30 UTC on the 25th is already the 26th in Paris
    late = datetime(2026, 11, 25, 23, 30, tzinfo=PARIS).astimezone(PARIS)
    utc = datetime.fromisoformat("2026-11-25T23:30:00+00:00")
    with app.test_request_context("/?lang=fr"):
        assert dates.relative_due(utc, MONDAY) == "dans 3 jours ouvrés"
        assert dates.relative_due(late, MONDAY) == "dans 2 jours ouvrés"
