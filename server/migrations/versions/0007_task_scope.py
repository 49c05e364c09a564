"""Scope columns: buyer organisation and lead territory on instances and inbox rows, and the
candidate groups and users as plain text (`candidates`).

An inbox query then reads one index range (state, buyer or territory, due date, with the
assignee and candidates covered) instead of joining every task to its marché. Existing rows
are filled from the marché links and, for instances without a marché, from a business key
equal to a territory code or starting "CODE/".

Revision ID: 0007_task_scope
Revises: 0006_merge
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_task_scope"
down_revision = "0006_merge"
branch_labels = None
depends_on = None

BACKFILL = [
    """UPDATE instance SET
         buyer_id = (SELECT m.buyer_id FROM marche m WHERE m.instance_id = instance.id),
         territory_id = (SELECT m.territory_id FROM marche m WHERE m.instance_id = instance.id)
       WHERE EXISTS (SELECT 1 FROM marche m WHERE m.instance_id = instance.id)""",
    """UPDATE instance SET territory_id = (
         SELECT t.id FROM territory t
         WHERE instance.business_key = t.code OR instance.business_key LIKE t.code || '/%'
         ORDER BY length(t.code) DESC LIMIT 1)
       WHERE territory_id IS NULL AND business_key IS NOT NULL""",
    """UPDATE human_task SET
         buyer_id = (SELECT i.buyer_id FROM instance i WHERE i.id = human_task.instance_id),
         territory_id = (
           SELECT i.territory_id FROM instance i WHERE i.id = human_task.instance_id)""",
]


def upgrade() -> None:
    with op.batch_alter_table("instance") as batch:
        batch.add_column(sa.Column("buyer_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("territory_id", sa.Integer(), nullable=True))
        batch.create_index("ix_instance_buyer_id", ["buyer_id"])
        batch.create_index("ix_instance_territory_id", ["territory_id"])
    with op.batch_alter_table("human_task") as batch:
        batch.add_column(sa.Column("buyer_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("territory_id", sa.Integer(), nullable=True))
        batch.add_column(
            sa.Column("candidates", sa.String(1000), nullable=False, server_default="")
        )
    for statement in BACKFILL:
        op.execute(statement)
    _fill_candidates()
    with op.batch_alter_table("human_task") as batch:
        batch.alter_column("candidates", server_default=None)
        batch.create_index("ix_human_task_buyer", [*COVERED[:1], "buyer_id", *COVERED[1:]])
        batch.create_index("ix_human_task_territory", [*COVERED[:1], "territory_id", *COVERED[1:]])


COVERED = ["state", "due_at", "created_at", "id", "assignee", "candidates"]


def _fill_candidates() -> None:
    """ "|group|@user|" from the JSON lists, as workflows.engine.models.candidates_text does."""
    task = sa.table(
        "human_task",
        sa.column("id", sa.String),
        sa.column("candidate_groups", sa.JSON),
        sa.column("candidate_users", sa.JSON),
        sa.column("candidates", sa.String),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(task.c.id, task.c.candidate_groups, task.c.candidate_users))
    values = [
        {
            "key": row.id,
            "value": "|"
            + "".join(f"{g.strip()}|" for g in row.candidate_groups or [])
            + "".join(f"@{u.strip()}|" for u in row.candidate_users or []),
        }
        for row in rows
    ]
    if values:
        conn.execute(
            task.update()
            .where(task.c.id == sa.bindparam("key"))
            .values(candidates=sa.bindparam("value")),
            values,
        )


def downgrade() -> None:
    with op.batch_alter_table("human_task") as batch:
        batch.drop_index("ix_human_task_territory")
        batch.drop_index("ix_human_task_buyer")
        batch.drop_column("candidates")
        batch.drop_column("territory_id")
        batch.drop_column("buyer_id")
    with op.batch_alter_table("instance") as batch:
        batch.drop_index("ix_instance_territory_id")
        batch.drop_index("ix_instance_buyer_id")
        batch.drop_column("territory_id")
        batch.drop_column("buyer_id")
