"""Demonstration data for the embedded default: one territory of the Val-de-Marne, its charter and
facilitator, two buyers, inclusive structures, and five marchés at different phases — the last one
in execution, with beneficiaries, hours records (some flagged) and its monthly reports.

People, companies and SIRET numbers are fictitious. Dates are relative to the day of loading, so
the marché in execution is always a few months in.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from workflows.access import SYSTEM, Actor
from workflows.accounts import service as accounts
from workflows.beneficiaires import service as beneficiaires
from workflows.engine import runtime, timers
from workflows.engine.models import HumanTask, Instance
from workflows.execution import service as execution
from workflows.gouvernance import committees
from workflows.indicateurs import service as indicateurs
from workflows.marches import service as marches
from workflows.marches.models import Marche
from workflows.referentiel import service as referentiel
from workflows.referentiel.models import InclusiveStructure
from workflows.values import add_months, first_of_month

COMMUNES = [
    ("commune", "94028", "Créteil"),
    ("commune", "94002", "Alfortville"),
    ("commune", "94044", "Limeil-Brévannes"),
    ("commune", "94011", "Bonneuil-sur-Marne"),
    ("commune", "94004", "Boissy-Saint-Léger"),
]
STRUCTURES = [
    ("ACI", "Les Ateliers du Val", "44321098700014", "94000", "Créteil"),
    ("ETTI", "Intérim Solidaire 94", "88765432100017", "94140", "Alfortville"),
    ("ESAT", "ESAT Les Jardins de Brévannes", "31239876500015", "94450", "Limeil-Brévannes"),
]
FACILITATOR = "camille.martin"
ROUTES_HOLDER = "Routes et Réseaux du Val (SIRET 512 345 678 00019)"

# reference, buyer (0 = GPSEA, 1 = Créteil), marché fields
MARCHES: list[tuple[str, int, dict[str, Any]]] = [
    (
        "DEMO-2026-001",
        1,
        {
            "subject": "Réhabilitation du groupe scolaire Jean-Jaurès",
            "estimated_amount_ht": "2400000",
            "duration_months": 18,
            "nature": "travaux",
            "cpv_code": "45214200",
            "place_of_execution": "Créteil (94)",
        },
    ),
    (
        "DEMO-2026-002",
        0,
        {
            "subject": "Nettoyage des locaux de l'hôtel de territoire",
            "estimated_amount_ht": "640000",
            "duration_months": 36,
            "nature": "services",
            "cpv_code": "90910000",
            "place_of_execution": "Créteil (94)",
        },
    ),
    (
        "DEMO-2026-003",
        0,
        {
            "subject": "Entretien des espaces verts des parcs du territoire",
            "estimated_amount_ht": "280000",
            "duration_months": 24,
            "nature": "services",
            "cpv_code": "77310000",
            "place_of_execution": "Boissy-Saint-Léger (94)",
        },
    ),
    (
        "DEMO-2026-004",
        1,
        {
            "subject": "Fourniture de mobilier de bureau",
            "estimated_amount_ht": "120000",
            "duration_months": 12,
            "nature": "fournitures",
            "cpv_code": "39130000",
            "place_of_execution": "Créteil (94)",
        },
    ),
    (
        "DEMO-2026-005",
        0,
        {
            "subject": "Requalification des voiries du quartier du Mont-Mesly",
            "estimated_amount_ht": "2400000",
            "duration_months": 18,
            "nature": "travaux",
            "cpv_code": "45233140",
            "place_of_execution": "Créteil (94)",
        },
    ),
]


def _steps(notified: date) -> list[list[tuple[str, dict[str, Any]]]]:
    """For each marché, the lifecycle tasks to complete, in order, with their form data."""
    return [
        [
            ("analyse_amont", {}),
            (
                "choisir_disposition",
                {
                    "disposition": "clause_insertion",
                    "justification_disposition": "Lots très techniques : le critère "
                    "d'attribution est écarté, la clause d'exécution suffit.",
                },
            ),
        ],
        [
            ("analyse_amont", {}),
            ("choisir_disposition", {"disposition": "clause_insertion"}),
            (
                "calibrer_heures",
                {
                    "heures_retenues": 950,
                    "justification_calibrage": "Trois ans d'exécution : objectif porté à 950 h "
                    "pour permettre des parcours longs.",
                },
            ),
            ("valider_calibrage", {"calibrage_valide": True}),
        ],
        [
            ("analyse_amont", {}),
            ("choisir_disposition", {"disposition": "marche_reserve", "type_reservation": "siae"}),
            (
                "rediger_consultation",
                {"reference_consultation": "2026-SIAE-04", "date_publication": "2026-10-05"},
            ),
        ],
        [("analyse_amont", {})],
        [
            ("analyse_amont", {}),
            ("choisir_disposition", {"disposition": "clause_et_critere"}),
            ("calibrer_heures", {}),
            ("valider_calibrage", {"calibrage_valide": True}),
            (
                "rediger_consultation",
                {
                    "reference_consultation": "2026-TRX-11",
                    "date_publication": add_months(notified, -3).isoformat(),
                },
            ),
            (
                "analyser_offres",
                {
                    "analyse_critere": "L'offre retenue propose un tutorat et un partenariat "
                    "avec une ETTI locale.",
                    "ponderation_critere": 10,
                },
            ),
            (
                "enregistrer_notification",
                {
                    "titulaires": ROUTES_HOLDER,
                    "date_notification": notified.isoformat(),
                    "montant_final_ht": 2_310_000,
                },
            ),
            (
                "tenir_reunion_lancement",
                {
                    "date_reunion": notified.replace(day=10).isoformat(),
                    "compte_rendu": "Présentation de la clause, des publics et des voies "
                    "de réalisation ; premier point mensuel fixé.",
                },
            ),
        ],
    ]


def _complete(session: Session, instance_id: int, element_id: str, data: dict[str, Any]) -> None:
    task = session.scalars(
        select(HumanTask).where(
            HumanTask.instance_id == instance_id,
            HumanTask.element_id == element_id,
            HumanTask.state == "open",
        )
    ).one()
    runtime.complete_task(session=session, task_id=task.id, data=data, actor="demo")


def _referential(session: Session) -> tuple[list[int], int, Actor]:
    """Charter, territory, facilitator, buyers, structures: (buyer ids, territory id, actor)."""
    charter = referentiel.create_charter(
        session=session,
        actor=SYSTEM,
        name="Charte d'engagement achat socialement responsable de Grand Paris Sud Est Avenir",
        start_date=date(2019, 12, 11),
        insertion_rate=Decimal("0.05"),
        hourly_cost=Decimal("30"),
        late_margin=Decimal("0.10"),
    )
    territory = referentiel.create_territory(
        session=session,
        actor=SYSTEM,
        code="GPSEA",
        name="Grand Paris Sud Est Avenir",
        charter_id=charter.id,
        areas=COMMUNES,
    )
    pci = referentiel.create_organisation(
        session=session,
        actor=SYSTEM,
        kind="facilitateur",
        name="Pôle Compétences Initiatives (PLIE de GPSEA)",
        postcode="94000",
        city="Créteil",
    )
    referentiel.create_facilitator(
        session=session,
        actor=SYSTEM,
        login=FACILITATOR,
        full_name="Camille Martin",
        email="camille.martin@pci94.example",
        organisation_id=pci.id,
        territory_ids=[territory.id],
    )
    buyers = [
        referentiel.create_organisation(
            session=session, actor=SYSTEM, kind="acheteur", name=name, siret=siret, city="Créteil"
        ).id
        for name, siret in (
            ("Grand Paris Sud Est Avenir (établissement public territorial)", "20005800600012"),
            ("Ville de Créteil", "21940028000018"),
        )
    ]
    for kind, name, siret, postcode, city in STRUCTURES:
        referentiel.create_structure(
            session=session,
            actor=SYSTEM,
            kind=kind,
            name=name,
            siret=siret,
            territory_id=territory.id,
            postcode=postcode,
            city=city,
        )
    return buyers, territory.id, referentiel.actor_for(session=session, login=FACILITATOR)


DEMO_PASSWORD = "demo-clausier-2026"
# login, role, buyer index (acheteur) — every demo account has DEMO_PASSWORD
DEMO_ACCOUNTS = [
    ("admin", "admin", None),
    ("acheteur.gpsea", "acheteur", 0),
    ("acheteur.creteil", "acheteur", 1),
    (FACILITATOR, "facilitateur", None),
    ("coordination", "coordinateur", None),
]


def _accounts(session: Session, buyers: list[int], territory_id: int) -> None:
    """Accounts to try the product with (printed by `clausier serve --demo`)."""
    for login, role, buyer in DEMO_ACCOUNTS:
        accounts.create(
            session=session,
            login=login,
            role=role,
            password=DEMO_PASSWORD,
            email=f"{login}@demo.clausier.example",
            organisation_id=buyers[buyer] if buyer is not None else None,
            territory_ids=[territory_id] if role in ("facilitateur", "coordinateur") else [],
        )


def load_demo(*, session: Session) -> int:
    """Create the demonstration data unless the database already holds instances or marchés."""
    if session.scalar(select(func.count()).select_from(Instance)) or session.scalar(
        select(func.count()).select_from(Marche)
    ):
        return 0
    buyers, territory_id, facilitator = _referential(session)
    notified = add_months(first_of_month(timers.now().date()), -5)
    for (reference, buyer, fields), steps in zip(MARCHES, _steps(notified), strict=True):
        buyer_actor = Actor(login="demo", role="acheteur", organisation_id=buyers[buyer])
        marche = marches.create_marche(
            session=session,
            actor=buyer_actor,
            reference=reference,
            buyer_id=buyers[buyer],
            territory_id=territory_id,
            **fields,
        )
        for element_id, data in steps:
            _complete(session, marche.instance_id, element_id, data)
    _execution(session, facilitator, territory_id, notified)
    _accounts(session, buyers, territory_id)
    year = timers.now().year  # the Essonne charter's targets, on a 3-year period from this year
    indicateurs.seed_essonne_objectives(
        session=session,
        actor=SYSTEM,
        territory_id=territory_id,
        period=(date(year, 1, 1), date(year + 2, 12, 31)),
    )
    if committees.deployed(session):  # GPSEA's comité technique, as the daily job would start it
        committees.start_missing(session=session, territory="GPSEA", actor="demo")
    return len(MARCHES)


# first name, last name, birth year, sex, postcode, criterion, validated (months after notification,
# day), contract start (months, day), route, contract type, monthly hours, months worked
PEOPLE = [
    ("Karim", "Benali", 1979, "H", "94000", "rsa", (0, 1), (0, 2), "embauche_directe", "cdd", 42),
    (
        "Julie",
        "Moreau",
        2004,
        "F",
        "94140",
        "jeune_peu_qualifie",
        (1, 20),
        (2, 1),
        "etti",
        "interim",
        24,
    ),
    (
        "Mamadou",
        "Diallo",
        1968,
        "H",
        "94450",
        "deld",
        (2, 20),
        (2, 4),
        "embauche_directe",
        "cdd",
        56,
    ),
]


def _execution(session: Session, actor: Actor, territory_id: int, notified: date) -> None:
    """Beneficiaries and hours of the marché in execution, then its past monthly reports."""
    marche = marches.get_by_reference(session=session, actor=actor, reference="DEMO-2026-005")
    (holder, _lot), *_ = marches.get_holders(session=session, marche_id=marche.id)
    structures = {s.kind: s.id for s in _structures(session, territory_id)}
    monthly: dict[date, Decimal] = {}
    for first, last, year, sex, postcode, kind, validated, start, route, contract, hours in PEOPLE:
        person = beneficiaires.create(
            session=session,
            actor=actor,
            territory_id=territory_id,
            first_name=first,
            last_name=last,
            birth_year=year,
            sex=sex,
            postcode=postcode,
        )
        beneficiaires.add_criterion(
            session=session,
            actor=actor,
            beneficiary_id=person.id,
            kind=kind,
            validated_on=add_months(notified, validated[0]).replace(day=validated[1]),
            prescriber="France Travail" if kind != "jeune_peu_qualifie" else "Mission locale",
        )
        contract_start = add_months(notified, start[0]).replace(day=start[1])
        month = first_of_month(contract_start)
        while month < first_of_month(timers.now().date()):
            record = execution.record_hours(
                session=session,
                actor=actor,
                marche_id=marche.id,
                holder_id=holder.id,
                beneficiary_id=person.id,
                month=month,
                hours=hours,
                route=route,
                contract_type=contract,
                contract_start=contract_start,
                structure_id=structures.get("ETTI") if route == "etti" else None,
            )
            if record.counted:
                monthly[month] = monthly.get(month, Decimal(0)) + record.hours
            month = add_months(month, 1)
    _monthly_reports(session, marche, monthly)


def _structures(session: Session, territory_id: int):
    return session.scalars(
        select(InclusiveStructure).where(InclusiveStructure.territory_id == territory_id)
    )


def _monthly_reports(session: Session, marche: Marche, monthly: dict[date, Decimal]) -> None:
    """Complete the reports already due, each with the counted hours of the month before it."""
    for _ in range(marche.duration_months + 1):
        task = session.scalars(
            select(HumanTask).where(
                HumanTask.instance_id == marche.instance_id,
                HumanTask.element_id == "saisir_rapport",
                HumanTask.state == "open",
            )
        ).first()
        if task is None:
            return
        data = runtime.variables(session=session, instance_id=marche.instance_id)
        covered = add_months(first_of_month(date.fromisoformat(data["prochain_rapport"])), -1)
        runtime.complete_task(
            session=session,
            task_id=task.id,
            data={"heures_realisees_mois": float(monthly.get(covered, Decimal(0)))},
            actor="demo",
        )
