"""Demonstration data: marchés at different phases, loaded once."""

from __future__ import annotations

from sqlalchemy import select

from server.demo import load_demo
from tests.conftest import BPMN_DIR
from workflows.engine.deploy import deploy, read_files
from workflows.engine.models import HumanTask, Instance


def test_demo_marches_sit_at_different_phases_and_load_once(session):
    deploy(session=session, files=read_files([BPMN_DIR]))
    assert load_demo(session=session) == 4
    session.commit()
    assert load_demo(session=session) == 0
    instances = session.scalars(select(Instance).order_by(Instance.id)).all()
    assert [i.status for i in instances] == ["running"] * 4
    open_by_instance = {
        i.business_key: sorted(
            session.scalars(
                select(HumanTask.element_id).where(
                    HumanTask.instance_id == i.id, HumanTask.state == "open"
                )
            )
        )
        for i in instances
    }
    assert open_by_instance == {
        "DEMO-2026-001": ["calibrer_heures"],
        "DEMO-2026-002": ["rediger_consultation"],
        "DEMO-2026-003": ["enregistrer_notification"],
        "DEMO-2026-004": ["choisir_disposition"],
    }
