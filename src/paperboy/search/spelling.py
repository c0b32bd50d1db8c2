"""Typo correction of query words against the library's own vocabulary (search/vocabulary.py).

A query word is corrected when the library barely knows it: no paper holds it, or a few do while a
word one or two edits away is held by many times more papers (the library's own typos, such as
"retreival" in one abstract, must not capture the query). Left as typed:
- words whose stem the library knows ("populated" beside "populate"): stemmed search finds them;
- a known word with a prefix or suffix added ("unassociated", "leaky"): another word, not a typo;
- names spelled on purpose (PPARy, aPKCz, BERT2), and words shorter than five letters.

Among the suggestions, the one that makes most sense with the rest of the query wins: candidates are
scored by how many papers hold them together with the query's other words (so "visal" in "visal cortex
neurons" becomes "visual", not the more frequent "viral"), a changed first letter counts against a
candidate, and a second edit counts against it more.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from paperboy.search.query import ParsedQuery
from paperboy.search.terms import content_words, exact_words
from paperboy.search.vocabulary import Suggestion, Vocabulary

RARE = 3
"""A word held by at most this many papers may be a typo of a common word..."""
DOMINANCE = 20
"""...when the suggested word is held by at least this many times more papers."""
FIRST_LETTER_PENALTY = 0.2
SECOND_EDIT_PENALTY = 0.3
CANDIDATES = 5
PREFIXES = frozenset(
    (
        "un in im il ir non de dis re pre anti co counter over under sub super multi micro macro semi "
        "hyper hypo inter intra trans auto bio exo endo post mis"
    ).split()
)
SUFFIXES = frozenset(
    (
        "s es y ly e n d r ed er est ing al ic ical ity ive ous ful less able ible ness ment ion ation "
        "ist ism ize ise ized ised or ors ar"
    ).split()
)
_PARTS = re.compile(r"[^\W_]+")
"""The parts of a query word, as the analyzers split it ("HIV-positive" → HIV, positive)."""
Counts = Callable[[Sequence[str]], dict[str, int]]
CoCounts = Callable[[str, Sequence[str]], int]


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


def _looks_like_a_name(word: str) -> bool:
    """Gene names, acronyms and identifiers (PPARy, aPKCz, BERT2): spelled on purpose."""
    return any(c.isdigit() for c in word) or any(c.isupper() for c in word[1:])


def _is_affix_variant(token: str, candidate: str) -> bool:
    """`token` is `candidate` with a prefix or suffix added: another word built on a known one."""
    if token.startswith(candidate):
        return token[len(candidate) :] in SUFFIXES
    if token.endswith(candidate):
        return token[: -len(candidate)] in PREFIXES
    return False


def _weight(token: str, suggestion: Suggestion) -> float:
    weight = 1.0 if suggestion.word[0] == token[0] else FIRST_LETTER_PENALTY
    return weight * (SECOND_EDIT_PENALTY if suggestion.distance > 1 else 1.0)


def _choose(
    token: str, suggestions: list[Suggestion], others: Sequence[str], together: CoCounts
) -> Suggestion | None:
    """The suggestion that fits the rest of the query best (module docstring)."""
    usable = [s for s in suggestions if not _is_affix_variant(token, s.word)][:CANDIDATES]
    if not usable:
        return None
    if len(usable) == 1:
        return usable[0]

    def score(suggestion: Suggestion) -> tuple[float, int]:
        context = together(suggestion.word, others) if others else suggestion.papers
        return ((context + 0.5) * _weight(token, suggestion), suggestion.papers)

    return max(usable, key=score)


def _corrected_word(word: str, replacements: dict[str, str]) -> str:
    """`word` with its misspelled parts replaced ("0-diemnsional" → "0-dimensional")."""
    for token, replacement in replacements.items():
        replaced, done = re.subn(re.escape(token), replacement, word, count=1, flags=re.IGNORECASE)
        word = replaced if done else word
    return word


def _fixes(
    suggestions: dict[str, list[Suggestion]],
    known: dict[str, int],
    context: list[str],
    together: CoCounts,
    previous: dict[str, str] | None = None,
) -> dict[str, str]:
    """The best suggestion for each suspect word, in the context of the known words (and of the other
    suspects' corrections from a previous round: a query whose every word is misspelled, such as a
    half-remembered title, has no other context)."""
    fixes: dict[str, str] = {}
    for token, options in suggestions.items():
        others = context + [fix for other, fix in (previous or {}).items() if other != token]
        best = _choose(token, options, others, together)
        papers = known.get(token, 0)
        if best and (papers == 0 or best.papers >= DOMINANCE * papers):
            fixes[token] = best.word
    return fixes


def correct(
    parsed: ParsedQuery, vocabulary: Vocabulary | None, counts: Counts, together: CoCounts
) -> Correction | None:
    """The corrected query, or None when every word is known well enough (or there is no vocabulary).

    `counts` gives the papers holding each word; `together(word, others)` the papers holding `word` and
    at least one of `others`.
    """
    if vocabulary is None or not parsed.words:
        return None
    tokens = [
        t
        for word in parsed.words
        for part in _PARTS.findall(word)
        if not _looks_like_a_name(part)
        for t in exact_words(part)
    ]
    known = counts(list(dict.fromkeys(tokens)))
    suspects = {
        t for t in tokens if known.get(t, 0) <= RARE and not t.isdigit() and not vocabulary.knows_stem_of(t)
    }
    context = [w for w in content_words(parsed.words) if w not in suspects and known.get(w, 0) > 0]
    suggestions = {token: vocabulary.suggest(token) for token in sorted(suspects)}
    fixes = _fixes(suggestions, known, context, together)
    if len(fixes) > 1:  # again, each word now in the company of the others' corrections
        fixes = _fixes(suggestions, known, context, together, fixes)
    if not fixes:
        return None
    changes: dict[str, str] = {}
    for word in parsed.words:
        parts = {
            t: fixes[t]
            for part in _PARTS.findall(word)
            if not _looks_like_a_name(part)
            for t in exact_words(part)
            if t in fixes
        }
        if parts:
            changes[word] = _corrected_word(word, parts)
    words = tuple(changes.get(word, word) for word in parsed.words)
    return Correction(parsed, parsed.with_words(words), tuple(changes.items()))
