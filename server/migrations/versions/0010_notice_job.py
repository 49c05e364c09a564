"""Deferred notices: the queue of notices owed for a change (new task, meeting date).

Revision ID: 0010_notice_job
Revises: 0009_marche_document
"""

import sqlalchemy as sa
from alembic import op

import workflows.engine.models

revision = "0010_notice_job"
down_revision = "0009_marche_document"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notice_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("task_id", sa.String(length=36), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", workflows.engine.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("notice_job")
