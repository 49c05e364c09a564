"""A manager per account (app_user.manager_id): overdue tasks may escalate to the buyer's manager.

Revision ID: 0008_manager
Revises: 0007_task_scope

SQLite cannot add a foreign key to an existing table: app_user is rebuilt (Alembic batch). With
foreign keys on, which cannot be switched off inside the migration's transaction, dropping the old
table deletes the rows that reference it (ON DELETE CASCADE: tokens, territories of accounts), so
they are kept aside first and put back after.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_manager"
down_revision = "0007_task_scope"
branch_labels = None
depends_on = None

FK = "fk_app_user_manager_id"
INDEX = "ix_app_user_manager_id"
CHILDREN = ("api_token", "user_territory")  # tables referencing app_user with ON DELETE CASCADE


def _rebuild_sqlite(change) -> None:
    for table in CHILDREN:
        op.execute(f"CREATE TEMP TABLE keep_{table} AS SELECT * FROM {table}")
    with op.batch_alter_table("app_user", recreate="always") as batch_op:
        change(batch_op)
    for table in CHILDREN:
        op.execute(
            f"INSERT INTO {table} SELECT * FROM keep_{table} "
            f"WHERE id NOT IN (SELECT id FROM {table})"
        )
        op.execute(f"DROP TABLE keep_{table}")


def _add(batch_op) -> None:
    batch_op.add_column(sa.Column("manager_id", sa.Integer(), nullable=True))
    batch_op.create_foreign_key(FK, "app_user", ["manager_id"], ["id"], ondelete="SET NULL")
    batch_op.create_index(INDEX, ["manager_id"], unique=False)


def _drop(batch_op) -> None:
    batch_op.drop_index(INDEX)
    batch_op.drop_constraint(FK, type_="foreignkey")
    batch_op.drop_column("manager_id")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(_add)
        return
    with op.batch_alter_table("app_user") as batch_op:
        _add(batch_op)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(_drop)
        return
    with op.batch_alter_table("app_user") as batch_op:
        _drop(batch_op)
