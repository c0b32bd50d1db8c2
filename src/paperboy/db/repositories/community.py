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

from sqlalchemy import ColumnElement, Select, and_, bindparam, func, select
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


def _totals_query() -> Select[Any]:
    local_votes = select(func.count()).where(Vote.paper_id == Paper.id).correlate(Paper).scalar_subquery()
    imported_comments = (
        select(func.max(DailyEntry.num_comments_imported))
        .where(DailyEntry.paper_id == Paper.id, visible_entry())
        .correlate(Paper)
        .scalar_subquery()
    )
    local_comments = (
        select(func.count())
        .where(Comment.paper_id == Paper.id, Comment.deleted.is_(False), Comment.hidden.is_(False))
        .correlate(Paper)
        .scalar_subquery()
    )
    return select(Paper.id, Paper.upvotes_imported, local_votes, imported_comments, local_comments).where(
        Paper.id.in_(bindparam("ids", expanding=True))
    )


_TOTALS = _totals_query()
"""Built once: SQLAlchemy then finds its compiled form without walking the statement on every request."""


def paper_totals(session: Session, paper_ids: Sequence[int]) -> dict[int, Totals]:
    """Totals of each given paper that exists, in one query per chunk (a search page asks on every
    request, so round trips count)."""
    found: dict[int, Totals] = {}
    ids = list(dict.fromkeys(paper_ids))
    connection = session.connection()  # Core: plain columns need no ORM loading
    for start in range(0, len(ids), _IN_CHUNK):
        rows = connection.execute(_TOTALS, {"ids": ids[start : start + _IN_CHUNK]})
        for paper_id, imported, votes, from_hf, comments in rows:
            found[int(paper_id)] = Totals(
                upvotes=int(imported or 0) + int(votes or 0),
                comments=int(from_hf or 0) + int(comments or 0),
                imported_comments=int(from_hf or 0),
            )
    return found


def totals_of(session: Session, paper_id: int) -> Totals:
    """One paper's totals (zeros for a paper that does not exist)."""
    return paper_totals(session, [paper_id]).get(paper_id, Totals())
