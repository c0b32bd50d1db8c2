"""code links: repositories and project pages found in papers' own text, and repository stats

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from paperboy.code_links import find_links

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("papers") as batch:
        batch.add_column(sa.Column("code_urls", sa.JSON(), server_default="[]", nullable=False))
        batch.add_column(sa.Column("project_page", sa.String(length=500), nullable=True))
    op.create_table(
        "repositories",
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("stars", sa.Integer(), nullable=True),
        sa.Column("pushed_at", sa.DateTime(), nullable=True),
        sa.Column("checked_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("url", name=op.f("pk_repositories")),
    )
    op.create_index(op.f("ix_repositories_checked_at"), "repositories", ["checked_at"], unique=False)
    _find_links_of_stored_papers()


def _find_links_of_stored_papers() -> None:
    """Papers already stored get their links now (only those whose text holds an address are read)."""
    connection = op.get_bind()
    papers = sa.table(
        "papers",
        sa.column("id", sa.Integer),
        sa.column("abstract", sa.Text),
        sa.column("comments", sa.Text),
        sa.column("journal_ref", sa.Text),
        sa.column("code_urls", sa.JSON),
        sa.column("project_page", sa.String),
    )
    mentions = sa.or_(
        *(
            column.like(pattern)
            for column in (papers.c.abstract, papers.c.comments, papers.c.journal_ref)
            for pattern in ("%http%", "%github.com%", "%gitlab.com%", "%huggingface.co%", "%bitbucket.org%")
        )
    )
    after = 0
    while True:
        rows = connection.execute(
            sa.select(papers.c.id, papers.c.abstract, papers.c.comments, papers.c.journal_ref)
            .where(papers.c.id > after, mentions)
            .order_by(papers.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            links = find_links(row.abstract, row.comments, row.journal_ref)
            if links.repositories or links.project_page:
                connection.execute(
                    papers.update()
                    .where(papers.c.id == row.id)
                    .values(code_urls=list(links.repositories), project_page=links.project_page)
                )
        after = rows[-1].id


def downgrade() -> None:
    op.drop_index(op.f("ix_repositories_checked_at"), table_name="repositories")
    op.drop_table("repositories")
    with op.batch_alter_table("papers") as batch:
        batch.drop_column("project_page")
        batch.drop_column("code_urls")
