"""The community totals of papers and the visible-entries rule, each computed in one place for every
surface (lists, paper pages, search results, the API, feeds, digests and the CLI), so that they agree.

- Upvotes: those imported with the paper (Hugging Face) plus the local ones.
- Comments: those imported with its daily entry (the largest count among its visible entries) plus the
  local comments that are neither deleted nor hidden by a moderator.
- A daily entry is visible when a moderator has not removed it and its paper is not withdrawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import Session, joinedload

from paperboy.db.models import Comment, DailyEntry, Paper, Vote

_IN_CHUNK = 500


@dataclass(frozen=True)
class Totals:
    upvotes: int = 0
    comments: int = 0
    imported_comments: int = 0
    """Of `comments`, those made on Hugging Face (counted, but their text is not imported)."""

    def describe(self) -> str:
        """ "65 upvotes, 1 comment": the totals in words, for feeds and the command line."""
        upvotes = f"{self.upvotes} upvote{'' if self.upvotes == 1 else 's'}"
        return f"{upvotes}, {self.comments} comment{'' if self.comments == 1 else 's'}"


def visible_entry() -> ColumnElement[bool]:
    """The condition lists show an entry under (the query must join Paper on the entry's paper)."""
    return and_(DailyEntry.hidden.is_(False), Paper.withdrawn.is_(False))


def visible_entries() -> Select[DailyEntry]:
    """Visible daily entries with their papers loaded."""
    return (
        select(DailyEntry)
        .join(Paper, Paper.id == DailyEntry.paper_id)
        .where(visible_entry())
        .options(joinedload(DailyEntry.paper))
    )


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
            .join(Paper, Paper.id == DailyEntry.paper_id)
            .where(DailyEntry.paper_id.in_(chunk), visible_entry())
            .group_by(DailyEntry.paper_id),
        )
        local_comments = _grouped(
            session,
            select(Comment.paper_id, func.count())
            .where(Comment.paper_id.in_(chunk), Comment.deleted.is_(False), Comment.hidden.is_(False))
            .group_by(Comment.paper_id),
        )
        for paper_id, imported in imported_votes.items():
            from_hf = imported_comments.get(paper_id, 0)
            found[paper_id] = Totals(
                upvotes=imported + local_votes.get(paper_id, 0),
                comments=from_hf + local_comments.get(paper_id, 0),
                imported_comments=from_hf,
            )
    return found


def totals_of(session: Session, paper_id: int) -> Totals:
    """One paper's totals (zeros for a paper that does not exist)."""
    return paper_totals(session, [paper_id]).get(paper_id, Totals())
