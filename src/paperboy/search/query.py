"""Parse what a user types into words, quoted phrases and filters, and refuse what cannot be searched.

Syntax: free words; "quoted phrases" (must appear); author:name or author:"full name"; cat:cs.LG;
has:code (papers whose text names a code repository).
Everything else that looks like query-language punctuation is ignored rather than mis-parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date

from paperboy.db.repositories.search_docs import PaperContent
from paperboy.tex import fold, tex_to_words

MAX_QUERY_CHARS = 1000
_TOKEN = re.compile(
    r'(?P<key>author|cat|category|has):(?:"(?P<qval>[^"]*)"|(?P<val>\S+))?|"(?P<phrase>[^"]*)"|(?P<word>\S+)',
    re.I,
)
_WORD_CHARS = re.compile(r"[\w]+(?:[.\-'][\w]+)*", re.UNICODE)
_OPERATORS = {"and", "or", "not"}


EPOCH = date(1970, 1, 1)


def day_number(day: date) -> int:
    """Days since 1970-01-01 (how the indexes store publication days)."""
    return (day - EPOCH).days


@dataclass(frozen=True)
class SearchFilters:
    """Restrictions on results: publication date range (inclusive) and categories (any of)."""

    date_from: date | None = None
    date_to: date | None = None
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    """Required tags (TAGS), all of them: "code" for papers with a code repository."""

    @property
    def active(self) -> bool:
        return bool(self.date_from or self.date_to or self.categories or self.tags)


TAGS = ("code",)
"""What `has:` can ask for."""


def tags_of(paper: PaperContent) -> tuple[str, ...]:
    """The tags an indexed paper carries (what `has:` filters on)."""
    return ("code",) if paper.has_code else ()


class QueryError(ValueError):
    """A query that cannot be searched; the message tells the user what to change."""


@dataclass(frozen=True)
class ParsedQuery:
    """A user query split into its parts."""

    raw: str
    words: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    text: str = ""
    """The words and phrases as plain text, for the embedding model and exact-title matching."""

    @property
    def has_terms(self) -> bool:
        return bool(self.words or self.phrases)

    @property
    def has_filters(self) -> bool:
        return bool(self.phrases or self.authors or self.categories or self.tags)

    def with_words(self, words: tuple[str, ...]) -> ParsedQuery:
        """The same query with its free words replaced (a typo correction), phrases and filters kept."""
        replaced = dict(zip(self.words, words, strict=True))
        text = " ".join(replaced.get(word, word) for word in self.text.split())
        return replace(self, words=words, text=text)


@dataclass
class _Parts:
    words: list[str] = field(default_factory=list)
    phrases: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    text: list[str] = field(default_factory=list)


def _clean_words(text: str) -> list[str]:
    return _WORD_CHARS.findall(text)


def parse_query(raw: str) -> ParsedQuery:
    """Split `raw` into words, phrases and filters; raise QueryError for unusable input."""
    if raw is None or not raw.strip():
        raise QueryError("the query is empty: type some words to search for")
    if len(raw) > MAX_QUERY_CHARS:
        raise QueryError(f"the query is too long ({len(raw)} characters; at most {MAX_QUERY_CHARS})")
    parts = _Parts()
    for match in _TOKEN.finditer(tex_to_words(raw)):
        if match.group("key"):
            value = (match.group("qval") or match.group("val") or "").strip()
            if not value:
                continue
            key = match.group("key").lower()
            if key == "author":
                names = " ".join(_clean_words(value))
                if names:
                    parts.authors.append(names)
            elif key == "has":
                if value.lower() not in TAGS:
                    raise QueryError(f"has:{value} is not a filter: has: takes {', '.join(TAGS)}")
                parts.tags.append(value.lower())
            else:
                parts.categories.append(value)
        elif match.group("phrase") is not None:
            words = _clean_words(match.group("phrase"))
            if len(words) == 1:
                parts.words.extend(words)
            elif words:
                parts.phrases.append(" ".join(words))
            parts.text.extend(words)
        else:
            words = [w for w in _clean_words(match.group("word")) if w.lower() not in _OPERATORS]
            parts.words.extend(words)
            parts.text.extend(words)
    if not (parts.words or parts.phrases or parts.authors or parts.categories or parts.tags):
        raise QueryError("the query has no words to search for (only operators or punctuation)")
    return ParsedQuery(
        raw=raw,
        words=tuple(parts.words),
        phrases=tuple(parts.phrases),
        authors=tuple(parts.authors),
        categories=tuple(parts.categories),
        tags=tuple(dict.fromkeys(parts.tags)),
        text=" ".join(parts.text),
    )


_TITLE_WORD = re.compile(r"\w+")


def title_key(title: str) -> str:
    """A title reduced to folded words, so "exact title" matching ignores case, accents, punctuation and
    how its math is written (`$\\alpha$-divergence` and the Greek letter give the same key)."""
    return " ".join(_TITLE_WORD.findall(fold(tex_to_words(title))))
