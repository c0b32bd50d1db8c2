"""Daily entries: community submissions of papers to the list of one date."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from paperboy.db.models import DailyEntry, Paper
from paperboy.db.records import DailyRecord, RecordError
from paperboy.db.repositories.papers import UpsertCounts, load_papers, upvote_counts


@dataclass(frozen=True)
class DailyItem:
    """A daily entry with its paper and total upvotes (imported + local votes)."""

    entry: DailyEntry
    paper: Paper
    upvotes: int


def upsert_daily(session: Session, records: Sequence[DailyRecord]) -> UpsertCounts:
    """Insert or update daily entries keyed by (date, paper); papers must already exist."""
    counts = UpsertCounts()
    papers = load_papers(session, (r.arxiv_id for r in records))
    for record in records:
        paper = papers.get(record.arxiv_id)
        if paper is None:
            raise RecordError(f"daily entry for unknown paper {record.arxiv_id!r}")
        query = select(DailyEntry).where(DailyEntry.date == record.date, DailyEntry.paper_id == paper.id)
        entry = session.scalars(query).first()
        if entry is None:
            session.add(
                DailyEntry(
                    date=record.date,
                    paper_id=paper.id,
                    submitter_name=record.submitter_name,
                    submitter_fullname=record.submitter_fullname,
                    submitted_at=record.submitted_at,
                    num_comments_imported=record.num_comments,
                    source=record.source,
                    hidden=False,
                    extra=record.extra,
                )
            )
            session.flush()
            counts.new += 1
            continue
        wanted: dict[str, Any] = {
            "submitter_name": record.submitter_name,
            "submitter_fullname": record.submitter_fullname,
            "submitted_at": record.submitted_at,
            "num_comments_imported": record.num_comments,
        }
        if record.extra is not None:
            wanted["extra"] = record.extra
        changed = {name: value for name, value in wanted.items() if getattr(entry, name) != value}
        for name, value in changed.items():
            setattr(entry, name, value)
        if changed:
            counts.updated += 1
        else:
            counts.unchanged += 1
    return counts


def daily_items(session: Session, start: date, end: date | None = None) -> list[DailyItem]:
    """Visible entries from `start` to `end` inclusive, most upvoted first.

    Ties go to the most recently submitted entry first (as Hugging Face orders its daily list), then
    by arXiv id, so the order is deterministic.
    """
    last = end or start
    query = (
        select(DailyEntry)
        .where(DailyEntry.date >= start, DailyEntry.date <= last, DailyEntry.hidden.is_(False))
        .options(joinedload(DailyEntry.paper))
    )
    entries = list(session.scalars(query))
    votes = upvote_counts(session, [e.paper_id for e in entries])
    items = [DailyItem(e, e.paper, e.paper.upvotes_imported + votes.get(e.paper_id, 0)) for e in entries]
    items.sort(key=lambda item: item.paper.arxiv_id)
    items.sort(key=lambda item: item.entry.submitted_at, reverse=True)
    items.sort(key=lambda item: item.upvotes, reverse=True)
    return items
