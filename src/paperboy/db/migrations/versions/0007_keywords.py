"""keywords: keyphrases extracted from each paper's title and abstract at index time

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 03:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("papers") as batch:
        batch.add_column(sa.Column("keywords", sa.JSON(), server_default="[]", nullable=False))
        batch.add_column(sa.Column("keywords_at", sa.DateTime(), nullable=True))
    op.create_index(op.f("ix_papers_keywords_at"), "papers", ["keywords_at"], unique=False)
    # Every stored paper is to do (keywords_at is NULL): the indexer extracts them after its vectors.


def downgrade() -> None:
    op.drop_index(op.f("ix_papers_keywords_at"), table_name="papers")
    with op.batch_alter_table("papers") as batch:
        batch.drop_column("keywords_at")
        batch.drop_column("keywords")
