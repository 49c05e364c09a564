"""Join the two branches (reports, notifications) so later migrations have one parent.

Revision ID: 0006_merge
Revises: 0004_reports, 0005_notifications
"""

revision = "0006_merge"
down_revision = ("0004_reports", "0005_notifications")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
