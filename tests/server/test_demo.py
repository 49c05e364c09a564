"""Demonstration data: a territory, its facilitator, two buyers, marchés at different phases."""

from __future__ import annotations

from sqlalchemy import func, select

from server.demo import load_demo
from tests.conftest import BPMN_DIR
from workflows.access import SYSTEM
from workflows.beneficiaires.models import Beneficiary
from workflows.engine.deploy import deploy, read_files
from workflows.engine.models import HumanTask, Instance
from workflows.execution import progress
from workflows.execution.models import HoursRecord
from workflows.marches.models import Marche
from workflows.referentiel.models import Facilitator, Organisation, Territory


def count(session, model, *where) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*where))


def test_demo_marches_sit_at_different_phases_and_load_once(session):
    deploy(session=session, files=read_files([BPMN_DIR]))
    assert load_demo(session=session) == 5
    session.commit()
    assert load_demo(session=session) == 0
    instances = session.scalars(select(Instance).order_by(Instance.id)).all()
    assert [i.status for i in instances] == ["running"] * 6
    *instances, committee = instances  # and GPSEA's comité technique, started last
    assert committee.business_key == "GPSEA/comite-technique"
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
        "DEMO-2026-005": [],  # in execution: monthly reports entered, the next one not yet due
    }
    phases = dict(session.execute(select(Marche.reference, Marche.phase)).all())
    assert phases["DEMO-2026-001"] == "calibrage" and phases["DEMO-2026-005"] == "execution"
    assert count(session, Territory) == 1 and count(session, Facilitator) == 1
    assert count(session, Organisation, Organisation.kind == "acheteur") == 2
    assert count(session, Beneficiary) == 3
    assert count(session, HoursRecord, HoursRecord.counted.is_(False)) > 0
    in_execution = session.scalar(select(Marche).where(Marche.reference == "DEMO-2026-005"))
    state = progress.progress(session=session, actor=SYSTEM, marche_id=in_execution.id)
    assert state.target == 1000 and state.delivered > 0 and state.status == "dans les temps"


def test_demo_accounts_log_in_and_see_their_own_scope(session):
    from server.api import scope
    from server.demo import DEMO_ACCOUNTS, DEMO_PASSWORD
    from workflows.accounts import service as accounts
    from workflows.engine.models import HumanTask

    deploy(session=session, files=read_files([BPMN_DIR]))
    load_demo(session=session)
    session.commit()
    seen = {}
    for login, _role, _buyer in DEMO_ACCOUNTS:
        user = accounts.authenticate(session=session, login=login, password=DEMO_PASSWORD)
        actor = accounts.actor_of(user)
        seen[login] = set(session.scalars(scope.tasks(session, actor, "open")).all())
    everything = set(session.scalars(select(HumanTask).where(HumanTask.state == "open")))
    assert seen["admin"] == everything
    assert seen["acheteur.gpsea"] and seen["acheteur.creteil"]
    assert not seen["acheteur.gpsea"] & seen["acheteur.creteil"]
    assert seen["acheteur.gpsea"] | seen["acheteur.creteil"] <= seen["camille.martin"]
