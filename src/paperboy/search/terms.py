"""Stemmed terms of queries and texts, with the same analysis as the lexical index (tantivy en_stem).

Used to highlight the words a query matched and to match digest keywords against new papers.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from paperboy.search.lexical import english_analyzer
from paperboy.search.query import QueryError, parse_query

_analyzer: Any = None


def analyzer() -> Any:
    global _analyzer
    if _analyzer is None:
        _analyzer = english_analyzer()
    return _analyzer


@lru_cache(maxsize=50_000)
def word_stems(word: str) -> tuple[str, ...]:
    """The stems of one word (usually one; none for over-long tokens)."""
    return tuple(analyzer().analyze(word))


def text_stems(text: str) -> frozenset[str]:
    return frozenset(analyzer().analyze(text))


def query_stems(query: str) -> frozenset[str]:
    """The stemmed terms of a search query's words and phrases (filters left out); empty when unusable."""
    try:
        parsed = parse_query(query)
    except QueryError:
        return frozenset()
    return frozenset(t for text in (*parsed.words, *parsed.phrases) for t in analyzer().analyze(text))
