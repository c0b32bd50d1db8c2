"""The library's own vocabulary, for correcting misspelled query words.

A small tantivy index with one document per word of the library (the exact, unstemmed words of titles
and abstracts) and the number of papers holding it. A misspelled word is looked up with a Levenshtein
automaton (tantivy's fuzzy term query over the word dictionary), at edit distance 1 for words of 5-8
letters and 2 for longer ones (transpositions cost 1), as Elasticsearch's `fuzziness: AUTO` does.

The indexer rebuilds it from the search index's term dictionary after keyword indexing, when the library
has grown (search/indexer.py); it is derived data like the rest of the index. Rebuilding replaces all
documents in one tantivy commit, so readers see the old or the new vocabulary, never half of one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tantivy

from paperboy.search.terms import analyzer

MIN_WORD_CHARS = 3
SMALL_LIBRARY = 10_000
"""Below this many papers every word counts; above, words held by one paper only are left out (they are
mostly the library's own typos, and no correction should lead there)."""
REFRESH_GROWTH = 0.02
REFRESH_SECONDS = 3600.0
_WORD = re.compile(r"^[a-z]+$")
_MANIFEST = "vocabulary.json"
FORMAT = 2


def max_distance(word: str) -> int:
    """Edits allowed when correcting `word`: none below 5 letters, 1 up to 8, 2 above."""
    if len(word) < 5:
        return 0
    return 1 if len(word) <= 8 else 2


@dataclass(frozen=True)
class Suggestion:
    word: str
    papers: int
    distance: int


def edit_distance(a: str, b: str) -> int:
    """Damerau-Levenshtein distance (optimal string alignment: a swap of neighbours costs 1)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        previous2, previous = previous, current
    return previous[len(b)]


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("word", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field("stem", stored=False, tokenizer_name="raw", index_option="basic")
    builder.add_unsigned_field("papers", stored=True, fast=True)
    return builder.build()


class Vocabulary:
    """Words of the library and how many papers hold each; `suggest` proposes corrections."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.schema = _schema()
        try:
            self.index = tantivy.Index(self.schema, path=str(path), reuse=True)
        except ValueError:  # an older format (or damaged files): it is derived data, start it again
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
            self.index = tantivy.Index(self.schema, path=str(path), reuse=True)
        self._checked = 0.0

    def refresh(self) -> None:
        """See the latest rebuild (at most once a second)."""
        now = time.monotonic()
        if now - self._checked >= 1.0:
            self._checked = now
            self.index.reload()

    def size(self) -> int:
        return int(self.index.searcher().num_docs)

    def manifest(self) -> dict[str, Any]:
        try:
            loaded = json.loads((self.path / _MANIFEST).read_text())
            return loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            return {}

    def stale(self, papers: int) -> bool:
        """Whether a library of `papers` has outgrown this vocabulary (or it is old and anything changed)."""
        built = self.manifest()
        if built.get("format") != FORMAT:
            return True
        was = int(built.get("papers", -1))
        if was == papers:
            return False
        if was < 0 or papers < SMALL_LIBRARY:
            return True
        age = time.time() - float(built.get("built_at", 0))
        return abs(papers - was) > REFRESH_GROWTH * max(was, 1) or age > REFRESH_SECONDS

    def rebuild(self, words: Iterable[tuple[str, int]], papers: int) -> int:
        """Replace the vocabulary with `words` (word, papers holding it); returns how many were kept."""
        least = 1 if papers < SMALL_LIBRARY else 2
        writer = self.index.writer(heap_size=64_000_000, num_threads=1)
        writer.delete_all_documents()
        kept = 0
        stemmer = analyzer()
        for word, count in words:
            if count >= least and len(word) >= MIN_WORD_CHARS and _WORD.match(word):
                document = tantivy.Document()
                document.add_text("word", word)
                for stem in stemmer.analyze(word):
                    document.add_text("stem", stem)
                document.add_unsigned("papers", count)
                writer.add_document(document)
                kept += 1
        writer.commit()
        writer.wait_merging_threads()
        temporary = self.path / f"{_MANIFEST}.tmp"
        temporary.write_text(
            json.dumps({"format": FORMAT, "papers": papers, "words": kept, "built_at": time.time()})
        )
        os.replace(temporary, self.path / _MANIFEST)
        self.index.reload()
        return kept

    def papers_with(self, word: str) -> int:
        searcher = self.index.searcher()
        result = searcher.search(tantivy.Query.term_query(self.schema, "word", word), 1)
        if not result.hits:
            return 0
        return int(searcher.doc(result.hits[0][1])["papers"][0])

    def knows_stem_of(self, word: str) -> bool:
        """Whether some word of the library shares `word`'s stem ("populated" when it holds "populate"):
        the stemmed search matches it already, so it is a variant, not a typo."""
        searcher = self.index.searcher()
        return any(searcher.doc_freq("stem", stem) > 0 for stem in analyzer().analyze(word))

    def suggest(self, word: str, limit: int = 8) -> list[Suggestion]:
        """Library words within the allowed edit distance of `word`, most papers first."""
        distance = max_distance(word)
        if distance == 0 or not _WORD.match(word):
            return []
        query = tantivy.Query.fuzzy_term_query(self.schema, "word", word, distance, True)
        searcher = self.index.searcher()
        result = searcher.search(query, 64, count=False, order_by_field="papers")
        found = []
        for _, address in result.hits:
            stored = searcher.doc(address)
            candidate, papers = str(stored["word"][0]), int(stored["papers"][0])
            if candidate != word:
                found.append(Suggestion(candidate, papers, edit_distance(word, candidate)))
        found.sort(key=lambda s: (s.distance, -s.papers, s.word))
        return found[:limit]
