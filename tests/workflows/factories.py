"""Small factories for the domain tests: each test builds the few rows it needs."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.conftest import BPMN_DIR
from workflows.access import Actor
from workflows.beneficiaires import service as beneficiaires
from workflows.engine.deploy import deploy, read_files
from workflows.marches import service as marches
from workflows.marches.models import Clause, Marche
from workflows.referentiel import service as referentiel

ADMIN = Actor(login="admin", role="admin")
# Fictitious SIRET numbers with a valid Luhn key.
SIRETS = ["51234567800019", "42134567800021", "79812345600013", "81234567900011"]


def deploy_tables(session) -> None:
    """Only the DMN tables (faster than the whole bpmn/ folder)."""
    deploy(
        session=session,
        files=read_files([BPMN_DIR / "part_main_oeuvre.dmn", BPMN_DIR / "disposition_sociale.dmn"]),
    )


def deploy_all(session) -> None:
    deploy(session=session, files=read_files([Path(BPMN_DIR)]))


def territory(session, code: str = "GPSEA", name: str = "Grand Paris Sud Est Avenir", **fields):
    return referentiel.create_territory(
        session=session, actor=ADMIN, code=code, name=name, **fields
    )


def buyer(session, name: str = "Ville de Créteil"):
    return referentiel.create_organisation(session=session, actor=ADMIN, kind="acheteur", name=name)


def buyer_actor(organisation) -> Actor:
    return Actor(
        login=f"achats-{organisation.id}", role="acheteur", organisation_id=organisation.id
    )


def facilitator(*territories, login: str = "camille", role: str = "facilitateur") -> Actor:
    return Actor(login=login, role=role, territory_ids=frozenset(t.id for t in territories))


def marche(
    session,
    *,
    buyer_id: int,
    territory_id: int,
    reference: str = "M-2027-001",
    actor: Actor = ADMIN,
    start_process: bool = False,
    **fields: Any,
) -> Marche:
    values = {
        "subject": "Réhabilitation du groupe scolaire Jean-Jaurès",
        "nature": "travaux",
        "cpv_code": "45262500",
        "estimated_amount_ht": "1000000",
        "duration_months": 12,
        **fields,
    }
    return marches.create_marche(
        session=session,
        actor=actor,
        reference=reference,
        buyer_id=buyer_id,
        territory_id=territory_id,
        start_process=start_process,
        **values,
    )


def with_target(session, m: Marche, hours: int, lot_id: int | None = None) -> Clause:
    """Give the marché (or a lot) an insertion clause with a target, skipping the calibration."""
    clause = Clause(
        disposition="clause_insertion", legal_article="L2112-2", hours_target=Decimal(hours)
    )
    clause.lot_id = lot_id
    m.clauses.append(clause)
    session.flush()
    return clause


def notified(
    session,
    m: Marche,
    *,
    on: date = date(2026, 1, 1),
    holders: list[tuple[str, str]] | None = None,
) -> Marche:
    holders = holders if holders is not None else [(SIRETS[0], "BTP Val-de-Marne")]
    return marches.record_notification(
        session=session,
        actor=ADMIN,
        marche_id=m.id,
        notification_date=on,
        final_amount_ht=m.estimated_amount_ht,
        holders=holders,
    )


def person(
    session,
    actor: Actor,
    territory_id: int,
    *,
    eligible_on: date | None = date(2025, 12, 1),
    kind: str = "rsa",
    **fields: Any,
):
    values = {"first_name": "Karim", "last_name": "Benali", "birth_year": 1979, "sex": "H"}
    values.update(fields)
    beneficiary = beneficiaires.create(
        session=session, actor=actor, territory_id=territory_id, **values
    )
    if eligible_on is not None:
        beneficiaries_add(session, actor, beneficiary.id, eligible_on, kind)
    return beneficiary


def beneficiaries_add(session, actor: Actor, beneficiary_id: int, on: date, kind: str = "rsa"):
    return beneficiaires.add_criterion(
        session=session,
        actor=actor,
        beneficiary_id=beneficiary_id,
        kind=kind,
        validated_on=on,
        prescriber="France Travail",
    )
