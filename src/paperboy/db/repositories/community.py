"""The community totals of papers, computed in one place for every surface (lists, paper pages, search
results, the API, feeds, digests and the CLI), so that they always agree.

- Upvotes: those imported with the paper (Hugging Face) plus the local ones.
- Comments: those imported with its daily entry (the largest count among its visible entries) plus the
  local comments that are neither deleted nor hidden by a moderator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from paperboy.db.models import Comment, DailyEntry, Paper, Vote

_IN_CHUNK = 500


@dataclass(frozen=True)
class Totals:
    upvotes: int = 0
    comments: int = 0


def _grouped(session: Session, query: Select[Any, Any]) -> dict[int, int]:
    return {int(key): int(value or 0) for key, value in session.execute(query)}


def paper_totals(session: Session, paper_ids: Sequence[int]) -> dict[int, Totals]:
    """Totals of each given paper that exists."""
    found: dict[int, Totals] = {}
    ids = list(dict.fromkeys(paper_ids))
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        imported_votes = _grouped(
            session, select(Paper.id, Paper.upvotes_imported).where(Paper.id.in_(chunk))
        )
        local_votes = _grouped(
            session,
            select(Vote.paper_id, func.count()).where(Vote.paper_id.in_(chunk)).group_by(Vote.paper_id),
        )
        imported_comments = _grouped(
            session,
            select(DailyEntry.paper_id, func.max(DailyEntry.num_comments_imported))
            .where(DailyEntry.paper_id.in_(chunk), DailyEntry.hidden.is_(False))
            .group_by(DailyEntry.paper_id),
        )
        local_comments = _grouped(
            session,
            select(Comment.paper_id, func.count())
            .where(Comment.paper_id.in_(chunk), Comment.deleted.is_(False), Comment.hidden.is_(False))
            .group_by(Comment.paper_id),
        )
        for paper_id, imported in imported_votes.items():
            found[paper_id] = Totals(
                upvotes=imported + local_votes.get(paper_id, 0),
                comments=imported_comments.get(paper_id, 0) + local_comments.get(paper_id, 0),
            )
    return found
