"""authors as people (author rows, follows, claims) and discussions (reply notifications)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 03:10:00
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from paperboy.authors import name_key

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BATCH = 2000


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("notify_replies", sa.Boolean(), server_default=sa.true(), nullable=False))
    op.create_table(
        "paper_authors",
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("name_key", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name=op.f("fk_paper_authors_paper_id_papers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("paper_id", "position", name=op.f("pk_paper_authors")),
    )
    op.create_index(op.f("ix_paper_authors_name_key"), "paper_authors", ["name_key"], unique=False)
    op.create_table(
        "author_follows",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name_key", sa.String(length=300), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.current_timestamp(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_author_follows_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "name_key", name=op.f("pk_author_follows")),
    )
    op.create_table(
        "author_claims",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("author_name", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.current_timestamp(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_author_claims_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["paper_id"], ["papers.id"], name=op.f("fk_author_claims_paper_id_papers"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"], ["users.id"], name=op.f("fk_author_claims_decided_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_author_claims")),
        sa.UniqueConstraint("user_id", "paper_id", name="one_claim_per_user_and_paper"),
    )
    op.create_index(op.f("ix_author_claims_user_id"), "author_claims", ["user_id"], unique=False)
    op.create_index(op.f("ix_author_claims_paper_id"), "author_claims", ["paper_id"], unique=False)
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), server_default=sa.func.current_timestamp(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_notifications_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("user_id", "comment_id", name="one_notification_per_comment"),
    )
    op.create_index(op.f("ix_notifications_status"), "notifications", ["status"], unique=False)
    _author_rows_of_stored_papers()


def _author_rows_of_stored_papers() -> None:
    connection = op.get_bind()
    papers = sa.table("papers", sa.column("id", sa.Integer), sa.column("authors", sa.JSON))
    rows_table = sa.table(
        "paper_authors",
        sa.column("paper_id", sa.Integer),
        sa.column("position", sa.Integer),
        sa.column("name", sa.String),
        sa.column("name_key", sa.String),
    )
    after = 0
    while True:
        batch = connection.execute(
            sa.select(papers.c.id, papers.c.authors)
            .where(papers.c.id > after)
            .order_by(papers.c.id)
            .limit(_BATCH)
        ).all()
        if not batch:
            return
        rows = []
        for paper_id, authors in batch:
            names = json.loads(authors) if isinstance(authors, str) else (authors or [])
            rows += [
                {"paper_id": paper_id, "position": i, "name": str(n)[:300], "name_key": name_key(str(n))}
                for i, n in enumerate(names)
                if str(n).strip()
            ]
        if rows:
            connection.execute(rows_table.insert(), rows)
        after = batch[-1].id


def downgrade() -> None:
    op.drop_index(op.f("ix_notifications_status"), table_name="notifications")
    op.drop_table("notifications")
    op.drop_index(op.f("ix_author_claims_paper_id"), table_name="author_claims")
    op.drop_index(op.f("ix_author_claims_user_id"), table_name="author_claims")
    op.drop_table("author_claims")
    op.drop_table("author_follows")
    op.drop_index(op.f("ix_paper_authors_name_key"), table_name="paper_authors")
    op.drop_table("paper_authors")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("notify_replies")
