"""The one protocol the search service and the indexer talk to, so the index can live in different
engines: the embedded tantivy + usearch pair (default) or a Qdrant collection (scale-out).

A backend stores, per paper, the searchable text (BM25) and its vector, and answers ranked queries with
the filters of `ParsedQuery` and `SearchFilters`. Everything here is derived data: `paperboy index
--rebuild` recreates it from the database.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from paperboy.db.repositories.search_docs import PaperContent
from paperboy.search.fusion import FusedScore
from paperboy.search.lexical import SearchFilters
from paperboy.search.query import ParsedQuery

Mode = Literal["hybrid", "lexical", "dense"]
Vector = npt.NDArray[np.float32]
Ranked = list[tuple[int, FusedScore]]
FILTERED_DENSE_OVERSAMPLE = 10
"""With filters, take this many times more vector candidates, since many will not pass."""


class IndexBusy(RuntimeError):
    """Another indexer holds the backend's write lock."""


class IndexWriter(Protocol):
    """Writes to one index: the live one (incremental runs) or a fresh one (rebuilds)."""

    def upsert(self, papers: Sequence[PaperContent], vectors: Vector) -> None:
        """Add or replace papers; `vectors` has one row per paper, in order."""
        ...

    def delete(self, paper_ids: Sequence[int]) -> None: ...

    def commit(self) -> None:
        """Make everything written so far durable and visible to searches."""
        ...

    def count(self) -> int: ...


class SearchBackend(Protocol):
    name: str

    def lock(self) -> AbstractContextManager[None]:
        """Exclusive right to write (IndexBusy when another indexer has it)."""
        ...

    def exists(self) -> bool:
        """Whether an index has been created (an empty one counts)."""
        ...

    def count(self) -> int: ...

    def writer(self) -> IndexWriter:
        """The live index, for incremental writes (created empty when there is none)."""
        ...

    def rebuild(self) -> AbstractContextManager[IndexWriter]:
        """A fresh, empty index; it replaces the live one atomically when the block ends without error."""
        ...

    def rank(
        self, parsed: ParsedQuery, mode: Mode, filters: SearchFilters, depth: int, embed: Callable[[], Vector]
    ) -> Ranked:
        """The best `depth` papers for the query, best first, with the scores that explain the order.

        `embed` computes the query vector; backends call it only for dense and hybrid modes.
        """
        ...

    def exact_title(self, text: str) -> list[int]:
        """Papers whose title equals `text`, ignoring case and punctuation."""
        ...

    def passing(self, parsed: ParsedQuery, paper_ids: Sequence[int], filters: SearchFilters) -> set[int]:
        """Those of `paper_ids` that satisfy the filters, phrases, authors and categories."""
        ...

    def similar(self, paper_id: int, k: int) -> list[tuple[int, float]]:
        """The `k` nearest papers by vector (the paper itself left out)."""
        ...

    def close(self) -> None: ...
