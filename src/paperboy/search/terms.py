"""How text becomes search terms, in one place for the indexes, the query side, highlighting and digests.

Two analyses of the same text (after `tex_to_words`, so math reads as words):
- stems: words lower-cased, accents folded, English-stemmed ("generalization" → "general"). They give
  recall: "policies" finds "policy".
- exact words: lower-cased and accent-folded but not stemmed ("generalisation" stays itself). They give
  the evidence that a paper contains the very word typed, which stemming erases (it folds
  "generalization", "generation" and "general" together), and the vocabulary that typos are corrected
  against.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import tantivy

from paperboy.search.query import QueryError, parse_query
from paperboy.tex import tex_to_words

STEM_ANALYZER = "paperboy_stem"
EXACT_ANALYZER = "paperboy_exact"
MAX_TOKEN_CHARS = 40
STOPWORDS = frozenset(
    "a an and are as at be by for from has have in into is it its of on or that the their this to "
    "was were with via using based towards toward we our can do does how what which new".split()
)
"""Words that carry no topic: they never decide whether a paper "contains every query word"."""

_analyzers: dict[str, Any] = {}


def _builder() -> Any:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(MAX_TOKEN_CHARS))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
    )


def stem_analyzer() -> Any:
    return _builder().filter(tantivy.Filter.stemmer("english")).build()


def exact_analyzer() -> Any:
    return _builder().build()


def register_analyzers(index: Any) -> None:
    """Register the analyzers on a tantivy index (needed each time an index is opened)."""
    index.register_tokenizer(STEM_ANALYZER, stem_analyzer())
    index.register_tokenizer(EXACT_ANALYZER, exact_analyzer())


def analyzer() -> Any:
    """The stemming analyzer (shared, built once)."""
    if "stem" not in _analyzers:
        _analyzers["stem"] = stem_analyzer()
    return _analyzers["stem"]


def _exact() -> Any:
    if "exact" not in _analyzers:
        _analyzers["exact"] = exact_analyzer()
    return _analyzers["exact"]


def indexed_text(title: str, abstract: str) -> str:
    """The text both indexes analyze for a paper: title and abstract with their math as words."""
    return tex_to_words(f"{title}\n{abstract}")


def stems(text: str) -> list[str]:
    return list(analyzer().analyze(text))


def exact_words(text: str) -> list[str]:
    return list(_exact().analyze(text))


@lru_cache(maxsize=50_000)
def word_stems(word: str) -> tuple[str, ...]:
    """The stems of one word (usually one; none for over-long tokens)."""
    return tuple(analyzer().analyze(tex_to_words(word)))


def text_stems(text: str) -> frozenset[str]:
    return frozenset(analyzer().analyze(tex_to_words(text)))


def query_stems(query: str) -> frozenset[str]:
    """The stemmed terms of a search query's words and phrases (filters left out); empty when unusable."""
    try:
        parsed = parse_query(query)
    except QueryError:
        return frozenset()
    return frozenset(t for text in (*parsed.words, *parsed.phrases) for t in analyzer().analyze(text))


def word_variants(word: str) -> tuple[str, ...]:
    """Exact words that count as containing `word`: itself and its English plural or singular.

    "policy" → policy, policies, policys; "policies" → policies, policy. Not a stemmer: "generalisation"
    is never "generalization" or "general".
    """
    forms = [word]
    if len(word) > 3:
        if word.endswith("ies"):
            forms.append(word[:-3] + "y")
        elif word.endswith("es"):
            forms += [word[:-2], word[:-1]]
        elif word.endswith("s") and not word.endswith("ss"):
            forms.append(word[:-1])
    if word.endswith("y") and len(word) > 2 and word[-2] not in "aeiou":
        forms.append(word[:-1] + "ies")
    if not word.endswith("s"):
        forms += [word + "s", word + "es"]
    return tuple(dict.fromkeys(forms))


def word_groups(words: Iterable[str]) -> list[tuple[str, ...]]:
    """The query's words as a paper must hold them to "contain every word": one exact word each, or for
    a compound ("alpha-divergence", "text-to-image") its words in a row. Stop words alone are left out."""
    groups: dict[tuple[str, ...], None] = {}
    for word in words:
        tokens = tuple(exact_words(word))
        if any(t not in STOPWORDS for t in tokens):
            groups.setdefault(tokens)
    return list(groups)


def compound_head(word: str) -> str | None:
    """The head of a compound word, its last word that is not a stop word ("alpha-divergence" →
    "divergence"); None for a single word."""
    tokens = exact_words(word)
    if len(tokens) < 2:
        return None
    content = [t for t in tokens if t not in STOPWORDS]
    return content[-1] if content else None


def content_words(words: Iterable[str]) -> list[str]:
    """The exact words of a query that carry its topic (stop words left out), each once, in order."""
    found: dict[str, None] = {}
    for word in words:
        for token in exact_words(word):
            if token not in STOPWORDS:
                found.setdefault(token)
    return list(found)
