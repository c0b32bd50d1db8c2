"""Typo correction of query words against the library's own vocabulary (search/vocabulary.py).

A query word is corrected when the library barely knows it: no paper holds it, or a few do while a
word one or two edits away is held by many times more papers (the library's own typos, such as
"retreival" in one abstract, must not capture the query). Words shorter than five letters, words with
digits and the words of quoted phrases are left as typed. When several words are misspelled, each takes
its best suggestion by edit distance, then by how many papers hold it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from paperboy.search.query import ParsedQuery
from paperboy.search.terms import exact_words
from paperboy.search.vocabulary import Vocabulary

RARE = 3
"""A word held by at most this many papers may be a typo of a common word..."""
DOMINANCE = 20
"""...when the suggested word is held by at least this many times more papers."""


@dataclass(frozen=True)
class Correction:
    """A query with some words replaced; `changes` pairs each word as typed with its replacement."""

    original: ParsedQuery
    corrected: ParsedQuery
    changes: tuple[tuple[str, str], ...]

    @property
    def text(self) -> str:
        """The query as it was searched: the raw text with the corrected words replaced."""
        text = self.original.raw
        for typed, replacement in self.changes:
            text = text.replace(typed, replacement, 1)
        return text


def correct(
    parsed: ParsedQuery, vocabulary: Vocabulary | None, counts: Callable[[Sequence[str]], dict[str, int]]
) -> Correction | None:
    """The corrected query, or None when every word is known well enough (or there is no vocabulary)."""
    if vocabulary is None or not parsed.words:
        return None
    folded = {word: exact_words(word) for word in parsed.words}
    single = {word: tokens[0] for word, tokens in folded.items() if len(tokens) == 1}
    known = counts(list(dict.fromkeys(single.values())))
    replacements: dict[str, str] = {}
    for word, token in single.items():
        papers = known.get(token, 0)
        if papers > RARE:
            continue
        suggestions = vocabulary.suggest(token)
        if suggestions and (papers == 0 or suggestions[0].papers >= DOMINANCE * papers):
            replacements[word] = suggestions[0].word
    if not replacements:
        return None
    words = tuple(replacements.get(word, word) for word in parsed.words)
    changes = tuple(
        (word, replacements[word]) for word in dict.fromkeys(parsed.words) if word in replacements
    )
    return Correction(parsed, parsed.with_words(words), changes)
