"""Reference data: organisations, charters, territories, facilitators, holders, structures.

A territory is what one facilitator structure covers (départements and/or communes); it follows a
charter whose calibration parameters it may override. People (facilitators, coordinators) are kept
with their professional contact only.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    Numeric,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflows.engine.models import Base, utcnow

ORGANISATION_KINDS = {
    "acheteur": "Acheteur (donneur d'ordre)",
    "facilitateur": "Structure facilitatrice (PLIE, maison de l'emploi, agglomération…)",
    "coordination": "Coordination départementale ou guichet régional",
    "autre": "Autre partenaire",
}

STRUCTURE_KINDS = {
    "EI": "Entreprise d'insertion",
    "ETTI": "Entreprise de travail temporaire d'insertion",
    "AI": "Association intermédiaire",
    "ACI": "Atelier et chantier d'insertion",
    "GEIQ": "Groupement d'employeurs pour l'insertion et la qualification",
    "EA": "Entreprise adaptée",
    "ESAT": "Établissement et service d'aide par le travail",
}

AREA_KINDS = {"departement": "Département", "commune": "Commune"}


class Organisation(Base):
    """A buyer, a facilitator structure, a coordination or another partner."""

    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str] = mapped_column(String(300))
    siret: Mapped[str | None] = mapped_column(String(14), unique=True)
    postcode: Mapped[str | None] = mapped_column(String(5))
    city: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Charter(Base):
    """A charter (charte d'engagement) and the calibration practice it sets."""

    __tablename__ = "charter"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    # Minimum share of the labour reserved to insertion (Essonne charter art. 4.3: 5 %).
    insertion_rate: Mapped[Decimal] = mapped_column(Numeric(5, 4), default=Decimal("0.05"))
    hourly_cost: Mapped[Decimal] = mapped_column(Numeric(8, 2), default=Decimal("30"))
    # "formule" (amount × labour share × rate ÷ cost) or "ratio" (1 h per N € HT).
    calibration_method: Mapped[str] = mapped_column(String(10), default="formule")
    euros_per_hour: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    # "En retard" when the gap to the expected hours exceeds this share of the target.
    late_margin: Mapped[Decimal] = mapped_column(Numeric(5, 4), default=Decimal("0.10"))


territory_facilitator = Table(
    "territory_facilitator",
    Base.metadata,
    Column("territory_id", ForeignKey("territory.id", ondelete="CASCADE"), primary_key=True),
    Column("facilitator_id", ForeignKey("facilitator.id", ondelete="CASCADE"), primary_key=True),
)


class Facilitator(Base):
    """A person of a facilitator structure or coordination (facilitateur, coordinateur)."""

    __tablename__ = "facilitator"

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(200), unique=True)
    full_name: Mapped[str] = mapped_column(String(300))
    email: Mapped[str | None] = mapped_column(String(300))
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)


class Territory(Base):
    """The area one facilitator structure covers; parameters left empty come from its charter."""

    __tablename__ = "territory"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    charter_id: Mapped[int | None] = mapped_column(ForeignKey("charter.id"), index=True)
    coordinator_id: Mapped[int | None] = mapped_column(ForeignKey("facilitator.id"))
    insertion_rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 4))
    hourly_cost: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    calibration_method: Mapped[str | None] = mapped_column(String(10))
    euros_per_hour: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    late_margin: Mapped[Decimal | None] = mapped_column(Numeric(5, 4))

    areas: Mapped[list[TerritoryArea]] = relationship(
        back_populates="territory", cascade="all, delete-orphan", order_by="TerritoryArea.code"
    )
    facilitators: Mapped[list[Facilitator]] = relationship(
        secondary=territory_facilitator, order_by="Facilitator.full_name"
    )
    charter: Mapped[Charter | None] = relationship()


class TerritoryArea(Base):
    """A département or a commune (INSEE code) covered by a territory."""

    __tablename__ = "territory_area"
    __table_args__ = (UniqueConstraint("territory_id", "kind", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    territory_id: Mapped[int] = mapped_column(
        ForeignKey("territory.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(5), index=True)
    name: Mapped[str] = mapped_column(String(200))

    territory: Mapped[Territory] = relationship(back_populates="areas")


class Holder(Base):
    """A company holding a marché (titulaire), identified by its SIRET."""

    __tablename__ = "holder"

    id: Mapped[int] = mapped_column(primary_key=True)
    siret: Mapped[str] = mapped_column(String(14), unique=True)
    name: Mapped[str] = mapped_column(String(300))
    postcode: Mapped[str | None] = mapped_column(String(5))
    city: Mapped[str | None] = mapped_column(String(200))


class InclusiveStructure(Base):
    """An SIAE (EI, ETTI, AI, ACI), a GEIQ, an EA or an ESAT."""

    __tablename__ = "inclusive_structure"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(10), index=True)
    name: Mapped[str] = mapped_column(String(300))
    siret: Mapped[str | None] = mapped_column(String(14), unique=True)
    territory_id: Mapped[int | None] = mapped_column(ForeignKey("territory.id"), index=True)
    postcode: Mapped[str | None] = mapped_column(String(5))
    city: Mapped[str | None] = mapped_column(String(200))
