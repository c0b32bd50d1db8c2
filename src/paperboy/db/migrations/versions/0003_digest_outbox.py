"""digest outbox: retry time and chosen papers per delivery, papers sent per subscriber

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("chosen", sa.JSON(), nullable=True))
    op.create_table(
        "sent_papers",
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_sent_papers_subscription_id_subscriptions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name=op.f("fk_sent_papers_paper_id_papers"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_sent_papers_delivery_id_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscription_id", "paper_id", name=op.f("pk_sent_papers")),
    )
    op.create_index(op.f("ix_sent_papers_delivery_id"), "sent_papers", ["delivery_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sent_papers_delivery_id"), table_name="sent_papers")
    op.drop_table("sent_papers")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("chosen")
        batch.drop_column("next_attempt_at")
