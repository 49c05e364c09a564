"""Governance: meetings (kickoff, committees, site visits) and territory objectives per period."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from workflows.engine.models import Base

MEETING_KINDS = {
    "lancement": "Réunion de lancement",
    "visite": "Visite de chantier ou de site",
    "point_etape": "Point d'étape avec le titulaire",
    "comite_technique": "Comité technique",
    "comite_suivi": "Comité de suivi territorial",
    "comite_pilotage": "Comité de pilotage",
}
THEMES = {
    "acheteurs": "Acheteurs",
    "acteurs_economiques": "Acteurs économiques",
    "ess_iae": "ESS, IAE et secteur protégé",
    "emploi_insertion": "Acteurs de l'emploi, de l'insertion et de la formation",
}
# The charter indicators (Essonne art. 3) a territory sets objectives on.
INDICATORS = {
    "heures": "Heures d'insertion générées",
    "beneficiaires": "Nombre de bénéficiaires",
    "acheteurs": "Nombre de donneurs d'ordre impliqués",
    "operations": "Nombre d'opérations clausées",
    "duree_moyenne_contrat_mois": "Durée moyenne des contrats (mois)",
    "part_sorties_durables": "Part des sorties durables (CDI, CDD de 6 mois ou plus)",
    "part_femmes": "Part de femmes parmi les bénéficiaires",
    "beneficiaires_rsa": "Nombre d'allocataires du RSA bénéficiaires",
}


class Meeting(Base):
    """A meeting about one marché (kickoff, visit) or one territory (committees)."""

    __tablename__ = "meeting"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    held_on: Mapped[date] = mapped_column(Date, index=True)
    marche_id: Mapped[int | None] = mapped_column(
        ForeignKey("marche.id", ondelete="CASCADE"), index=True
    )
    territory_id: Mapped[int | None] = mapped_column(ForeignKey("territory.id"), index=True)
    theme: Mapped[str | None] = mapped_column(String(30))
    title: Mapped[str | None] = mapped_column(String(300))
    participants: Mapped[str | None] = mapped_column(Text)
    minutes: Mapped[str | None] = mapped_column(Text)


class TerritoryObjective(Base):
    """A territory's target on one indicator for one period (e.g. 2018-2020: 2 000 000 h)."""

    __tablename__ = "territory_objective"
    __table_args__ = (UniqueConstraint("territory_id", "indicator", "period_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(
        ForeignKey("territory.id", ondelete="CASCADE"), index=True
    )
    indicator: Mapped[str] = mapped_column(String(40))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    target: Mapped[Decimal] = mapped_column(Numeric(14, 2))
