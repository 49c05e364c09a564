"""Documents attached to a marché.

Revision ID: 0009_marche_document
Revises: 0008_manager
"""

import sqlalchemy as sa
from alembic import op

import workflows.engine.models

revision = "0009_marche_document"
down_revision = "0008_manager"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "marche_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("marche_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("media_type", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=200), nullable=False),
        sa.Column(
            "uploaded_at", workflows.engine.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.ForeignKeyConstraint(["marche_id"], ["marche.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_marche_document_marche_id", "marche_document", ["marche_id"])


def downgrade() -> None:
    op.drop_index("ix_marche_document_marche_id", table_name="marche_document")
    op.drop_table("marche_document")
