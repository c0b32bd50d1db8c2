"""The digest outbox's reads: active subscribers, a subscriber's deliveries, what they were already sent,
and the papers a digest may hold."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from paperboy.db.models import Delivery, Paper, SentPaper, Subscription

MAX_CANDIDATES = 20_000


def active_subscription_ids(
    session: Session, frequency: str, emails: Sequence[str] | None = None
) -> list[int]:
    query = select(Subscription.id).where(
        Subscription.frequency == frequency, Subscription.status == "active"
    )
    if emails:
        query = query.where(Subscription.email.in_(emails))
    return list(session.scalars(query.order_by(Subscription.id)))


def open_deliveries(session: Session, subscription_id: int, period: str) -> list[Delivery]:
    """The subscriber's unfinished deliveries (claimed, not sent) and the one of `period`, oldest first."""
    query = (
        select(Delivery)
        .where(Delivery.subscription_id == subscription_id)
        .where((Delivery.status == "claimed") | (Delivery.period == period))
        .order_by(Delivery.claimed_at, Delivery.id)
    )
    return list(session.scalars(query))


def sent_paper_ids(session: Session, subscription_id: int) -> set[int]:
    """Every paper a subscriber has been sent (a paper is never sent twice)."""
    return set(
        session.scalars(select(SentPaper.paper_id).where(SentPaper.subscription_id == subscription_id))
    )


def papers_by_id(session: Session, paper_ids: Sequence[int]) -> dict[int, Paper]:
    if not paper_ids:
        return {}
    return {p.id: p for p in session.scalars(select(Paper).where(Paper.id.in_(list(paper_ids))))}


def papers_added_since(session: Session, since: datetime, limit: int = MAX_CANDIDATES) -> list[Paper]:
    """Papers that arrived in the library since `since` (a digest's "new for you" candidates), newest first."""
    query = (
        select(Paper)
        .where(Paper.created_at >= since, Paper.withdrawn.is_(False))
        .order_by(Paper.id.desc())
        .limit(limit)
    )
    return list(session.scalars(query))
