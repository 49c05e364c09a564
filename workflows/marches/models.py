"""Marchés, their lots, territories and holders, and the social clauses with their calibration.

A marché belongs to one lead territory (its facilitator coordinates) and may involve other
territories, each with its facilitator attached (PACA convention art. 2). The buyer's choice of
disposition is kept beside the advice it was given; each clause (whole marché or one lot) keeps
the calibration inputs and every override with its author, value and justification.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflows.engine.models import Base, utcnow

NATURES = {"travaux": "Travaux", "services": "Services", "fournitures": "Fournitures"}

# Values of the lifecycle form `choisir_disposition` (bpmn/marche_clause_sociale.bpmn).
DISPOSITIONS = {
    "aucune": "Aucune disposition sociale",
    "clause_insertion": "Clause d'insertion, condition d'exécution",
    "clause_et_critere": "Clause d'insertion et critère d'attribution",
    "marche_reserve": "Marché ou lot réservé",
    "insertion_objet": "Marché dont l'insertion est l'objet (services de qualification)",
}
RESERVATIONS = {
    "ea_esat": "Réservé aux entreprises adaptées et ESAT",
    "siae": "Réservé aux structures d'insertion par l'activité économique",
    "ess": "Réservé aux entreprises de l'ESS (services sociaux, de santé, culturels)",
}
# Code de la commande publique (2019).
ARTICLES = {
    ("clause_insertion", None): "L2112-2",
    ("clause_et_critere", None): "L2112-2 ; R2152-7",
    ("marche_reserve", "ea_esat"): "L2113-12",
    ("marche_reserve", "siae"): "L2113-13",
    ("marche_reserve", "ess"): "L2113-15",
    ("insertion_objet", None): "R2123-1",
}
# Articles cited by older documents (CMP 2006, ordonnance 2015 / décret 2016) → code 2019.
LEGACY_ARTICLES = {
    "CMP 2006 art. 14": "L2112-2",
    "CMP 2006 art. 15": "L2113-12",
    "CMP 2006 art. 30": "R2123-1",
    "CMP 2006 art. 53": "R2152-7",
    "Ordonnance 2015 art. 36-1": "L2113-12",
    "Ordonnance 2015 art. 36-2": "L2113-13",
    "Ordonnance 2015 art. 37": "L2113-15",
    "Ordonnance 2015 art. 38": "L2112-2",
    "Ordonnance 2015 art. 52": "R2152-7",
    "Décret 2016 art. 28": "R2123-1",
    "Décret 2016 art. 62": "R2152-7",
}
# DECP v2 `considerationsSociales` values of each disposition (open data).
DECP_CONSIDERATIONS = {
    "aucune": ["Pas de considération sociale"],
    "clause_insertion": ["Clause sociale"],
    "clause_et_critere": ["Clause sociale", "Critère social"],
    "marche_reserve": ["Marché réservé"],
    "insertion_objet": ["Clause sociale"],
}
PHASES = (
    "analyse",
    "calibrage",
    "consultation",
    "notification",
    "lancement",
    "execution",
    "bilan",
    "clos",
)


class Marche(Base):
    """A public contract (marché) followed from the purchase project to the bilan."""

    __tablename__ = "marche"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(100), unique=True)
    subject: Mapped[str] = mapped_column(String(500))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"), index=True)
    lead_facilitator_id: Mapped[int | None] = mapped_column(ForeignKey("facilitator.id"))
    nature: Mapped[str] = mapped_column(String(20))
    cpv_code: Mapped[str] = mapped_column(String(10), index=True)
    estimated_amount_ht: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    is_framework: Mapped[bool] = mapped_column(Boolean, default=False)
    max_amount_ht: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    final_amount_ht: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    duration_months: Mapped[int]
    place_of_execution: Mapped[str | None] = mapped_column(String(300))
    notification_date: Mapped[date | None] = mapped_column(Date)
    start_date: Mapped[date | None] = mapped_column(Date)
    planned_end_date: Mapped[date | None] = mapped_column(Date)
    consultation_reference: Mapped[str | None] = mapped_column(String(100))
    publication_date: Mapped[date | None] = mapped_column(Date)
    holders_text: Mapped[str | None] = mapped_column(Text)
    phase: Mapped[str] = mapped_column(String(20), default="analyse", index=True)
    instance_id: Mapped[int | None] = mapped_column(
        ForeignKey("instance.id", ondelete="SET NULL"), unique=True
    )
    # Upstream advice (table disposition_conseillee) and the buyer's choice.
    local_structures: Mapped[int | None]
    advice_disposition: Mapped[str | None] = mapped_column(String(30))
    advice_reservation: Mapped[str | None] = mapped_column(String(10))
    advice_article: Mapped[str | None] = mapped_column(String(50))
    advice_reason: Mapped[str | None] = mapped_column(Text)
    disposition: Mapped[str | None] = mapped_column(String(30), index=True)
    reservation: Mapped[str | None] = mapped_column(String(10))
    disposition_article: Mapped[str | None] = mapped_column(String(50))
    against_advice: Mapped[bool] = mapped_column(Boolean, default=False)
    disposition_justification: Mapped[str | None] = mapped_column(Text)
    disposition_chosen_at: Mapped[datetime | None]
    no_disposition_reason: Mapped[str | None] = mapped_column(Text)
    bilan_text: Mapped[str | None] = mapped_column(Text)
    bilan_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(200))

    lots: Mapped[list[Lot]] = relationship(
        back_populates="marche", cascade="all, delete-orphan", order_by="Lot.number"
    )
    attached: Mapped[list[MarcheTerritory]] = relationship(
        cascade="all, delete-orphan", order_by="MarcheTerritory.territory_id"
    )
    clauses: Mapped[list[Clause]] = relationship(
        back_populates="marche", cascade="all, delete-orphan", order_by="Clause.id"
    )

    @property
    def territory_ids(self) -> set[int]:
        """The lead territory and the attached ones."""
        return {self.territory_id, *(a.territory_id for a in self.attached)}


class MarcheTerritory(Base):
    """Another territory a marché spans, with that territory's facilitator attached."""

    __tablename__ = "marche_territory"

    marche_id: Mapped[int] = mapped_column(
        ForeignKey("marche.id", ondelete="CASCADE"), primary_key=True
    )
    territory_id: Mapped[int] = mapped_column(
        ForeignKey("territory.id"), primary_key=True, index=True
    )
    facilitator_id: Mapped[int | None] = mapped_column(ForeignKey("facilitator.id"))


