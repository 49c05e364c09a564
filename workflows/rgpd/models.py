"""The access log of beneficiary records (who read or changed whose data, when)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from workflows.engine.models import Base, utcnow

ACTIONS = {
    "lecture": "Consultation de la fiche",
    "liste": "Affichage dans une liste",
    "creation": "Création",
    "modification": "Modification",
    "export": "Export des données de la personne",
    "effacement": "Effacement (anonymisation)",
}


class BeneficiaryAccess(Base):
    """One access to one beneficiary record."""

    __tablename__ = "beneficiary_access"

    id: Mapped[int] = mapped_column(primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(
        ForeignKey("beneficiary.id", ondelete="CASCADE"), index=True
    )
    login: Mapped[str] = mapped_column(String(200), index=True)
    role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(20))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
