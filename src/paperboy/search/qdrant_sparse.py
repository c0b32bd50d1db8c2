"""The BM25 side of the Qdrant backend: sparse vectors of stems and exact words, and phrase checks on the
stored text, with the same analysis as the embedded index (search/terms.py)."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

from paperboy.search.lexical import EXACT_BOOST
from paperboy.search.query import ParsedQuery
from paperboy.search.terms import analyzer, exact_words

K1 = 1.2
B = 0.75
AVERAGE_TOKENS = 204.0
"""Mean analyzed length of title + abstract on the real arXiv sample (../shared/data): BM25's avgdl."""


def qdrant_models() -> Any:
    try:
        from qdrant_client import models
    except ImportError:  # pragma: no cover - the extra is installed in CI
        raise RuntimeError("the Qdrant backend needs qdrant-client: pip install 'paperboy[scale]'") from None
    return models


def term_index(term: str) -> int:
    """A stable 31-bit index for a stem (collisions are negligible at arXiv's vocabulary size)."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "big") & 0x7FFFFFFF


def _saturated(tokens: list[str], prefix: str, merged: dict[int, float]) -> None:
    norm = K1 * (1 - B + B * len(tokens) / AVERAGE_TOKENS)
    for term, tf in Counter(tokens).items():
        index = term_index(prefix + term)
        merged[index] = merged.get(index, 0.0) + tf * (K1 + 1) / (tf + norm)


def bm25_document_vector(text: str) -> tuple[list[int], list[float]]:
    """Stems and exact words of `text` with BM25-saturated term frequencies (IDF comes from the collection)."""
    merged: dict[int, float] = {}
    _saturated(analyzer().analyze(text), "", merged)
    _saturated(exact_words(text), "=", merged)
    return list(merged), list(merged.values())


def bm25_query_vector(parsed: ParsedQuery) -> tuple[list[int], list[float]]:
    texts = (*parsed.words, *parsed.phrases)
    weights: dict[int, float] = {}
    for text in texts:
        for stem in analyzer().analyze(text):
            weights.setdefault(term_index(stem), 1.0)
        for word in exact_words(text):
            weights.setdefault(term_index("=" + word), EXACT_BOOST)
    return list(weights), list(weights.values())


def stems_in_order(text: str) -> list[str]:
    return list(analyzer().analyze(text))


def contains_phrase(stems: list[str], phrase: list[str]) -> bool:
    if not phrase:
        return True
    width = len(phrase)
    return any(stems[i : i + width] == phrase for i in range(len(stems) - width + 1))
