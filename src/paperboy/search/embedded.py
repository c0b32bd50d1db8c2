"""The embedded backend: BM25 in tantivy and an HNSW vector index in usearch, under <home>/index.

Candidates: BM25's best and the vector index's best, each scored on the other side (BM25 of the vector
candidates through a restricted tantivy query, cosine of the BM25 candidates from the stored vectors).
The search service fuses them (search/fusion.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from threading import Lock

from paperboy.db.repositories.search_docs import PaperContent
from paperboy.search.backend import FILTERED_DENSE_OVERSAMPLE, IndexCounts, Mode, Vector
from paperboy.search.fusion import Candidates, FusionParams
from paperboy.search.query import ParsedQuery, SearchFilters
from paperboy.search.store import SearchStore, current_build, indexer_lock, new_build_dir, publish_build
from paperboy.search.vocabulary import Vocabulary

REFRESH_SECONDS = 1.0


class StoreWriter:
    """IndexWriter over one build directory; `fresh` skips deletes while filling a new build."""

    def __init__(self, store: SearchStore, fresh: bool = False) -> None:
        self.store = store
        self.fresh = fresh
        self._vectors_dirty = False

    def upsert_text(self, papers: Sequence[PaperContent]) -> None:
        self.store.lexical.upsert(papers, fresh=self.fresh)

    def delete_text(self, paper_ids: Sequence[int]) -> None:
        self.store.lexical.delete(paper_ids)

    def upsert_vectors(self, paper_ids: Sequence[int], vectors: Vector) -> None:
        if paper_ids:
            self.store.vectors.upsert(list(paper_ids), vectors, fresh=self.fresh)
            self._vectors_dirty = True

    def delete_vectors(self, paper_ids: Sequence[int]) -> None:
        if paper_ids:
            self.store.vectors.delete(paper_ids)
            self._vectors_dirty = True

    def commit_text(self) -> None:
        self.store.lexical.commit()

    def commit_vectors(self) -> None:
        """Atomic save of the vector file (skipped when nothing changed: at 1M papers it is 0.5 GB)."""
        if self._vectors_dirty or not self.store.vectors.path.exists():
            self.store.vectors.save()
            self._vectors_dirty = False

    def counts(self) -> IndexCounts:
        return IndexCounts(self.store.lexical.count(), len(self.store.vectors))

    def vocabulary(self) -> Vocabulary:
        return self.store.vocabulary

    def words(self) -> list[tuple[str, int]]:
        return self.store.lexical.vocabulary()


class EmbeddedBackend:
    """Serves searches from the live build, picking up new builds and commits without a restart."""

    name = "embedded"

    def __init__(self, home: Path, dim: int, params: FusionParams = FusionParams()) -> None:
        self.home = home
        self.dim = dim
        self.params = params
        self._store: SearchStore | None = None
        self._checked = 0.0
        self._lock = Lock()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="paperboy-search")

    # --- writing -------------------------------------------------------------------------------
    def lock(self) -> AbstractContextManager[None]:
        return indexer_lock(self.home)

    def exists(self) -> bool:
        return current_build(self.home) is not None

    def counts(self) -> IndexCounts:
        store = self.store()
        if store is None:
            return IndexCounts(0, 0)
        return IndexCounts(store.lexical.count(), len(store.vectors))

    def writer(self) -> StoreWriter:
        return StoreWriter(SearchStore.open_current(self.home, self.dim, writable=True))

    @contextmanager
    def rebuild(self) -> Iterator[StoreWriter]:
        build = new_build_dir(self.home)
        writer = StoreWriter(SearchStore(build, self.dim, writable=True), fresh=True)
        yield writer
        writer.commit_text()
        writer.commit_vectors()
        publish_build(self.home, build)

    # --- reading -------------------------------------------------------------------------------
    def store(self) -> SearchStore | None:
        """The live index, reopened when a rebuild swapped it or an indexer committed to it (None while
        there is none: reading never creates an index, so an empty one cannot pass for the real thing)."""
        with self._lock:
            now = time.monotonic()
            if now - self._checked < REFRESH_SECONDS:
                return self._store
            self._checked = now
            build = current_build(self.home)
            if build is None:
                self._store = None
            elif self._store is None or build != self._store.build:
                self._store = SearchStore(build, self.dim, writable=False)
            else:
                self._store.lexical.reload()
                self._store.vectors.refresh()
                self._store.vocabulary.refresh()
            return self._store

    def candidates(
        self,
        parsed: ParsedQuery,
        mode: Mode,
        filters: SearchFilters,
        depth: int,
        embed: Callable[[], Vector],
        count: bool = False,
    ) -> Candidates:
        store = self.store()
        if store is None or not parsed.has_terms:
            return Candidates()
        lexical_side = mode != "dense"
        # BM25 runs on a second core while this thread embeds the query and walks the vector index
        # (tantivy, onnxruntime and usearch all release the GIL).
        bm25 = (
            self._pool.submit(store.lexical.search, parsed, depth, filters, count) if lexical_side else None
        )
        if mode == "lexical":
            assert bm25 is not None
            hits, matches = bm25.result()
            return Candidates(dict(hits), {}, matches)
        query_vector = embed()
        constrained = filters.active or parsed.has_filters
        dense_depth = depth * FILTERED_DENSE_OVERSAMPLE if constrained else depth
        dense = dict(store.vectors.search(query_vector, dense_depth))
        if constrained:
            allowed = store.lexical.passing(parsed, list(dense), filters)
            dense = {pid: s for pid, s in dense.items() if pid in allowed}
        if bm25 is None:
            dense = dict(sorted(dense.items(), key=lambda item: -item[1])[:depth])
            return Candidates({}, dense, len(dense))
        dense_bm25 = self._pool.submit(store.lexical.score, parsed, list(dense), filters)
        hits, matches = bm25.result()
        lexical = dict(hits)
        dense.update(store.vectors.similarity(query_vector, [pid for pid in lexical if pid not in dense]))
        lexical.update((pid, score) for pid, score in dense_bm25.result().items() if pid not in lexical)
        return Candidates(lexical, dense, matches)

    def covering(self, groups: Sequence[tuple[str, ...]], paper_ids: Sequence[int]) -> set[int]:
        store = self.store()
        return store.lexical.covering(groups, paper_ids) if store else set()

    def newest(self, parsed: ParsedQuery, filters: SearchFilters, depth: int) -> list[int]:
        store = self.store()
        return store.lexical.newest(parsed, depth, filters) if store else []

    def exact_title(self, text: str) -> list[int]:
        store = self.store()
        return store.lexical.exact_title(text) if store else []

    def passing(self, parsed: ParsedQuery, paper_ids: Sequence[int], filters: SearchFilters) -> set[int]:
        store = self.store()
        return store.lexical.passing(parsed, paper_ids, filters) if store else set()

    def similar(self, paper_id: int, k: int) -> list[tuple[int, float]] | None:
        store = self.store()
        vector = store.vectors.vector(paper_id) if store else None
        if store is None or vector is None:
            return None
        return [(pid, s) for pid, s in store.vectors.search(vector, k + 1) if pid != paper_id][:k]

    def word_counts(self, words: Sequence[str]) -> dict[str, int]:
        store = self.store()
        return store.lexical.word_counts(words) if store else dict.fromkeys(words, 0)

    def together(self, word: str, others: Sequence[str]) -> int:
        store = self.store()
        return store.lexical.together(word, others) if store and others else 0

    def vocabulary(self) -> Vocabulary | None:
        store = self.store()
        return store.vocabulary if store else None

    def close(self) -> None:
        self._pool.shutdown(wait=False)
