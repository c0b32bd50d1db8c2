"""Hugging Face `/api/daily_papers` responses → papers, daily entries (date, submitter) and upvotes.

The input is a saved response file or the API URL itself. The whole response is one batch: a broken
document writes nothing, while a single malformed entry is rejected and the rest kept.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from paperboy.arxiv_ids import parse_arxiv_id
from paperboy.db.records import DailyRecord, PaperRecord, RecordError
from paperboy.ingest.http import PoliteClient
from paperboy.ingest.normalize import (
    clean_abstract,
    clean_authors,
    clean_text,
    limit_length,
    parse_count,
    parse_datetime,
    require,
)
from paperboy.ingest.records import Batch, IngestError, Rejection


def _int_field(data: dict[str, Any], key: str, where: str) -> int:
    return parse_count(data.get(key, 0), where + key) or 0


# Fields of an entry that the API serves back as given: Paperboy has no model of its own for them.
_EXTRA_ENTRY_FIELDS = ("mediaUrls", "thumbnail", "submittedBy")
_EXTRA_PAPER_FIELDS = ("discussionId", "authors")


def _extra_fields(entry: dict[str, Any], paper: dict[str, Any]) -> dict[str, Any]:
    extra = {key: entry[key] for key in _EXTRA_ENTRY_FIELDS if key in entry}
    extra["paper"] = {key: paper[key] for key in _EXTRA_PAPER_FIELDS if key in paper}
    return extra


def parse_entry(entry: object) -> tuple[PaperRecord, DailyRecord]:
    """One daily-papers entry → (paper, daily entry); RecordError names the bad field."""
    if not isinstance(entry, dict):
        raise RecordError(f"expected an object, got {type(entry).__name__}")
    paper = entry.get("paper")
    if not isinstance(paper, dict):
        raise RecordError("missing field 'paper'")
    arxiv_id, version = parse_arxiv_id(paper.get("id"), "paper.id")
    title = require(clean_text(paper.get("title") or entry.get("title"), "paper.title"), "paper.title")
    abstract = require(clean_abstract(paper.get("summary"), "paper.summary"), "paper.summary")
    authors = clean_authors(
        [a for a in paper.get("authors") or [] if not (isinstance(a, dict) and a.get("hidden"))],
        "paper.authors",
    )
    submitted_at = parse_datetime(entry.get("publishedAt"), "publishedAt")
    if submitted_at is None:
        raise RecordError("missing field 'publishedAt'")
    submitter = entry.get("submittedBy") or {}
    if not isinstance(submitter, dict):
        raise RecordError("field 'submittedBy': expected an object")
    record = PaperRecord(
        arxiv_id=arxiv_id,
        title=title,
        abstract=abstract,
        source="hf-daily",
        version=version,
        authors=authors,
        published_at=parse_datetime(paper.get("publishedAt"), "paper.publishedAt"),
        upvotes=_int_field(paper, "upvotes", "paper."),
    )
    daily = DailyRecord(
        arxiv_id=arxiv_id,
        date=submitted_at.date(),
        submitted_at=submitted_at,
        source="hf-daily",
        submitter_name=limit_length(
            clean_text(submitter.get("name"), "submittedBy.name"), 200, "submittedBy.name"
        ),
        submitter_fullname=limit_length(
            clean_text(submitter.get("fullname"), "submittedBy.fullname"), 200, "submittedBy.fullname"
        ),
        num_comments=_int_field(entry, "numComments", ""),
        extra=_extra_fields(entry, paper),
    )
    return record, daily


class HfDailySource:
    """A saved `/api/daily_papers` JSON file, or its URL."""

    name = "hf-daily"

    def __init__(self, location: str, client: PoliteClient | None = None):
        self.location = location
        self.client = client
        self._text: str | None = None
        self.label = f"{self.name} {location.rsplit('/', 1)[-1]}"

    def _read(self) -> str:
        if self._text is not None:
            return self._text
        if self.location.startswith(("http://", "https://")):
            client = self.client or PoliteClient(delay=0)
            self._text = client.get(self.location).text
        else:
            path = Path(self.location)
            if not path.is_file():
                raise IngestError(f"{self.location}: no such file")
            try:
                self._text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                raise IngestError(f"{self.location}: not UTF-8 text (byte {exc.start})") from None
        return self._text

    def job_key(self) -> str:
        key = self.location
        if not key.startswith(("http://", "https://")):
            key = str(Path(key).resolve())
        return hashlib.sha1(key.encode()).hexdigest()

    def unit(self) -> str:
        return "records"

    def total(self) -> int | None:
        return None

    def is_complete(self, state: dict[str, Any] | None) -> bool:
        # Upvote counts change over time: a daily response is always worth reading again.
        return False

    def final_state(self) -> dict[str, Any] | None:
        return None

    def _entries(self) -> list[Any]:
        text = self._read()
        if text.lstrip()[:1] == "<":
            raise IngestError(f"{self.location}: got an HTML/XML page, not a daily_papers JSON response")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IngestError(
                f"{self.location}: line {exc.lineno} column {exc.colno}: invalid JSON ({exc.msg}); nothing was written"
            ) from None
        except RecursionError:
            raise IngestError(
                f"{self.location}: invalid JSON (nested too deeply); nothing was written"
            ) from None
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            raise IngestError(f"{self.location}: the API answered with an error: {data['error']}")
        if not isinstance(data, list):
            raise IngestError(
                f"{self.location}: expected a JSON array of daily entries, got {type(data).__name__}"
            )
        return data

    def batches(self, state: dict[str, Any] | None) -> Iterator[Batch]:
        entries = self._entries()
        batch = Batch(total=len(entries), progress=len(entries))
        for position, entry in enumerate(entries):
            paper_id = (
                entry.get("paper", {}).get("id")
                if isinstance(entry, dict) and isinstance(entry.get("paper"), dict)
                else None
            )
            where = f"{self.location}: entry {position + 1}" + (f" (paper {paper_id})" if paper_id else "")
            try:
                paper, daily = parse_entry(entry)
            except RecordError as exc:
                batch.rejections.append(Rejection(where, str(exc)))
                continue
            batch.papers.append(paper)
            batch.daily.append(daily)
        yield batch
