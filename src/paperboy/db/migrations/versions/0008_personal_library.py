"""personal library: collections, imported entries, notes, read marks, signals, muted interests, preferences

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 06:10:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _user(table: str) -> sa.Column[Any]:
    return sa.Column("user_id", sa.Integer(), nullable=False)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete="CASCADE"
    )


def _when(name: str) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(), server_default=sa.func.current_timestamp(), nullable=False)


def upgrade() -> None:
    op.create_index(op.f("ix_papers_doi"), "papers", ["doi"], unique=False)  # imports match by DOI
    op.create_table(
        "collections",
        sa.Column("id", sa.Integer(), nullable=False),
        _user("collections"),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("is_public", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("is_default", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        _when("created_at"),
        _when("updated_at"),
        _fk("collections", "user_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections")),
        sa.UniqueConstraint("user_id", "name", name="one_collection_name_per_user"),
    )
    op.create_index(op.f("ix_collections_user_id"), "collections", ["user_id"], unique=False)
    op.create_table(
        "collection_papers",
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        _when("added_at"),
        _fk("collection_papers", "collection_id", "collections"),
        _fk("collection_papers", "paper_id", "papers"),
        sa.PrimaryKeyConstraint("collection_id", "paper_id", name=op.f("pk_collection_papers")),
    )
    op.create_index("ix_collection_papers_paper_id", "collection_papers", ["paper_id"], unique=False)
    op.create_table(
        "external_papers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=320), nullable=False),
        sa.Column("entry_type", sa.String(length=32), server_default="article", nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("authors", sa.JSON(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=True),
        sa.Column("venue", sa.Text(), nullable=True),
        sa.Column("abstract", sa.Text(), server_default="", nullable=False),
        sa.Column("doi", sa.String(length=255), nullable=True),
        sa.Column("arxiv_id", sa.String(length=64), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("vector", sa.LargeBinary(), nullable=True),
        _when("added_at"),
        _fk("external_papers", "collection_id", "collections"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_external_papers")),
        sa.UniqueConstraint("collection_id", "key", name="one_external_entry_per_key"),
    )
    op.create_index(
        op.f("ix_external_papers_collection_id"), "external_papers", ["collection_id"], unique=False
    )
    for table, stamp in (
        ("paper_notes", "updated_at"),
        ("paper_reads", "read_at"),
        ("paper_signals", "created_at"),
    ):
        columns: list[sa.Column[Any] | sa.Constraint] = [
            _user(table),
            sa.Column("paper_id", sa.Integer(), nullable=False),
        ]
        if table == "paper_notes":
            columns.append(sa.Column("body", sa.Text(), nullable=False))
        if table == "paper_signals":
            columns.append(sa.Column("kind", sa.String(length=16), nullable=False))
            columns.append(
                sa.CheckConstraint("kind IN ('seed', 'dismissed')", name=op.f("ck_paper_signals_kind_known"))
            )
        columns += [
            _when(stamp),
            _fk(table, "user_id", "users"),
            _fk(table, "paper_id", "papers"),
            sa.PrimaryKeyConstraint("user_id", "paper_id", name=op.f(f"pk_{table}")),
        ]
        op.create_table(table, *columns)
    op.create_table(
        "muted_interests",
        sa.Column("id", sa.Integer(), nullable=False),
        _user("muted_interests"),
        sa.Column("label", sa.String(length=300), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        _when("created_at"),
        _fk("muted_interests", "user_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_muted_interests")),
    )
    op.create_index(op.f("ix_muted_interests_user_id"), "muted_interests", ["user_id"], unique=False)
    op.create_table(
        "user_preferences",
        _user("user_preferences"),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("feed_key", sa.String(length=64), nullable=True),
        _when("updated_at"),
        _fk("user_preferences", "user_id", "users"),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_preferences")),
    )


def downgrade() -> None:
    for table in (
        "user_preferences",
        "muted_interests",
        "paper_signals",
        "paper_reads",
        "paper_notes",
        "external_papers",
        "collection_papers",
        "collections",
    ):
        op.drop_table(table)
    op.drop_index(op.f("ix_papers_doi"), table_name="papers")
