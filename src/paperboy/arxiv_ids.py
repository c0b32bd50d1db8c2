"""arXiv identifiers in every form people write them: bare, versioned, old style, `arXiv:` or a URL.

One parser for ingest (each record's id), search (a query that is an id goes to the paper) and the web
(`/papers/2410.17243v1` is the paper 2410.17243).
"""

from __future__ import annotations

import re

from paperboy.db.records import RecordError

NEW_STYLE_ID = re.compile(r"^(\d{4}\.\d{4,5})(?:v(\d+))?$")
OLD_STYLE_ID = re.compile(r"^([a-z][a-z\-]*(?:\.[A-Z]{2})?/\d{7})(?:v(\d+))?$")
_ID_PREFIXES = re.compile(
    r"^(?:https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf)/|arxiv:|oai:arxiv\.org:)", re.I
)
_PDF_SUFFIX = re.compile(r"\.pdf$", re.I)
LOCAL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*$")
"""Ids of papers from other corpora (a JSONL or CSV `id`, stored as `<source>:<id>`): letters, digits,
'_', '-' and single dots. Paper ids go into URL paths (/papers/{id}), so nothing that a path or a query
string gives a meaning to ('/', '..', '?', '#', '%', spaces) can be part of one."""


def parse_arxiv_id(value: object, field: str = "id") -> tuple[str, int | None]:
    """Split an arXiv identifier (URL, `arXiv:` prefix or bare, old or new style) into id and version."""
    if not isinstance(value, str) or not value.strip():
        raise RecordError(f"field {field!r}: missing arXiv id")
    text = _PDF_SUFFIX.sub("", _ID_PREFIXES.sub("", value.strip()))
    for pattern in (NEW_STYLE_ID, OLD_STYLE_ID):
        match = pattern.match(text)
        if match:
            version = int(match.group(2)) if match.group(2) else None
            if version == 0:
                raise RecordError(f"field {field!r}: version 0 in {value!r}")
            return match.group(1), version
    raise RecordError(f"field {field!r}: not an arXiv id: {value!r}")


def is_arxiv_id(value: str) -> bool:
    """Whether `value` parses as an arXiv identifier."""
    try:
        parse_arxiv_id(value)
    except RecordError:
        return False
    return True
