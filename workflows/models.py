"""Every table of the product, imported in one place (Alembic and tests read Base.metadata)."""

from __future__ import annotations

from workflows.engine.models import Base  # noqa: F401
