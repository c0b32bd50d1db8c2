"""Runs any source: one transaction per batch (records + checkpoint together), progress, and a summary.

A crash between batches loses nothing (each committed batch carries its checkpoint) and a rerun resumes
after the last committed batch; a crash inside a batch rolls that batch back whole.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from paperboy.db.engine import transaction
from paperboy.db.repositories.daily import upsert_daily
from paperboy.db.repositories.ingest_state import clear_state, get_state, set_state
from paperboy.db.repositories.papers import UpsertCounts, mark_deleted, upsert_papers
from paperboy.ingest.prefetch import batches_in_child, worth_a_child
from paperboy.ingest.records import Batch, Rejection
from paperboy.progress import Progress, SilentProgress


class Source(Protocol):
    """An ingest source: yields batches of normalized records, resumable from a saved checkpoint."""

    name: str
    label: str
    """Human name of this job in progress and summaries (source and file or query)."""

    def job_key(self) -> str:
        """Identifies this job's checkpoint (same inputs → same key)."""
        ...

    def total(self) -> int | None:
        """Expected progress total in the source's unit, if known up front."""
        ...

    def unit(self) -> str:
        """What `Batch.progress` counts: 'bytes', 'records' or 'pages'."""
        ...

    def batches(self, state: dict[str, Any] | None) -> Iterator[Batch]:
        """Yield batches, starting after `state` (the last committed checkpoint) when given."""
        ...

    def final_state(self) -> dict[str, Any] | None:
        """State to keep once the job completed (None: forget the job)."""
        ...

    def is_complete(self, state: dict[str, Any] | None) -> bool:
        """Whether `state` says this exact input was already fully ingested."""
        ...


class ProgressReporter(Progress, Protocol):
    """Progress plus the records an ingest rejects (the CLI lists them as they come)."""

    def rejected(self, rejection: Rejection) -> None: ...


class SilentIngestProgress(SilentProgress):
    """A reporter that keeps quiet."""

    def rejected(self, rejection: Rejection) -> None:
        pass


@dataclass
class IngestSummary:
    """What an ingest run did, for the closing line and `--json`."""

    source: str
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0
    daily_new: int = 0
    daily_updated: int = 0
    daily_unchanged: int = 0
    batches: int = 0
    seconds: float = 0.0
    resumed: bool = False
    skipped: bool = False
    rejections: list[str] = field(default_factory=list)

    @property
    def records(self) -> int:
        return self.new + self.updated + self.unchanged + self.deleted + self.rejected

    def line(self) -> str:
        """The human summary printed at the end of a run."""
        if self.skipped:
            return f"{self.source}: already ingested, nothing to do (use --force to read it again)"
        rate = self.records / self.seconds if self.seconds > 0 else 0.0
        text = (
            f"{self.source}: {self.new} new, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.rejected} rejected"
        )
        if self.deleted:
            text += f", {self.deleted} deleted"
        if self.daily_new or self.daily_updated or self.daily_unchanged:
            text += (
                f"; daily entries: {self.daily_new} new, {self.daily_updated} updated, "
                f"{self.daily_unchanged} unchanged"
            )
        text += f" ({self.records} records in {self.seconds:.1f} s, {rate:,.0f}/s"
        text += ", resumed from checkpoint)" if self.resumed else ")"
        return text

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["records"] = self.records
        return data


MAX_LISTED_REJECTIONS = 1000


def _commit_batch(session: Session, source: Source, batch: Batch, summary: IngestSummary) -> None:
    papers = upsert_papers(session, batch.papers)
    papers.add(mark_deleted(session, batch.deleted))
    daily = upsert_daily(session, batch.daily) if batch.daily else UpsertCounts()
    if batch.checkpoint is not None:
        set_state(session, source.name, source.job_key(), batch.checkpoint)
    summary.new += papers.new
    summary.updated += papers.updated
    summary.unchanged += papers.unchanged
    summary.deleted += papers.deleted
    summary.daily_new += daily.new
    summary.daily_updated += daily.updated
    summary.daily_unchanged += daily.unchanged


def _commit_record_by_record(
    factory: sessionmaker[Session], source: Source, batch: Batch, summary: IngestSummary
) -> None:
    """Commit a batch one record at a time, rejecting (by id, with the reason) those the database refuses.

    The batch's checkpoint is committed last: a crash in between replays the batch, harmlessly, since
    every upsert is idempotent.
    """
    single = [Batch(papers=[paper]) for paper in batch.papers]
    single += [Batch(deleted=[record]) for record in batch.deleted]
    single += [Batch(daily=[record]) for record in batch.daily]
    for part in single:
        try:
            with transaction(factory) as session:
                _commit_batch(session, source, part, summary)
        except (DataError, IntegrityError) as exc:
            record = (part.papers or part.deleted or part.daily)[0]
            reason = str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
            batch.rejections.append(
                Rejection(f"record {record.arxiv_id}", f"the database refused it: {reason}")
            )
    with transaction(factory) as session:
        _commit_batch(session, source, Batch(checkpoint=batch.checkpoint), summary)


def run_ingest(
    factory: sessionmaker[Session],
    source: Source,
    progress: ProgressReporter | None = None,
    force: bool = False,
) -> IngestSummary:
    """Ingest everything `source` yields, batch by batch, resuming from its checkpoint."""
    reporter = progress or SilentIngestProgress()
    summary = IngestSummary(source=source.label)
    started = time.monotonic()
    with factory() as session:
        state = get_state(session, source.name, source.job_key())
    if source.is_complete(state) and not force:
        summary.skipped = True
        return summary
    resume = None if force or source.is_complete(state) else state
    summary.resumed = bool(resume)
    reporter.start(source.label, source.total(), source.unit())
    try:
        batches = batches_in_child(source, resume) if worth_a_child(source) else source.batches(resume)
        for batch in batches:
            try:
                with transaction(factory) as session:
                    _commit_batch(session, source, batch, summary)
            except (DataError, IntegrityError):  # one record the database refuses: find it, keep the rest
                _commit_record_by_record(factory, source, batch, summary)
            summary.batches += 1
            summary.rejected += len(batch.rejections)
            for rejection in batch.rejections:
                reporter.rejected(rejection)
                if len(summary.rejections) < MAX_LISTED_REJECTIONS:
                    summary.rejections.append(str(rejection))
            if batch.total is not None:
                reporter.total_known(batch.total)
            reporter.advance(batch.progress, len(batch.papers) + len(batch.deleted) + len(batch.rejections))
        final = source.final_state()
        with transaction(factory) as session:
            if final is None:
                clear_state(session, source.name, source.job_key())
            else:
                set_state(session, source.name, source.job_key(), final)
    finally:
        reporter.finish()
        summary.seconds = time.monotonic() - started
    return summary
