"""The arXiv Atom API (`/api/query`) by id list or search query, page by page.

Each page is parsed whole before anything is written and committed as one batch with its checkpoint
(the next `start`), so an interrupted query resumes at the page it stopped on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any
from xml.etree.ElementTree import Element

from paperboy.arxiv_ids import parse_arxiv_id
from paperboy.clock import utcnow
from paperboy.db.records import PaperRecord, RecordError, VersionRecord
from paperboy.ingest.http import PoliteClient
from paperboy.ingest.normalize import (
    clean_abstract,
    clean_authors,
    clean_categories,
    clean_text,
    looks_withdrawn,
    parse_datetime,
    require,
)
from paperboy.ingest.records import Batch, IngestError, Rejection
from paperboy.ingest.sources.xml import parse_page, text_of

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"
OPENSEARCH = "{http://a9.com/-/spec/opensearch/1.1/}"
IDS_PER_REQUEST = 100
MAX_PAGE_SIZE = 2000


def parse_entry(entry: Element) -> PaperRecord:
    """One Atom <entry> → PaperRecord."""
    arxiv_id, version = parse_arxiv_id(text_of(entry.find(f"{ATOM}id")), "id")
    published = parse_datetime(text_of(entry.find(f"{ATOM}published")), "published")
    updated = parse_datetime(text_of(entry.find(f"{ATOM}updated")), "updated")
    categories = clean_categories([c.get("term", "") for c in entry.findall(f"{ATOM}category")])
    primary = entry.find(f"{ARXIV}primary_category")
    comments = clean_text(text_of(entry.find(f"{ARXIV}comment")), "arxiv:comment")
    versions = []
    if version is not None:
        versions.append(VersionRecord(version, updated if version > 1 else published))
        if version > 1 and published is not None:
            versions.append(VersionRecord(1, published))
    return PaperRecord(
        arxiv_id=arxiv_id,
        title=require(clean_text(text_of(entry.find(f"{ATOM}title")), "title"), "title"),
        abstract=require(clean_abstract(text_of(entry.find(f"{ATOM}summary")), "summary"), "summary"),
        source="arxiv-api",
        version=version,
        authors=clean_authors([text_of(a.find(f"{ATOM}name")) or "" for a in entry.findall(f"{ATOM}author")]),
        categories=categories,
        primary_category=primary.get("term")
        if primary is not None
        else (categories[0] if categories else None),
        comments=comments,
        journal_ref=clean_text(text_of(entry.find(f"{ARXIV}journal_ref")), "arxiv:journal_ref"),
        doi=clean_text(text_of(entry.find(f"{ARXIV}doi")), "arxiv:doi"),
        published_at=published,
        updated_at=updated or published,
        withdrawn=looks_withdrawn(comments) if comments else None,
        versions=tuple(versions),
    )


def _api_error(root: Element) -> str | None:
    for entry in root.findall(f"{ATOM}entry"):
        entry_id = text_of(entry.find(f"{ATOM}id")) or ""
        if "/api/errors" in entry_id:
            return clean_text(text_of(entry.find(f"{ATOM}summary")), "summary") or "unknown error"
    return None


class ArxivApiSource:
    """Query the arXiv API by `ids` or `query`, `page_size` entries per request."""

    name = "arxiv-api"

    def __init__(
        self,
        client: PoliteClient,
        url: str,
        ids: Sequence[str] = (),
        query: str | None = None,
        page_size: int = 100,
        max_results: int | None = None,
        days: int | None = None,
    ):
        if bool(ids) == bool(query):
            raise IngestError("arxiv-api: give either --ids or --query")
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise IngestError(
                f"arxiv-api: --page-size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}"
            )
        for raw in ids:
            try:
                parse_arxiv_id(raw, "--ids")
            except RecordError as exc:
                raise IngestError(f"arxiv-api: {exc}") from None
        self.client = client
        self.url = url
        self.ids = list(ids)
        self.query = query
        self.page_size = page_size
        self.max_results = max_results
        self.cutoff: datetime | None = utcnow() - timedelta(days=days) if days else None
        self.label = f"{self.name} " + (f"ids={len(self.ids)}" if self.ids else f"query={query!r}")

    def job_key(self) -> str:
        spec = {
            "url": self.url,
            "ids": self.ids,
            "query": self.query,
            "page": self.page_size,
            "max": self.max_results,
        }
        if self.cutoff is not None:
            # --days sorts by submission date: its offsets mean nothing to a relevance-sorted query
            spec["sort"] = "submittedDate"
        return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()

    def unit(self) -> str:
        return "records"

    def total(self) -> int | None:
        if self.ids:
            return len(self.ids)
        return self.max_results

    def is_complete(self, state: dict[str, Any] | None) -> bool:
        return False

    def final_state(self) -> dict[str, Any] | None:
        return None

    def _requests(self, start: int) -> Iterator[tuple[dict[str, str], int]]:
        """(params, start) of each request: id lists in chunks, queries in pages."""
        if self.ids:
            for offset in range(start, len(self.ids), IDS_PER_REQUEST):
                chunk = self.ids[offset : offset + IDS_PER_REQUEST]
                yield {"id_list": ",".join(chunk), "start": "0", "max_results": str(IDS_PER_REQUEST)}, offset
            return
        offset = start
        while self.max_results is None or offset < self.max_results:
            size = (
                self.page_size if self.max_results is None else min(self.page_size, self.max_results - offset)
            )
            params = {"search_query": self.query or "", "start": str(offset), "max_results": str(size)}
            if self.cutoff is not None:
                params.update(sortBy="submittedDate", sortOrder="descending")
            yield params, offset
            offset += size

    def _fetch(self, params: dict[str, str]) -> Element:
        """One whole page; IngestError (resumable: earlier pages stay committed) when it is unusable."""
        where = f"{self.url}?{'&'.join(f'{k}={v}' for k, v in params.items())}"
        try:
            response = self.client.get(self.url, params=params, ok_status=frozenset({400}))
            root = parse_page(response.content, where, f"{ATOM}feed")
        except IngestError as exc:
            raise IngestError(str(exc), resumable=True) from None
        error = _api_error(root)
        if error is not None:
            raise IngestError(f"{where}: arXiv API error: {error}")
        if response.status_code >= 400:
            raise IngestError(f"{where}: HTTP {response.status_code}")
        return root

    def batches(self, state: dict[str, Any] | None) -> Iterator[Batch]:
        start = int(state["start"]) if state else 0
        done = start
        for params, offset in self._requests(start):
            root = self._fetch(params)
            entries = root.findall(f"{ATOM}entry")
            total_text = text_of(root.find(f"{OPENSEARCH}totalResults"))
            batch = Batch()
            if total_text and total_text.strip().isdigit() and not self.ids:
                found = int(total_text)
                batch.total = found if self.max_results is None else min(found, self.max_results)
            reached_cutoff = False
            for position, entry in enumerate(entries):
                try:
                    record = parse_entry(entry)
                except RecordError as exc:
                    entry_id = text_of(entry.find(f"{ATOM}id")) or f"entry {offset + position + 1}"
                    batch.rejections.append(Rejection(f"{self.url} {entry_id.strip()}", str(exc)))
                    continue
                if self.cutoff and record.published_at and record.published_at < self.cutoff:
                    reached_cutoff = True
                    continue
                batch.papers.append(record)
            done = offset + (len(params["id_list"].split(",")) if self.ids else len(entries))
            batch.checkpoint = {"start": done}
            batch.progress = len(entries)
            yield batch
            if not self.ids and (
                not entries or reached_cutoff or (batch.total is not None and done >= batch.total)
            ):
                return
