"""The one protocol the search service and the indexer talk to, so the index can live in different
engines: the embedded tantivy + usearch pair (default) or a Qdrant collection (scale-out).

A backend stores, per paper, the searchable text (BM25) and, once it is computed, its vector. The two
are written separately: a paper is keyword-searchable as soon as it is ingested, and gains its vector
when the background embedding reaches it (search/indexer.py). Reading, a backend returns candidates with
their scores on each side (`Candidates`); ranking them is the search service's job (search/fusion.py),
the same for every backend. Everything here is derived data: `paperboy index --rebuild` recreates it
from the database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from paperboy.db.repositories.search_docs import PaperContent
from paperboy.search.fusion import Candidates
from paperboy.search.query import ParsedQuery, SearchFilters
from paperboy.search.vocabulary import Vocabulary

Mode = Literal["hybrid", "lexical", "dense"]
Vector = npt.NDArray[np.float32]
FILTERED_DENSE_OVERSAMPLE = 10
"""With filters, take this many times more vector candidates, since many will not pass."""


class IndexBusy(RuntimeError):
    """Another indexer holds the backend's write lock."""


class IndexDamaged(RuntimeError):
    """The index cannot be read (a damaged or truncated file); the indexer rebuilds it from the database."""


@dataclass(frozen=True)
class IndexCounts:
    """Papers in the keyword index, and how many of them have a vector."""

    lexical: int
    embedded: int


class IndexWriter(Protocol):
    """Writes to one index: the live one (incremental runs) or a fresh one (rebuilds)."""

    def upsert_text(self, papers: Sequence[PaperContent], replace: bool = True) -> None:
        """Add or replace the searchable text of papers (their vectors, if any, are kept); `replace=False`
        when the papers are known not to be in the index yet (no old entry is looked for)."""
        ...

    def delete_text(self, paper_ids: Sequence[int]) -> None: ...

    def upsert_vectors(self, paper_ids: Sequence[int], vectors: Vector) -> None:
        """Set the vectors of papers already written with `upsert_text`; one row per paper, in order."""
        ...

    def delete_vectors(self, paper_ids: Sequence[int]) -> None: ...

    def commit_text(self, final: bool = True) -> None:
        """Make the text written so far durable and visible to searches; `final=False` when more text
        follows in the same run (background work such as merging may go on meanwhile)."""
        ...

    def commit_vectors(self) -> None:
        """Make the vectors written so far durable and visible to searches."""
        ...

    def counts(self) -> IndexCounts: ...

    def ids(self) -> tuple[set[int], set[int]]:
        """Every paper id in the keyword index, and every one with a vector (to reconcile with the database)."""
        ...

    def vocabulary(self) -> Vocabulary:
        """The vocabulary of this index, which the indexer rebuilds from `words()`."""
        ...

    def words(self) -> list[tuple[str, int]]:
        """Every exact word of the indexed text, with how many papers hold it."""
        ...


class SearchBackend(Protocol):
    name: str

    def lock(self) -> AbstractContextManager[None]:
        """Exclusive right to write (IndexBusy when another indexer has it)."""
        ...

    def exists(self) -> bool:
        """Whether an index has been created (an empty one counts)."""
        ...

    def counts(self) -> IndexCounts: ...

    def database(self) -> str | None:
        """The database (instance id) the live index was made from; None when it does not say."""
        ...

    def writer(self, database: str | None = None) -> IndexWriter:
        """The live index, for incremental writes (created empty, made from `database`, when there is
        none); IndexDamaged when it cannot be read."""
        ...

    def rebuild(self, database: str | None = None) -> AbstractContextManager[IndexWriter]:
        """A fresh, empty index; it replaces the live one atomically when the block ends without error."""
        ...

    def discard(self) -> None:
        """Drop the live index (damaged, or made from another database), so the next run builds anew."""
        ...

    def remove_orphans(self) -> list[str]:
        """Delete what killed rebuilds left behind (call holding the lock); returns what was removed."""
        ...

    def candidates(
        self,
        parsed: ParsedQuery,
        mode: Mode,
        filters: SearchFilters,
        depth: int,
        embed: Callable[[], Vector],
        count: bool = False,
    ) -> Candidates:
        """Up to `depth` candidates from each side the mode uses, each scored on both sides where it can
        be (BM25 of the vector candidates, cosine of the BM25 candidates that have vectors). `embed`
        computes the query vector (dense and hybrid modes only); `count` asks for the number of papers
        matching a query word."""
        ...

    def covering(
        self, groups: Sequence[tuple[str, ...]], paper_ids: Sequence[int], in_title: bool = False
    ) -> set[int]:
        """Those of `paper_ids` that hold every group (in their text, or in their title alone): a word
        exactly (or its plural or singular), or the words of a compound in a row."""
        ...

    def newest(self, parsed: ParsedQuery, filters: SearchFilters, depth: int) -> list[int]:
        """Papers passing a query without words (filters only), newest first."""
        ...

    def exact_title(self, text: str) -> list[int]:
        """Papers whose title equals `text`, ignoring case, accents, punctuation and TeX markup."""
        ...

    def passing(self, parsed: ParsedQuery, paper_ids: Sequence[int], filters: SearchFilters) -> set[int]:
        """Those of `paper_ids` that satisfy the filters, phrases, authors and categories."""
        ...

    def similar(self, paper_id: int, k: int) -> list[tuple[int, float]] | None:
        """The `k` nearest papers by vector (the paper itself left out); None while it has no vector."""
        ...

    def word_counts(self, words: Sequence[str]) -> dict[str, int]:
        """Papers holding each exact word (or its plural/singular)."""
        ...

    def together(self, word: str, others: Sequence[str]) -> int:
        """Papers holding `word` and at least one of `others` (for choosing between typo corrections)."""
        ...

    def vocabulary(self) -> Vocabulary | None:
        """The live index's vocabulary (None before the first index run)."""
        ...

    def close(self) -> None: ...
