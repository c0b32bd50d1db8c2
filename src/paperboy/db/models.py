"""SQLAlchemy tables of the system of record.

Invariants live in the schema (unique keys, foreign keys, checks), not only in code, so that two
processes writing at once cannot break them. All datetimes are stored as naive UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a stable constraint naming scheme (needed by Alembic on SQLite)."""

    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON}


Base.metadata.naming_convention = NAMING_CONVENTION


class Paper(Base):
    """One paper, keyed by its arXiv id without version (or a source-prefixed id for other corpora)."""

    __tablename__ = "papers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    arxiv_id: Mapped[str] = mapped_column(String(64), unique=True)
    version: Mapped[int | None] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    abstract: Mapped[str] = mapped_column(Text)
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    primary_category: Mapped[str | None] = mapped_column(String(32), index=True)
    comments: Mapped[str | None] = mapped_column(Text)
    journal_ref: Mapped[str | None] = mapped_column(Text)
    doi: Mapped[str | None] = mapped_column(String(255), index=True)
    license: Mapped[str | None] = mapped_column(String(255))
    published_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    updated_at: Mapped[datetime | None] = mapped_column(DateTime)
    source: Mapped[str] = mapped_column(String(32))
    withdrawn: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    upvotes_imported: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    code_urls: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    """Code repositories the paper's own text names (code_links.find_links), normalized, in order."""
    project_page: Mapped[str | None] = mapped_column(String(500))
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    """Keyphrases extracted from its title and abstract (search/keyphrases.py), best first."""
    keywords_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    """When they were extracted; None: to do (new, or its text changed)."""
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    modified_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())

    versions: Mapped[list[PaperVersion]] = relationship(
        back_populates="paper", order_by="PaperVersion.version", cascade="all, delete-orphan"
    )

    __table_args__ = (CheckConstraint("upvotes_imported >= 0", name="upvotes_nonnegative"),)


class Repository(Base):
    """What `paperboy enrich github` learned about a code repository (shared by the papers naming it)."""

    __tablename__ = "repositories"

    url: Mapped[str] = mapped_column(String(500), primary_key=True)
    stars: Mapped[int | None] = mapped_column(Integer)
    pushed_at: Mapped[datetime | None] = mapped_column(DateTime)
    checked_at: Mapped[datetime | None] = mapped_column(DateTime, index=True)
    status: Mapped[str | None] = mapped_column(String(32))
    """ok, missing (404) or moved; None until checked."""


class PaperVersion(Base):
    """Version history: one row per arXiv version seen (v1, v2, ...)."""

    __tablename__ = "paper_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime)
    size: Mapped[str | None] = mapped_column(String(32))

    paper: Mapped[Paper] = relationship(back_populates="versions")

    __table_args__ = (
        UniqueConstraint("paper_id", "version", name="uq_paper_versions_paper_version"),
        CheckConstraint("version >= 1", name="version_positive"),
    )


class User(Base):
    """An account; passwords are stored only as argon2 hashes."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    api_token_hash: Mapped[str | None] = mapped_column(String(128), unique=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    notify_replies: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    """Email me when someone replies in my threads or comments on my papers."""
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())


class UserSession(Base):
    """A signed-in browser: the cookie holds a random token, the database only its SHA-256."""

    __tablename__ = "user_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class DailyEntry(Base):
    """A paper submitted to the daily list of one date (by a local user or an imported submitter)."""

    __tablename__ = "daily_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    date: Mapped[date] = mapped_column(Date, index=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), index=True)
    submitted_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    submitter_name: Mapped[str | None] = mapped_column(String(200))
    submitter_fullname: Mapped[str | None] = mapped_column(String(200))
    submitted_at: Mapped[datetime] = mapped_column(DateTime)
    num_comments_imported: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    source: Mapped[str] = mapped_column(String(32))
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    extra: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Source fields Paperboy does not model (Hugging Face media URLs, thumbnail, submitter profile), kept as given."""

    paper: Mapped[Paper] = relationship()

    __table_args__ = (UniqueConstraint("date", "paper_id", name="uq_daily_entries_date_paper"),)


class Vote(Base):
    """One upvote; the primary key makes it one per user and paper."""

    __tablename__ = "votes"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())

    __table_args__ = (Index("ix_votes_paper_id", "paper_id"),)


class Comment(Base):
    """A comment on a paper (plain text), optionally a reply to another comment."""

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    deleted: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    edited_at: Mapped[datetime | None] = mapped_column(DateTime)


class Subscription(Base):
    """An email digest subscription and its topics."""

    __tablename__ = "subscriptions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    frequency: Mapped[str] = mapped_column(String(16))
    send_hour: Mapped[int] = mapped_column(Integer, default=7, server_default="7")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    excluded_keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    max_papers: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    bounce_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())

    __table_args__ = (
        UniqueConstraint("email", "frequency", name="uq_subscriptions_email_frequency"),
        CheckConstraint("frequency IN ('daily', 'weekly')", name="frequency_known"),
        CheckConstraint("status IN ('pending', 'active', 'paused', 'unsubscribed')", name="status_known"),
        CheckConstraint("send_hour >= 0 AND send_hour <= 23", name="send_hour_range"),
        CheckConstraint("max_papers >= 1 AND max_papers <= 100", name="max_papers_range"),
    )


class Delivery(Base):
    """The outbox: one row per (subscription, period), claimed before sending, so a digest goes out once."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("subscriptions.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="claimed", server_default="claimed")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    message_id: Mapped[str | None] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)
    claimed_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    """When a delivery that failed transiently may be tried again."""
    chosen: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The papers (and why) chosen when the delivery was claimed: a retry sends the same digest."""

    __table_args__ = (
        UniqueConstraint("subscription_id", "period", name="uq_deliveries_subscription_period"),
        CheckConstraint("status IN ('claimed', 'sent', 'failed', 'skipped')", name="status_known"),
    )


