"""Migration 0007 fills the new scope columns of a populated database, so that after an upgrade
every user still sees exactly the instances and tasks they saw before."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text

from server.schema import upgrade
from workflows.engine.db import make_engine

NOW = "2027-01-04 09:00:00"
ROWS = [
    "INSERT INTO territory (id, code, name) VALUES (1, 'GPSEA', 'Grand Paris Sud Est Avenir')",
    "INSERT INTO territory (id, code, name) VALUES (2, 'GPSEA-EST', 'Est')",  # a longer code
    "INSERT INTO organisation (id, kind, name, created_at) VALUES (7, 'acheteur', 'Créteil', :now)",
    """INSERT INTO process_definition (id, key, version, content_hash, source_name, bpmn_xml,
         dmn_xml, spec_json, deployed_at)
       VALUES (1, 'p', 1, 'h', 'p.bpmn', '', '{}', '{}', :now)""",
    """INSERT INTO instance (id, definition_id, business_key, status, state, serializer_version,
         started_at, updated_at, lock_version) VALUES
         (1, 1, 'M-2027-1', 'running', '{}', '1', :now, :now, 1),
         (2, 1, 'GPSEA/comite-technique', 'running', '{}', '1', :now, :now, 1),
         (3, 1, 'GPSEA-EST/2027', 'running', '{}', '1', :now, :now, 1),
         (4, 1, 'ailleurs', 'running', '{}', '1', :now, :now, 1)""",
    """INSERT INTO marche (id, reference, subject, buyer_id, territory_id, nature, cpv_code,
         estimated_amount_ht, is_framework, duration_months, phase, against_advice, created_at,
         instance_id) VALUES (1, 'M-2027-1', 'École', 7, 2, 'travaux', '45214200', 100000,
         false, 12, 'analyse', false, :now, 1)""",
]


def _task(instance_id: int) -> str:
    return f"""INSERT INTO human_task (id, instance_id, process_key, element_id, candidate_groups,
        candidate_users, form, properties, state, created_at) VALUES ('{uuid.uuid4()}',
        {instance_id}, 'p', 't', '["acheteur", "facilitateur"]', '["bob"]', '{{}}', '{{}}',
        'open', :now)"""


def _check(engine) -> None:
    upgrade(engine, "0006_merge")
    with engine.begin() as conn:
        for sql in ROWS + [_task(i) for i in (1, 2, 3, 4)]:
            conn.execute(text(sql), {"now": NOW})
    upgrade(engine)
    with engine.connect() as conn:
        instances = dict(
            (row[0], tuple(row[1:]))
            for row in conn.execute(text("SELECT id, buyer_id, territory_id FROM instance"))
        )
        tasks = dict(
            (row[0], tuple(row[1:]))
            for row in conn.execute(
                text("SELECT instance_id, buyer_id, territory_id FROM human_task")
            )
        )
    # the marché's buyer and lead territory; then territories by business key (longest code)
    assert instances == {1: (7, 2), 2: (None, 1), 3: (None, 2), 4: (None, None)}
    assert tasks == instances
    with engine.connect() as conn:
        candidates = set(conn.execute(text("SELECT candidates FROM human_task")).scalars())
    assert candidates == {"|acheteur|facilitateur|@bob|"}


def test_upgrade_fills_scope_on_sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        _check(engine)
    finally:
        engine.dispose()


def test_upgrade_fills_scope_on_postgresql(pg_engine):
    schema = "migration_0007"
    with pg_engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    engine = make_engine(
        pg_engine.url.render_as_string(hide_password=False),
        connect_args={"options": f"-c search_path={schema}"},
    )
    try:
        _check(engine)
    finally:
        engine.dispose()
        with pg_engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))


@pytest.mark.parametrize("key", ["GPSEA", "GPSEA/x/y"])
def test_territory_of_key_matches_code_or_code_slash(session, key):
    from workflows.referentiel.models import Territory
    from workflows.referentiel.service import territory_of_key

    session.add_all([Territory(code="GPSEA", name="a"), Territory(code="GPSEAX", name="b")])
    session.flush()
    gpsea = session.scalar(text("SELECT id FROM territory WHERE code = 'GPSEA'"))
    assert territory_of_key(session, key) == (None, gpsea)
    assert territory_of_key(session, "GPSEAX/1")[1] != gpsea
    assert territory_of_key(session, "GPSE") == (None, None)
