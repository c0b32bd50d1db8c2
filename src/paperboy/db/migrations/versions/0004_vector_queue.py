"""vector queue: papers waiting for their vector, worked in the order visitors meet them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vector_queue",
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), server_default="1", nullable=False),
        sa.Column("priority", sa.BigInteger(), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(), server_default=sa.func.current_timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name=op.f("fk_vector_queue_paper_id_papers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("paper_id", name=op.f("pk_vector_queue")),
    )
    op.create_index("ix_vector_queue_priority", "vector_queue", ["priority", "paper_id"], unique=False)
    # Papers already in the index before this version have their vectors; nothing to queue.


def downgrade() -> None:
    op.drop_index("ix_vector_queue_priority", table_name="vector_queue")
    op.drop_table("vector_queue")
