"""Submitting a paper to today's daily list by arXiv id or URL.

The metadata is fetched before anything is written, and the paper and its daily entry are saved in one
transaction: when arXiv is unreachable, nothing is half-saved.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from paperboy.arxiv_ids import parse_arxiv_id
from paperboy.clock import utcnow
from paperboy.config import Settings
from paperboy.db.engine import transaction
from paperboy.db.models import DailyEntry, Paper, User
from paperboy.db.records import PaperRecord, RecordError
from paperboy.db.repositories.papers import get_paper, upsert_papers
from paperboy.db.repositories.vector_queue import promote_for_vectors
from paperboy.ingest.http import PoliteClient
from paperboy.ingest.records import IngestError
from paperboy.ingest.sources.arxiv_api import ArxivApiSource

MAX_INPUT_LENGTH = 300
Fetcher = Callable[[str], PaperRecord]


class SubmissionError(ValueError):
    """A submission is refused or could not be completed; nothing was saved."""


class ArxivUnavailable(SubmissionError):
    """arXiv did not answer (network down, timeouts, 5xx)."""


@dataclass(frozen=True)
class Submission:
    arxiv_id: str
    date: date
    added: bool
    """False when the paper was already on that day's list."""


def parse_reference(text: str) -> str:
    """An arXiv id from an id, `arXiv:` reference or abs/pdf URL; SubmissionError names what is wrong."""
    raw = text.strip()
    if not raw:
        raise SubmissionError("enter an arXiv id (like 2410.17243) or an arXiv URL")
    if len(raw) > MAX_INPUT_LENGTH:
        raise SubmissionError(f"that is longer than {MAX_INPUT_LENGTH} characters: enter an arXiv id or URL")
    try:
        arxiv_id, _version = parse_arxiv_id(raw, "arXiv id")
    except RecordError:
        raise SubmissionError(
            f"{raw!r} is not an arXiv id or URL (expected something like 2410.17243 or https://arxiv.org/abs/2410.17243)"
        ) from None
    return arxiv_id


def arxiv_fetcher(settings: Settings) -> Fetcher:
    """Fetch one paper's metadata from the arXiv API (short timeout: a person is waiting)."""

    def fetch(arxiv_id: str) -> PaperRecord:
        client = PoliteClient(
            delay=0, timeout=min(settings.http_timeout, 15.0), max_retries=1, backoff_base=0.5
        )
        try:
            source = ArxivApiSource(client, settings.arxiv_api_url, ids=[arxiv_id])
            for batch in source.batches(None):
                for record in batch.papers:
                    if record.arxiv_id == arxiv_id:
                        return record
        except IngestError as exc:
            raise ArxivUnavailable(
                f"arXiv could not be reached to fetch {arxiv_id}; nothing was saved. Try again in a few minutes. ({exc})"
            ) from None
        finally:
            client.close()
        raise SubmissionError(f"arXiv has no paper {arxiv_id}")

    return fetch


def submit_paper(
    sessions: sessionmaker[Session], user: User | None, text: str, fetch: Fetcher, on_date: date | None = None
) -> Submission:
    """Add the paper to the daily list of `on_date` (today), fetching its metadata when it is new here."""
    arxiv_id = parse_reference(text)
    day = on_date or utcnow().date()
    with sessions() as session:
        known = get_paper(session, arxiv_id)
        needs_fetch = known is None or not known.abstract
    record = fetch(arxiv_id) if needs_fetch else None
    try:
        return _save(sessions, user, arxiv_id, day, record)
    except IntegrityError:
        # Someone submitted the same paper at the same moment: theirs is on the list.
        return Submission(arxiv_id, day, added=False)


def _save(
    sessions: sessionmaker[Session], user: User | None, arxiv_id: str, day: date, record: PaperRecord | None
) -> Submission:
    with transaction(sessions) as session:
        if record is not None:
            upsert_papers(session, [record])
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == arxiv_id))
        if paper is None:  # pragma: no cover - the upsert above created it
            raise SubmissionError(f"paper {arxiv_id} could not be saved")
        existing = session.scalar(
            select(DailyEntry).where(DailyEntry.date == day, DailyEntry.paper_id == paper.id)
        )
        if existing is not None:
            if existing.hidden:
                raise SubmissionError(f"{arxiv_id} was removed from the list of {day} by a moderator")
            return Submission(arxiv_id, day, added=False)
        session.add(
            DailyEntry(
                date=day,
                paper_id=paper.id,
                submitted_by_user_id=user.id if user else None,
                submitter_name=user.username if user else None,
                submitter_fullname=(user.display_name or user.username) if user else None,
                submitted_at=utcnow(),
                num_comments_imported=0,
                source="web",
                hidden=False,
            )
        )
        session.flush()
        promote_for_vectors(session, [paper.id])  # shown today: embed it before the backlog
    return Submission(arxiv_id, day, added=True)
