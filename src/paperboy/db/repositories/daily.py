"""Daily entries: community submissions of papers to the list of one date."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from paperboy.db.models import DailyEntry
from paperboy.db.records import DailyRecord, RecordError
from paperboy.db.repositories.papers import UpsertCounts, load_papers
from paperboy.db.repositories.vector_queue import promote_for_vectors


def upsert_daily(session: Session, records: Sequence[DailyRecord]) -> UpsertCounts:
    """Insert or update daily entries keyed by (date, paper); papers must already exist."""
    counts = UpsertCounts()
    papers = load_papers(session, (r.arxiv_id for r in records))
    listed: list[int] = []
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
            listed.append(paper.id)
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
    promote_for_vectors(session, listed)  # listed papers are embedded before the backlog
    return counts


def first_entry_of(session: Session, paper_id: int) -> DailyEntry | None:
    """The paper's earliest daily entry, removed or not (a paper is listed once)."""
    query = select(DailyEntry).where(DailyEntry.paper_id == paper_id).order_by(DailyEntry.date, DailyEntry.id)
    return session.scalars(query.limit(1)).first()


def submissions_by(session: Session, user_id: int, day: date) -> int:
    """How many papers the user submitted to the list of `day`."""
    query = select(func.count()).where(DailyEntry.submitted_by_user_id == user_id, DailyEntry.date == day)
    return int(session.scalar(query.select_from(DailyEntry)) or 0)
