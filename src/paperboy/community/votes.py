"""Upvotes: one per user and paper (the primary key enforces it), toggled."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paperboy.clock import utcnow
from paperboy.db.models import Paper, User, Vote


def has_voted(session: Session, user_id: int | None, paper: Paper) -> bool:
    if user_id is None:
        return False
    return session.get(Vote, (user_id, paper.id)) is not None


def voted_paper_ids(session: Session, user_id: int | None, paper_ids: list[int]) -> set[int]:
    if user_id is None or not paper_ids:
        return set()
    query = select(Vote.paper_id).where(Vote.user_id == user_id, Vote.paper_id.in_(paper_ids))
    return set(session.scalars(query))


def set_vote(session: Session, user: User, paper: Paper, voted: bool) -> bool:
    """Make the user's vote on `paper` exist (or not); returns the new state. Idempotent under races."""
    if not voted:
        session.execute(delete(Vote).where(Vote.user_id == user.id, Vote.paper_id == paper.id))
        return False
    if session.get(Vote, (user.id, paper.id)) is None:
        try:
            with session.begin_nested():
                session.add(Vote(user_id=user.id, paper_id=paper.id, created_at=utcnow()))
        except IntegrityError:
            pass  # a concurrent request voted first: the vote exists, which is what was asked
    return True


def toggle_vote(session: Session, user: User, paper: Paper) -> bool:
    return set_vote(session, user, paper, not has_voted(session, user.id, paper))
