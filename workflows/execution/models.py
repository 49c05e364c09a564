"""Execution follow-up: monthly hours records and the outcome at the end of each contract."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Index, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from workflows.engine.models import Base, utcnow

# How the holder delivers the hours (Essonne charter art. 4.3), with the structures each involves.
ROUTES = {
    "embauche_directe": "Embauche directe",
    "etti": "Mise à disposition par une ETTI",
    "geiq": "Mise à disposition par un GEIQ",
    "ai": "Mise à disposition par une association intermédiaire",
    "sous_traitance": "Sous-traitance à une structure inclusive",
    "cotraitance": "Co-traitance avec une structure inclusive",
}
ROUTE_STRUCTURES: dict[str, set[str]] = {
    "embauche_directe": set(),
    "etti": {"ETTI"},
    "geiq": {"GEIQ"},
    "ai": {"AI"},
    "sous_traitance": {"EI", "ACI", "EA", "ESAT"},
    "cotraitance": {"EI", "ACI", "EA", "ESAT"},
}
CONTRACT_TYPES = {
    "cdi": "CDI",
    "cdd": "CDD",
    "cddi": "CDDI (contrat à durée déterminée d'insertion)",
    "interim": "Mission d'intérim (CTT ou CTTI)",
    "contrat_pro": "Contrat de professionnalisation",
    "apprentissage": "Contrat d'apprentissage",
    "mise_a_disposition": "Mise à disposition (AI, GEIQ)",
    "autre": "Autre",
}
COUNTING_METHODS = {
    "heures_travaillees": "Heures travaillées (relevés, bulletins de paie)",
    "conversion_montant": "Montant facturé converti en heures (sous-traitance, co-traitance)",
    "forfait": "Forfait convenu avec le facilitateur",
}
OUTCOME_KINDS = {
    "cdi": "CDI",
    "cdd_6_mois_plus": "CDD de 6 mois ou plus",
    "cdd_moins_6_mois": "CDD de moins de 6 mois",
    "interim": "Intérim",
    "contrat_aide": "Contrat aidé ou parcours IAE",
    "formation_qualifiante": "Formation qualifiante",
    "creation_entreprise": "Création d'entreprise",
    "recherche_emploi": "Sans emploi, en recherche",
    "abandon": "Abandon ou rupture",
    "autre": "Autre",
}
# Essonne charter indicator: a durable outcome is a CDI or a CDD of 6 months or more.
DURABLE_OUTCOMES = frozenset({"cdi", "cdd_6_mois_plus"})


class HoursRecord(Base):
    """Hours one beneficiary worked for one holder in one month, by one route.

    `counted` is False (and `flag` says why) when the person's eligibility was not validated on
    or before `contract_start`: such hours are kept but do not count towards the target.
    """

    __tablename__ = "hours_record"
    __table_args__ = (
        Index("ix_hours_record_marche_month", "marche_id", "month"),
        # Covers the indicator aggregates (workflows/indicateurs): no table access for them.
        Index(
            "ix_hours_record_indicators", "marche_id", "month", "counted", "beneficiary_id", "hours"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    marche_id: Mapped[int] = mapped_column(ForeignKey("marche.id", ondelete="CASCADE"))
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lot.id", ondelete="SET NULL"))
    holder_id: Mapped[int] = mapped_column(ForeignKey("holder.id"), index=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiary.id"), index=True)
    structure_id: Mapped[int | None] = mapped_column(ForeignKey("inclusive_structure.id"))
    month: Mapped[date] = mapped_column(Date, index=True)  # first day of the month
    hours: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    training_hours: Mapped[Decimal] = mapped_column(Numeric(12, 2), default=Decimal(0))
    route: Mapped[str] = mapped_column(String(20), index=True)
    contract_type: Mapped[str] = mapped_column(String(20))
    contract_start: Mapped[date] = mapped_column(Date)
    counting_method: Mapped[str] = mapped_column(String(20))
    counted: Mapped[bool] = mapped_column(Boolean, default=True)
    flag: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(200))


class Outcome(Base):
    """What became of a beneficiary at the end of a contract (sortie)."""

    __tablename__ = "outcome"

    id: Mapped[int] = mapped_column(primary_key=True)
    marche_id: Mapped[int] = mapped_column(ForeignKey("marche.id", ondelete="CASCADE"), index=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiary.id"), index=True)
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("holder.id"))
    contract_start: Mapped[date] = mapped_column(Date)
    contract_end: Mapped[date] = mapped_column(Date, index=True)
    kind: Mapped[str] = mapped_column(String(30))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    recorded_by: Mapped[str | None] = mapped_column(String(200))