class SentPaper(Base):
    """A paper a subscriber has received, so no digest sends it to them again."""

    __tablename__ = "sent_papers"

    subscription_id: Mapped[int] = mapped_column(
        ForeignKey("subscriptions.id", ondelete="CASCADE"), primary_key=True
    )
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    sent_at: Mapped[datetime] = mapped_column(DateTime)


class Embedding(Base):
    """A paper's vector under one model, stored so an index rebuild never re-embeds."""

    __tablename__ = "embeddings"

    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    model: Mapped[str] = mapped_column(String(128), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())


class IndexQueue(Base):
    """Durable queue of papers whose search-index entry is stale (new, changed or withdrawn)."""

    __tablename__ = "index_queue"

    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    """Bumped on every re-enqueue, so an indexer that read an older generation cannot acknowledge a newer change."""
    enqueued_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())


class VectorQueue(Base):
    """Papers in the keyword index that wait for their vector, worked in `priority` order (lowest first).

    The priority puts what visitors meet first at the front: papers on daily lists (newest list first),
    then papers by publication date (newest first), then undated ones (db/repositories/vector_queue.py).
    """

    __tablename__ = "vector_queue"

    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    """Bumped on every re-enqueue, as in IndexQueue."""
    priority: Mapped[int] = mapped_column(BigInteger)
    enqueued_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())

    __table_args__ = (Index("ix_vector_queue_priority", "priority", "paper_id"),)


class IngestState(Base):
    """Checkpoints and completion marks of ingest jobs, so an interrupted job resumes where it stopped."""

    __tablename__ = "ingest_state"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())


class PaperAuthor(Base):
    """A paper's author list as rows, so that an author's papers and co-authors are one indexed query."""

    __tablename__ = "paper_authors"

    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    name_key: Mapped[str] = mapped_column(String(300), index=True)
    """The name folded (case, accents, spacing): how author pages find it."""


class AuthorFollow(Base):
    """A user follows an author: the author's new papers come in their digest."""

    __tablename__ = "author_follows"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    name_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())


class AuthorClaim(Base):
    """A user says they are one of a paper's authors; an admin approves (or rejects) it."""

    __tablename__ = "author_claims"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), index=True)
    author_name: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    """pending, approved or rejected."""
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    __table_args__ = (UniqueConstraint("user_id", "paper_id", name="one_claim_per_user_and_paper"),)


class Notification(Base):
    """An email to tell a user about a reply or a comment on their paper; sent once, through an outbox
    (claimed, then marked sent with its Message-ID), as digests are."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    comment_id: Mapped[int] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(16))
    """reply (someone answered in the user's thread) or author (a comment on the user's paper)."""
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    message_id: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (UniqueConstraint("user_id", "comment_id", name="one_notification_per_comment"),)


class Collection(Base):
    """A user's named list of papers (the default one is the "Reading list"); public ones show on the
    user's profile."""

    __tablename__ = "collections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    is_public: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
    updated_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())

    __table_args__ = (UniqueConstraint("user_id", "name", name="one_collection_name_per_user"),)


class CollectionPaper(Base):
    """A library paper saved in a collection (saving is a positive signal for recommendations)."""

    __tablename__ = "collection_papers"

    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    )
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    added_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())

    __table_args__ = (Index("ix_collection_papers_paper_id", "paper_id"),)


class ExternalPaper(Base):
    """An imported entry that is not in this library: kept in its collection (and exported again), and,
    when it has an abstract, a seed for recommendations embedded from its own text."""

    __tablename__ = "external_papers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(320))
    """How a second import finds it again: doi:…, arxiv:… or title:… (normalized)."""
    entry_type: Mapped[str] = mapped_column(String(32), default="article", server_default="article")
    title: Mapped[str] = mapped_column(Text)
    authors: Mapped[list[str]] = mapped_column(JSON, default=list)
    year: Mapped[int | None] = mapped_column(Integer)
    venue: Mapped[str | None] = mapped_column(Text)
    abstract: Mapped[str] = mapped_column(Text, default="", server_default="")
    doi: Mapped[str | None] = mapped_column(String(255))
    arxiv_id: Mapped[str | None] = mapped_column(String(64))
    url: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(128))
    vector: Mapped[bytes | None] = mapped_column(LargeBinary)
    added_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())

    __table_args__ = (UniqueConstraint("collection_id", "key", name="one_external_entry_per_key"),)


class PaperNote(Base):
    """A user's private note on a paper."""

    __tablename__ = "paper_notes"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())


class PaperRead(Base):
    """A paper the user marked as read (private)."""

    __tablename__ = "paper_reads"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())


class PaperSignal(Base):
    """A private signal on one paper: a seed ("more like this") or a dismissal ("not interested")."""

    __tablename__ = "paper_signals"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    paper_id: Mapped[int] = mapped_column(ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())

    __table_args__ = (CheckConstraint("kind IN ('seed', 'dismissed')", name="kind_known"),)


class MutedInterest(Base):
    """An interest the user switched off: papers close to it are not recommended."""

    __tablename__ = "muted_interests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(300))
    model: Mapped[str] = mapped_column(String(128))
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())


class UserPreferences(Base):
    """What a user chose for recommendations (categories for a cold start) and the key of their private
    feed's secret URL (a new key revokes the old URL)."""

    __tablename__ = "user_preferences"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    feed_key: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime, server_default=func.current_timestamp())
