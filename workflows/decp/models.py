"""What each DECP record imported became: the key (DECP id, buyer SIRET) → the marché."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from workflows.engine.models import Base, utcnow


class DecpRecord(Base):
    """One DECP record (marché) as last imported, and whether the import created the marché."""

    __tablename__ = "decp_record"
    __table_args__ = (UniqueConstraint("decp_id", "buyer_siret"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    decp_id: Mapped[str] = mapped_column(String(100))
    buyer_siret: Mapped[str] = mapped_column(String(14))
    marche_id: Mapped[int] = mapped_column(ForeignKey("marche.id", ondelete="CASCADE"), index=True)
    # True when the import created the marché: the facilitator has not followed it.
    created_marche: Mapped[bool] = mapped_column(Boolean, default=False)
    considerations: Mapped[str | None] = mapped_column(String(300))
    procedure: Mapped[str | None] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
