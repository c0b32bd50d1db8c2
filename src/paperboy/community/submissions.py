"""Submitting a paper to today's daily list by arXiv id or URL, under Hugging Face's rules.

A paper is listed once: submitting it again points to the day it was listed. It can join a list only
within `window_days` of its first arXiv version (so an old paper with many upvotes cannot be pushed to the
top of today, of trending and of every digest), and one person submits at most `daily_quota` papers a day.
The metadata is fetched before anything is written, and the paper and its daily entry are saved in one
transaction: when arXiv is unreachable or a rule refuses the paper, nothing is saved.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from paperboy.arxiv_ids import parse_arxiv_id
from paperboy.clock import utcnow
from paperboy.config import Settings
from paperboy.db.engine import begin_write, transaction
from paperboy.db.models import DailyEntry, Paper, User
from paperboy.db.records import PaperRecord, RecordError
from paperboy.db.repositories.daily import first_entry_of, submissions_by
from paperboy.db.repositories.papers import get_paper, upsert_papers
from paperboy.db.repositories.vector_queue import promote_for_vectors
from paperboy.ingest.http import PoliteClient
from paperboy.ingest.records import IngestError
from paperboy.ingest.sources.arxiv_api import ArxivApiSource

log = logging.getLogger(__name__)
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
    """False when the paper was listed before: `date` is then the day of that list."""


@dataclass(frozen=True)
class SubmissionRules:
    window_days: int = 14
    """Days after the first arXiv version during which a paper can be submitted (0: any time)."""
    daily_quota: int = 10
    """Submissions per person and day (0: no limit; admins have none)."""

    @classmethod
    def of(cls, settings: Settings) -> SubmissionRules:
        return cls(settings.submit_window_days, settings.submit_daily_quota)


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
            f"“{raw[:80]}” is not an arXiv id or arXiv URL: enter an id like 2410.17243, or the address of "
            "its arXiv page"
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
            # The detail (addresses, exception names) is for the log; the person gets what to do.
            log.warning("fetching %s from the arXiv API failed: %s", arxiv_id, exc)
            raise ArxivUnavailable(
                f"arXiv could not be reached to fetch {arxiv_id}; nothing was saved. Try again in a few minutes."
            ) from None
        finally:
            client.close()
        raise SubmissionError(f"arXiv has no paper {arxiv_id}")

    return fetch


def submit_paper(
    sessions: sessionmaker[Session],
    user: User | None,
    text: str,
    fetch: Fetcher,
    rules: SubmissionRules,
    on_date: date | None = None,
) -> Submission:
    """Add the paper to the daily list of `on_date` (today), fetching its metadata when it is new here;
    SubmissionError says which rule refused it."""
    arxiv_id = parse_reference(text)
    day = on_date or utcnow().date()
    with sessions() as session:
        known = get_paper(session, arxiv_id)
        listed = first_entry_of(session, known.id) if known is not None else None
        if listed is not None:  # pointing to where it is listed is not a submission: no quota
            return _listed_before(arxiv_id, listed)
        _check_quota(session, user, rules, day)
        needs_fetch = known is None or not known.abstract
        published = known.published_at if known is not None else None
    record = fetch(arxiv_id) if needs_fetch else None
    if record is not None:
        published = record.published_at
    _check_window(arxiv_id, published, rules, day)
    try:
        return _save(sessions, user, arxiv_id, day, record, rules)
    except IntegrityError:
        # Someone submitted the same paper at the same moment: theirs is on the list.
        return Submission(arxiv_id, day, added=False)


def _listed_before(arxiv_id: str, entry: DailyEntry) -> Submission:
    if entry.hidden:
        raise SubmissionError(
            f"{arxiv_id} was on the list of {entry.date:%B %-d, %Y} and a moderator removed it: "
            "it cannot be submitted again"
        )
    return Submission(arxiv_id, entry.date, added=False)


def _check_quota(session: Session, user: User | None, rules: SubmissionRules, day: date) -> None:
    if user is None or user.is_admin or rules.daily_quota == 0:
        return
    if submissions_by(session, user.id, day) >= rules.daily_quota:
        raise SubmissionError(
            f"you have submitted {rules.daily_quota} papers today, the most one person can: "
            "submit more tomorrow (UTC)"
        )


def _check_window(arxiv_id: str, published: datetime | None, rules: SubmissionRules, day: date) -> None:
    """Refuse a paper whose first version is older than the window (undated papers pass)."""
    if published is None or rules.window_days == 0:
        return
    age = (day - published.date()).days
    if age > rules.window_days:
        raise SubmissionError(
            f"{arxiv_id} was first published on arXiv on {published:%B %-d, %Y}, {age} days ago: "
            f"papers join the daily list within {rules.window_days} days of their first version"
        )


def _save(
    sessions: sessionmaker[Session],
    user: User | None,
    arxiv_id: str,
    day: date,
    record: PaperRecord | None,
    rules: SubmissionRules,
) -> Submission:
    with transaction(sessions) as session:
        begin_write(session)  # the checks below hold until the entry is committed
        _check_quota(session, user, rules, day)
        if record is not None:
            upsert_papers(session, [record])
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == arxiv_id))
        if paper is None:  # pragma: no cover - the upsert above created it
            raise SubmissionError(f"paper {arxiv_id} could not be saved")
        listed = first_entry_of(session, paper.id)
        if listed is not None:
            return _listed_before(arxiv_id, listed)
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
