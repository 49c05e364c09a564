"""Schemathesis against /api/v1/openapi.json: no 500, every response matches the document.

Bounded to run in the suite: a few examples per operation, on SQLite, as an admin (who reaches
every service) with the world of the matrix test stored.
"""

from __future__ import annotations

import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.conftest import Database
from tests.server.api.world import world_app
from workflows.engine.db import make_engine, make_session_factory

MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory, sqlite_template):
    path = tmp_path_factory.mktemp("fuzz") / "clausier.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    db = Database(f"sqlite:///{path}", engine, make_session_factory(engine))
    with world_app(db) as (app, _client, world):
        yield app, world
    engine.dispose()


def test_api_conforms_to_its_document(fuzzed):
    app, world = fuzzed
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = world.auth("admin1")
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case):
            # semantic refusals (422 for a .png upload, an unknown user…) are answers, not bugs
            case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])

        try:
            run()
        except (
            Exception,
            BaseExceptionGroup,
        ) as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {exc}"[:2000])
    assert not failures, "\n\n".join(failures)
