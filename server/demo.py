"""Demonstration data for the embedded default: a few marchés at different phases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflows.engine import runtime
from workflows.engine.models import HumanTask, Instance

ANALYSES: list[dict[str, Any]] = [
    {
        "objet": "Réhabilitation du groupe scolaire Jean-Jaurès",
        "montant_estime_ht": 2_400_000,
        "duree_mois": 18,
        "nature": "travaux",
        "code_cpv": "45214200",
        "lieu_execution": "Créteil (94)",
    },
    {
        "objet": "Nettoyage des locaux de l'hôtel de territoire",
        "montant_estime_ht": 640_000,
        "duree_mois": 36,
        "nature": "services",
        "code_cpv": "90910000",
        "lieu_execution": "Créteil (94)",
    },
    {
        "objet": "Entretien des espaces verts des parcs départementaux",
        "montant_estime_ht": 380_000,
        "duree_mois": 24,
        "nature": "services",
        "code_cpv": "77310000",
        "lieu_execution": "Boissy-Saint-Léger (94)",
    },
    {
        "objet": "Fourniture de mobilier de bureau",
        "montant_estime_ht": 120_000,
        "duree_mois": 12,
        "nature": "fournitures",
        "code_cpv": "39130000",
        "lieu_execution": "Créteil (94)",
    },
]

# For each marché: the tasks to complete, in order, with their form data.
STEPS: list[list[tuple[str, dict[str, Any]]]] = [
    [
        (
            "choisir_disposition",
            {
                "disposition": "clause_insertion",
                "justification_disposition": "Chantier à forte main-d'œuvre",
            },
        )
    ],
    [
        ("choisir_disposition", {"disposition": "clause_et_critere"}),
        (
            "calibrer_heures",
            {
                "heures_retenues": 1800,
                "justification_calibrage": "Prestation à 75 % de main-d'œuvre",
            },
        ),
        ("valider_calibrage", {"calibrage_valide": True}),
    ],
    [
        ("choisir_disposition", {"disposition": "marche_reserve", "type_reservation": "siae"}),
        (
            "rediger_consultation",
            {"reference_consultation": "2026-SIAE-04", "date_publication": "2026-10-05"},
        ),
    ],
    [],
]


def _complete(session: Session, instance: Instance, element_id: str, data: dict[str, Any]) -> None:
    task = session.scalars(
        select(HumanTask).where(
            HumanTask.instance_id == instance.id,
            HumanTask.element_id == element_id,
            HumanTask.state == "open",
        )
    ).one()
    runtime.complete_task(session=session, task_id=task.id, data=data, actor="demo")


def load_demo(*, session: Session) -> int:
    """Create the demonstration marchés unless instances already exist; returns how many."""
    if session.scalar(select(func.count()).select_from(Instance)):
        return 0
    for number, (analyse, steps) in enumerate(zip(ANALYSES, STEPS, strict=True), start=1):
        instance = runtime.start(
            session=session,
            key="marche_clause_sociale",
            business_key=f"DEMO-2026-{number:03}",
            actor="demo",
        )
        _complete(session, instance, "analyse_amont", analyse)
        for element_id, data in steps:
            _complete(session, instance, element_id, data)
    return len(ANALYSES)
