"""The bilan as a report (CSV, XLSX, PDF with charts): French labels, buyers' cells suppressed."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from workflows.access import Actor
from workflows.reports import Report, Table, render
from workflows.values import percent

from . import service
from .suppression import RULE, Group


def _rows(groups: list[Group], with_hours: bool) -> list[list]:
    if with_hours:
        return [[g.label, g.people, g.hours] for g in groups]
    return [[g.label, g.people] for g in groups]


def report(bilan: service.Bilan) -> Report:
    """The bilan laid out as key figures, tables with charts and the facilitator's text."""
    period = (
        f"Exécution du {bilan.period[0]:%d/%m/%Y} au {bilan.period[1]:%d/%m/%Y}"
        if bilan.period
        else "Marché non notifié"
    )
    rate = (
        percent((bilan.delivered / bilan.target).quantize(Decimal("0.001")))
        if bilan.target
        else None
    )
    share = bilan.durable_share
    facts = [
        ("Acheteur", bilan.buyer),
        ("Territoire", bilan.territory),
        ("Disposition sociale", bilan.disposition or "Non renseignée"),
        ("Heures d'insertion prévues", bilan.target),
        ("Heures d'insertion réalisées", bilan.delivered),
        ("Taux de réalisation", rate),
        ("Heures non comptées (éligibilité non validée à temps)", bilan.flagged),
        ("Bénéficiaires", bilan.people),
        ("Contrats", bilan.contracts),
        ("Durée moyenne des contrats (mois)", bilan.average_contract_months),
        ("Sorties enregistrées", bilan.outcomes_total),
        ("Sorties durables (CDI, CDD de 6 mois ou plus)", bilan.durable),
        ("Part des sorties durables", percent(share) if share is not None else None),
    ]
    people = "Personnes"
    tables = [
        Table(
            "Heures par titulaire",
            ["Titulaire", "Heures prévues", "Heures réalisées"],
            [[h.label, h.target, h.delivered] for h in bilan.holders],
            chart="bar",
            chart_column=2,
        ),
        Table(
            "Heures par voie de réalisation",
            ["Voie", people, "Heures"],
            _rows(bilan.by_route, True),
            chart="bar",
            chart_column=2,
        ),
        Table(
            "Heures par public (critère d'éligibilité)",
            ["Public", people, "Heures"],
            _rows(bilan.by_public, True),
            chart="bar",
            chart_column=2,
            note="Une personne relevant de plusieurs publics compte dans chacun d'eux.",
        ),
        Table("Bénéficiaires par sexe", ["Sexe", people], _rows(bilan.by_sex, False), "pie"),
        Table("Bénéficiaires par âge", ["Tranche d'âge", people], _rows(bilan.by_age, False)),
        Table(
            "Contrats par type",
            ["Type de contrat", people],
            _rows(bilan.by_contract_type, False),
            chart="bar",
        ),
        Table("Sorties", ["Sortie", people], _rows(bilan.by_outcome, False), chart="bar"),
    ]
    if bilan.detail is not None:
        tables.append(
            Table(
                "Détail par bénéficiaire (pseudonymes)",
                ["Pseudonyme", "Sexe", "Âge", "Critères", "Heures", "Contrats", "Sorties"],
                [
                    [p.pseudonym, p.sex, p.age_band, p.criteria, p.hours, p.contracts, p.outcomes]
                    for p in bilan.detail
                ],
            )
        )
    footnotes = [RULE] if bilan.audience == "acheteur" else [
        "Document interne au facilitateur : données pseudonymisées, ne pas diffuser à l'acheteur."
    ]  # fmt: skip
    return Report(
        title=f"Bilan du marché {bilan.reference}",
        subtitle=f"{bilan.subject} — {period}",
        facts=facts,
        tables=tables,
        sections=[("Bilan qualitatif du facilitateur", bilan.text or "Non rédigé.")],
        footnotes=footnotes,
    )


def export_bilan(*, session: Session, actor: Actor, marche_id: int, fmt: str) -> bytes:
    """The marché's bilan as CSV, XLSX or PDF bytes, as the actor may see it."""
    return render(report(service.get_bilan(session=session, actor=actor, marche_id=marche_id)), fmt)
