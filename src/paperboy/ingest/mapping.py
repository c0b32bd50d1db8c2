"""Map a loosely-shaped record (JSON object or CSV row) to a PaperRecord.

One mapping serves the JSON-lines, CSV and Kaggle-snapshot sources: they differ in field spellings
(`journal-ref` vs `journal_ref`, author strings vs lists), not in meaning.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from paperboy.arxiv_ids import LOCAL_ID, parse_arxiv_id
from paperboy.db.records import PaperRecord, RecordError, VersionRecord
from paperboy.ingest.normalize import (
    clean_abstract,
    clean_authors,
    clean_categories,
    clean_text,
    limit_length,
    looks_withdrawn,
    parse_count,
    parse_datetime,
    parse_version,
    require,
)

ID_KEYS = ("id", "arxiv_id", "arxivId", "_id", "paper_id")
ABSTRACT_KEYS = ("abstract", "summary", "text")
PUBLISHED_KEYS = ("published", "publishedAt", "published_at", "date", "created")
UPDATED_KEYS = ("updated", "updatedAt", "updated_at", "update_date")
MAX_ID_LENGTH = 64
"""The width of `papers.arxiv_id`."""


def _first(data: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str, Any]:
    for key in keys:
        value = data.get(key)
        if value not in (None, ""):
            return key, value
    return keys[0], None


def _versions(value: object) -> tuple[VersionRecord, ...]:
    if value in (None, ""):
        return ()
    if not isinstance(value, list):
        raise RecordError("field 'versions': expected a list")
    versions = []
    for position, item in enumerate(value):
        if not isinstance(item, dict):
            raise RecordError(f"field 'versions': entry {position + 1} is not an object")
        number = parse_version(item.get("version"), f"versions[{position}].version")
        if number is None:
            raise RecordError(f"field 'versions': entry {position + 1} has no version")
        when = item.get("date_iso") or item.get("created") or item.get("date")
        size = limit_length(str(item["size"]) if item.get("size") else None, 32, f"versions[{position}].size")
        versions.append(VersionRecord(number, parse_datetime(when, f"versions[{position}].date"), size))
    return tuple(versions)


def _paper_key(
    data: Mapping[str, Any], title: str, require_arxiv_id: bool, id_prefix: str
) -> tuple[str, int | None]:
    field, raw = _first(data, ID_KEYS)
    if require_arxiv_id:
        return parse_arxiv_id(raw, field)
    if raw is None:
        digest = hashlib.sha1(title.lower().encode()).hexdigest()[:16]
        return f"{id_prefix}:{digest}", None
    text = str(raw).strip()
    try:
        return parse_arxiv_id(text, field)
    except RecordError:
        key = f"{id_prefix}:{text}"
        if len(text) > 48 or len(key) > MAX_ID_LENGTH or not LOCAL_ID.match(text):
            raise RecordError(
                f"field {field!r}: unusable id {text[:70]!r} (an arXiv id, or letters, digits, '.', '_' and '-')"
            ) from None
        return key, None


def map_record(
    data: Mapping[str, Any], source: str, require_arxiv_id: bool = False, id_prefix: str = "doc"
) -> PaperRecord:
    """Build a normalized PaperRecord from a mapping; raise RecordError naming the bad field."""
    title = require(clean_text(data.get("title"), "title"), "title")
    abstract_key, abstract_raw = _first(data, ABSTRACT_KEYS)
    abstract = require(clean_abstract(abstract_raw, abstract_key), "abstract")
    arxiv_id, id_version = _paper_key(data, title, require_arxiv_id, id_prefix)
    versions = _versions(data.get("versions"))
    version = parse_version(data.get("version")) or id_version
    if versions:
        version = max(version or 0, *(v.version for v in versions))
    authors_raw = data.get("authors_parsed") or data.get("authors")
    categories = clean_categories(data.get("categories"))
    primary_categories = clean_categories(data.get("primary_category"), "primary_category")
    primary = primary_categories[0] if primary_categories else None
    if primary is None and categories:
        primary = categories[0]
    published_key, published_raw = _first(data, PUBLISHED_KEYS)
    published = parse_datetime(published_raw, published_key)
    updated_key, updated_raw = _first(data, UPDATED_KEYS)
    updated = parse_datetime(updated_raw, updated_key)
    dated = [v.submitted_at for v in sorted(versions, key=lambda v: v.version) if v.submitted_at]
    if dated:
        published = published or dated[0]
        updated = dated[-1]
    comments = clean_text(data.get("comments") or data.get("comment"), "comments")
    upvotes = parse_count(data.get("upvotes"), "upvotes")
    return PaperRecord(
        arxiv_id=arxiv_id,
        title=title,
        abstract=abstract,
        source=source,
        version=version,
        authors=clean_authors(authors_raw),
        categories=categories,
        primary_category=primary,
        comments=comments,
        journal_ref=clean_text(data.get("journal_ref") or data.get("journal-ref"), "journal_ref"),
        doi=limit_length(clean_text(data.get("doi"), "doi"), 255, "doi"),
        license=limit_length(clean_text(data.get("license"), "license"), 255, "license"),
        published_at=published,
        updated_at=updated,
        withdrawn=looks_withdrawn(comments) if comments else None,
        versions=versions,
        upvotes=upvotes,
    )
