"""The normalized records the system of record accepts; every ingest source produces these."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from paperboy.code_links import PaperLinks


@dataclass(frozen=True)
class VersionRecord:
    """One arXiv version of a paper (v1, v2, ...)."""

    version: int
    submitted_at: datetime | None = None
    size: str | None = None


@dataclass(frozen=True)
class PaperRecord:
    """A paper as a source saw it, already normalized. `None` means "this source does not say"."""

    arxiv_id: str
    title: str
    abstract: str
    source: str
    version: int | None = None
    authors: tuple[str, ...] | None = None
    categories: tuple[str, ...] | None = None
    primary_category: str | None = None
    comments: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    license: str | None = None
    published_at: datetime | None = None
    updated_at: datetime | None = None
    withdrawn: bool | None = None
    versions: tuple[VersionRecord, ...] = ()
    upvotes: int | None = None
    links: PaperLinks | None = field(default=None, compare=False)
    """The code links of this record's own text, when its parser found them already (a large file's
    parsing process does, so that the committing process need not); None: found when it is stored."""


@dataclass(frozen=True)
class DailyRecord:
    """A community submission of a paper to the daily list of `date`."""

    arxiv_id: str
    date: date
    submitted_at: datetime
    source: str
    submitter_name: str | None = None
    submitter_fullname: str | None = None
    num_comments: int = 0
    extra: dict[str, Any] | None = field(default=None, compare=False)
    """Source fields Paperboy does not model, kept verbatim (see DailyEntry.extra)."""


@dataclass(frozen=True)
class DeletedRecord:
    """A source says this paper no longer exists (OAI-PMH deleted record)."""

    arxiv_id: str
    source: str


class RecordError(ValueError):
    """A single record is malformed; the message names the field and what is wrong."""