class Lot(Base):
    """A lot of a marché; it may carry its own clause and calibration."""

    __tablename__ = "lot"
    __table_args__ = (UniqueConstraint("marche_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    marche_id: Mapped[int] = mapped_column(ForeignKey("marche.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    title: Mapped[str] = mapped_column(String(500))
    cpv_code: Mapped[str | None] = mapped_column(String(10))
    estimated_amount_ht: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    final_amount_ht: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))

    marche: Mapped[Marche] = relationship(back_populates="lots")


class MarcheHolder(Base):
    """A company holding the marché, or one of its lots."""

    __tablename__ = "marche_holder"
    __table_args__ = (UniqueConstraint("marche_id", "holder_id", "lot_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    marche_id: Mapped[int] = mapped_column(ForeignKey("marche.id", ondelete="CASCADE"), index=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("holder.id"), index=True)
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lot.id", ondelete="CASCADE"))


class Clause(Base):
    """The social disposition of a marché (lot_id empty) or of one lot, with its hours target."""

    __tablename__ = "clause"
    __table_args__ = (UniqueConstraint("marche_id", "lot_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    marche_id: Mapped[int] = mapped_column(ForeignKey("marche.id", ondelete="CASCADE"), index=True)
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lot.id", ondelete="CASCADE"))
    disposition: Mapped[str] = mapped_column(String(30))
    reservation: Mapped[str | None] = mapped_column(String(10))
    legal_article: Mapped[str | None] = mapped_column(String(50))
    # Calibration inputs, as used: "formule" or "ratio"; basis "estime", "maximum" or "notifie".
    method: Mapped[str | None] = mapped_column(String(10))
    amount_basis: Mapped[str | None] = mapped_column(String(10))
    amount_ht: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    labour_share: Mapped[Decimal | None] = mapped_column(Numeric(5, 4))
    insertion_rate: Mapped[Decimal | None] = mapped_column(Numeric(5, 4))
    hourly_cost: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    euros_per_hour: Mapped[Decimal | None] = mapped_column(Numeric(10, 2))
    calculated_hours: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    hours_target: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    calibrated_at: Mapped[datetime | None]
    calibrated_by: Mapped[str | None] = mapped_column(String(200))
    validated_at: Mapped[datetime | None]
    validated_by: Mapped[str | None] = mapped_column(String(200))

    marche: Mapped[Marche] = relationship(back_populates="clauses")
    overrides: Mapped[list[CalibrationOverride]] = relationship(
        cascade="all, delete-orphan", order_by="CalibrationOverride.id"
    )


class CalibrationOverride(Base):
    """A facilitator's adjustment of the hours target: who, what, why, when."""

    __tablename__ = "calibration_override"

    id: Mapped[int] = mapped_column(primary_key=True)
    clause_id: Mapped[int] = mapped_column(ForeignKey("clause.id", ondelete="CASCADE"), index=True)
    author: Mapped[str | None] = mapped_column(String(200))
    previous_value: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    value: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    justification: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class MarcheDocument(Base):
    """A file attached to a marché (CCAP extract, notification letter, minutes…), kept in the
    database so that backups hold it; never a beneficiary's personal document."""

    __tablename__ = "marche_document"

    id: Mapped[int] = mapped_column(primary_key=True)
    marche_id: Mapped[int] = mapped_column(ForeignKey("marche.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    uploaded_by: Mapped[str] = mapped_column(String(200))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
