"""Beneficiaries (personal data) and their eligibility criteria.

Data minimisation (RGPD art. 5-1-c): only what the clause needs is kept — first and last name (to
match the holder's reports), birth year and the age band it gives (the "moins de 26 ans" and
"senior" publics, never a full birth date), sex (gender-balance indicator), postcode (local-hire
and QPV indicators), the territory following the person, and each eligibility criterion with its
validation date, validator and prescriber. No free-text notes: they attract sensitive details.
Some criteria (RQTH, AAH, invalidité) reveal health data (art. 9): the records are shown to the
facilitators of the marchés' territories only, every read is logged, and buyers get aggregates.
Erasure and retention anonymise the row in place so hours and outcomes still add up.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from workflows.engine.models import Base, utcnow

CRITERIA = {
    "deld": "Demandeur d'emploi de longue durée (12 mois, ou 24 mois en chômage récurrent)",
    "rsa": "Allocataire du RSA",
    "ass": "Allocataire de l'ASS",
    "aah": "Allocataire de l'AAH",
    "invalidite": "Titulaire d'une pension d'invalidité",
    "rqth": "Travailleur handicapé reconnu (RQTH)",
    "jeune_peu_qualifie": "Jeune de moins de 26 ans peu ou pas qualifié, ou sans expérience",
    "senior": "Demandeur d'emploi senior",
    "parcours_iae": "Salarié en parcours dans une SIAE",
    "autre_exclusion": "Personne durablement exclue de l'emploi, sur avis d'un prescripteur",
}
SEXES = {"F": "Femme", "H": "Homme"}
AGE_BANDS = ("moins de 26 ans", "26 à 49 ans", "50 ans et plus")


class Beneficiary(Base):
    """A person in insertion hired under a clause (bénéficiaire)."""

    __tablename__ = "beneficiary"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stable pseudonymous code for exports and bilans that must not carry names.
    pseudonym: Mapped[str] = mapped_column(String(20), unique=True)
    territory_id: Mapped[int] = mapped_column(ForeignKey("territory.id"), index=True)
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    birth_year: Mapped[int | None]
    age_band: Mapped[str | None] = mapped_column(String(20))
    sex: Mapped[str | None] = mapped_column(String(1))
    postcode: Mapped[str | None] = mapped_column(String(5))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(200))
    erased_at: Mapped[datetime | None] = mapped_column(index=True)

    criteria: Mapped[list[EligibilityCriterion]] = relationship(
        cascade="all, delete-orphan", order_by="EligibilityCriterion.validated_on"
    )


class EligibilityCriterion(Base):
    """One reason a person is eligible, validated on a date by a facilitator."""

    __tablename__ = "eligibility_criterion"

    id: Mapped[int] = mapped_column(primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(
        ForeignKey("beneficiary.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(30))
    validated_on: Mapped[date] = mapped_column(Date)
    validator: Mapped[str | None] = mapped_column(String(200))
    # France Travail, Mission locale, PLIE, Cap emploi, département…
    prescriber: Mapped[str | None] = mapped_column(String(200))
