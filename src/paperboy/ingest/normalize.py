"""Field normalizers shared by every source: whitespace, arXiv ids, dates, author lists, categories.

(arXiv ids are parsed in paperboy/arxiv_ids.py, which search and the web use too.)

Each raises RecordError with the field name, so a rejected record says exactly what was wrong.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime

from paperboy.db.records import RecordError
from paperboy.tex import detex

_WS = re.compile(r"\s+")
# Control characters other than whitespace: PostgreSQL rejects NUL in text, and none belongs in metadata.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n|\n[ \t]+(?=\S)")
_LISTING_TRAILER = re.compile(r"\\\\\s*\(\s*https?://arxiv\.org/abs/[^)]*\)\s*$")
CATEGORY = re.compile(r"^[a-z][a-z\-]*(?:\.[A-Za-z][A-Za-z\-]*)?$")
MAX_CATEGORY_LENGTH = 32
"""The width of `papers.primary_category`; real arXiv categories are at most 17 characters."""


def clean_text(value: object, field: str) -> str | None:
    """Collapse runs of whitespace (arXiv wraps titles); None for missing or blank."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(f"field {field!r}: expected text, got {type(value).__name__}")
    cleaned = _WS.sub(" ", _CONTROL.sub("", value)).strip()
    return cleaned or None


def limit_length(value: str | None, limit: int, field: str) -> str | None:
    """Reject a value longer than its database column, instead of failing the whole batch on PostgreSQL."""
    if value is not None and len(value) > limit:
        raise RecordError(f"field {field!r}: longer than {limit} characters: {value[:40]!r}...")
    return value


def clean_abstract(value: object, field: str = "abstract") -> str | None:
    """Unwrap an abstract's lines but keep its paragraphs (blank line or indented line in arXiv's text)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise RecordError(f"field {field!r}: expected text, got {type(value).__name__}")
    text = _LISTING_TRAILER.sub("", _CONTROL.sub("", value).strip())
    paragraphs = [_WS.sub(" ", part).strip() for part in _PARAGRAPH_BREAK.split(text)]
    return "\n\n".join(p for p in paragraphs if p) or None


def require(value: str | None, field: str) -> str:
    """A required text field: reject the record when it is missing."""
    if not value:
        raise RecordError(f"missing field {field!r}")
    return value


MAX_INTEGER = 2**31 - 1
"""The largest count or version the database's integer columns hold (PostgreSQL `integer`)."""
_ASCII_DIGITS = re.compile(r"^[0-9]{1,10}$")


def parse_version(value: object, field: str = "version") -> int | None:
    """'v3', '3' or 3 → 3 (ASCII digits only: "v²" is not a version, whatever str.isdigit says)."""
    if value is None or value == "":
        return None
    text = str(value).strip().lower().removeprefix("v")
    if not _ASCII_DIGITS.match(text) or not 1 <= int(text) <= MAX_INTEGER:
        raise RecordError(f"field {field!r}: not a version number: {str(value)[:40]!r}")
    return int(text)


def parse_count(value: object, field: str) -> int | None:
    """A non-negative integer that the database can store (upvotes, comment counts); None when absent."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_INTEGER:
        shown = repr(value) if not isinstance(value, str) else repr(value[:40])
        raise RecordError(f"field {field!r}: expected a whole number from 0 to {MAX_INTEGER}, got {shown}")
    return value


def parse_datetime(value: object, field: str) -> datetime | None:
    """ISO 8601 (date or date-time, 'Z' or offset) or RFC 2822 → naive UTC datetime."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            try:
                parsed = parsedate_to_datetime(text)
            except (TypeError, ValueError, IndexError):
                raise RecordError(f"field {field!r}: not a date: {value!r}") from None
    else:
        raise RecordError(f"field {field!r}: not a date: {value!r}")
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    if not 1980 <= parsed.year <= 2200:
        raise RecordError(f"field {field!r}: date out of range: {value!r}")
    return parsed


_AFFILIATION = re.compile(r"\([^()]*\)")
_AUTHOR_SPLIT = re.compile(r"\s*,\s*(?:(?:and|&)\s+)?|\s+(?:and|&)\s+|\s*;\s*")
_NAME_SUFFIX = re.compile(r"^(?:jr|sr|ii|iii|iv)\.?$", re.I)


def split_authors(value: str) -> tuple[str, ...]:
    """Split arXiv's author string ("A. One, B. Two and C. Three (1) ((1) Univ))") into names."""
    text = _CONTROL.sub("", value).replace("\\,", " ")  # TeX thin space, not a separator
    while _AFFILIATION.search(text):
        text = _AFFILIATION.sub("", text)
    names: list[str] = []
    for part in _AUTHOR_SPLIT.split(text):
        name = _WS.sub(" ", detex(part)).strip(" .,")
        if not name or name.lower() in {"et al", "others"}:
            continue
        if _NAME_SUFFIX.match(name) and names:
            # "Robert W. Heath, Jr. and ..." -- the comma before a suffix does not start a new author.
            names[-1] = f"{names[-1]} {name}"
        else:
            names.append(name)
    return tuple(names)


def clean_authors(value: object, field: str = "authors") -> tuple[str, ...] | None:
    """Authors as a list of strings, a list of {name} objects, or one arXiv-style string."""
    if value is None:
        return None
    if isinstance(value, str):
        return split_authors(value) or None
    if isinstance(value, list):
        names: list[str] = []
        for position, item in enumerate(value):
            name = item.get("name") if isinstance(item, dict) else item
            if isinstance(item, list | tuple):
                # Kaggle's authors_parsed: [keyname, forenames, suffix, affiliation...].
                parts = [*reversed(item[:2]), *item[2:3]]
                name = " ".join(str(part) for part in parts if part)
            if not isinstance(name, str):
                raise RecordError(f"field {field!r}: author {position + 1} has no name")
            cleaned = clean_text(detex(name), field)
            if cleaned:
                names.append(cleaned)
        return tuple(names) or None
    raise RecordError(f"field {field!r}: expected a list or a string, got {type(value).__name__}")


def clean_categories(value: object, field: str = "categories") -> tuple[str, ...] | None:
    """Categories as a list or a space/comma separated string; each must look like an arXiv category."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        items = [part for part in re.split(r"[\s,;]+", value) if part]
    elif isinstance(value, list):
        items = [str(part).strip() for part in value if str(part).strip()]
    else:
        raise RecordError(f"field {field!r}: expected a list or a string, got {type(value).__name__}")
    for item in items:
        if not CATEGORY.match(item) or len(item) > MAX_CATEGORY_LENGTH:
            raise RecordError(f"field {field!r}: not a category: {item!r}")
    return tuple(dict.fromkeys(items)) or None


_WITHDRAWN = re.compile(r"\b(this (paper|article|submission) (has been|is) withdrawn|withdrawn by)\b", re.I)


def looks_withdrawn(comments: str | None) -> bool:
    """arXiv marks withdrawals in the comments field ("This paper has been withdrawn by the author")."""
    return bool(comments and _WITHDRAWN.search(comments))
