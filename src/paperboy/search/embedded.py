"""The embedded backend: BM25 in tantivy and an HNSW vector index in usearch, under <home>/index.

Candidates: BM25's best and the vector index's best, each scored on the other side (BM25 of the vector
candidates through a restricted tantivy query, cosine of the BM25 candidates from the stored vectors).
The search service fuses them (search/fusion.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from threading import Lock

from paperboy.db.repositories.search_docs import PaperContent
from paperboy.search.backend import FILTERED_DENSE_OVERSAMPLE, IndexCounts, IndexDamaged, Mode, Vector
from paperboy.search.fusion import Candidates, FusionParams
from paperboy.search.query import ParsedQuery, SearchFilters
from paperboy.search.store import (
    SearchStore,
    build_database,
    current_build,
    discard_current,
    indexer_lock,
    new_build_dir,
    publish_build,
    remove_orphans,
)
from paperboy.search.vocabulary import Vocabulary

REFRESH_SECONDS = 1.0
log = logging.getLogger(__name__)


class StoreWriter:
    """IndexWriter over one build directory; `fresh` skips deletes while filling a new build."""

    def __init__(self, store: SearchStore, fresh: bool = False) -> None:
        self.store = store
        self.fresh = fresh
        self._vectors_dirty = False

    def upsert_text(self, papers: Sequence[PaperContent], replace: bool = True) -> None:
        self.store.lexical.upsert(papers, fresh=self.fresh or not replace)

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

    def commit_text(self, final: bool = True) -> None:
        self.store.lexical.commit(final)

    def commit_vectors(self) -> None:
        """Atomic save of the vector file (skipped when nothing changed: at 1M papers it is 0.5 GB)."""
        if self._vectors_dirty or not self.store.vectors.path.exists():
            self.store.vectors.save()
            self._vectors_dirty = False

    def counts(self) -> IndexCounts:
        return IndexCounts(self.store.lexical.count(), len(self.store.vectors))

    def ids(self) -> tuple[set[int], set[int]]:
        return self.store.lexical.all_ids(), self.store.vectors.keys()

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
        self.damaged: str | None = None
        """Why the live index cannot be read, while it cannot."""

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

    def database(self) -> str | None:
        build = current_build(self.home)
        return build_database(build) if build else None

    def writer(self, database: str | None = None) -> StoreWriter:
        return StoreWriter(SearchStore.open_current(self.home, self.dim, writable=True, database=database))

    @contextmanager
    def rebuild(self, database: str | None = None) -> Iterator[StoreWriter]:
        build = new_build_dir(self.home, database)
        writer = StoreWriter(SearchStore.open(build, self.dim, writable=True), fresh=True)
        yield writer
        writer.commit_text()
        writer.commit_vectors()
        publish_build(self.home, build)

    def discard(self) -> None:
        discard_current(self.home)
        with self._lock:
            self._store, self._checked = None, 0.0

    def remove_orphans(self) -> list[str]:
        return remove_orphans(self.home)

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
            try:
                if build is None:
                    self._store = None
                elif self._store is None or build != self._store.build:
                    self._store = SearchStore.open(build, self.dim, writable=False)
                else:
                    self._store.lexical.reload()
                    self._store.vectors.refresh()
                    self._store.vocabulary.refresh()
            except Exception as exc:  # damaged files: serve nothing (and say so) until the indexer repairs
                if self.damaged != str(exc):
                    log.error("the search index cannot be read (%s); the indexer rebuilds it", exc)
                self.damaged, self._store = str(exc), None
                return None
            self.damaged = None
            return self._store

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Errors a damaged file raises mid-query become IndexDamaged (and the status says so)."""
        try:
            yield
        except (ValueError, RuntimeError, OSError) as exc:
            self.damaged = str(exc)
            with self._lock:
                self._store, self._checked = None, 0.0
            log.error("the search index failed while reading (%s); the indexer rebuilds it", exc)
            raise IndexDamaged(str(exc)) from exc

    def candidates(
        self,
        parsed: ParsedQuery,
        mode: Mode,
        filters: SearchFilters,
        depth: int,
        embed: Callable[[], Vector],
        count: bool = False,
    ) -> Candidates:
        with self._reading():
            return self._candidates(parsed, mode, filters, depth, embed, count)

    def _candidates(
        self,
        parsed: ParsedQuery,
        mode: Mode,
        filters: SearchFilters,
        depth: int,
        embed: Callable[[], Vector],
        count: bool,
    ) -> Candidates:
        store = self.store()
        if store is None or not parsed.has_terms:
            return Candidates()
        lexical_side = mode != "dense"
        estimate = store.lexical.estimated_matches(parsed, filters) if count and lexical_side else None
        count = count and estimate is None
        # BM25 runs on a second core while this thread embeds the query and walks the vector index
        # (tantivy, onnxruntime and usearch all release the GIL).
        bm25 = (
            self._pool.submit(store.lexical.search, parsed, depth, filters, count) if lexical_side else None
        )
        if mode == "lexical":
            assert bm25 is not None
            hits, matches = bm25.result()
            return Candidates(dict(hits), {}, estimate or matches, estimate is not None)
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
        return Candidates(lexical, dense, estimate or matches, estimate is not None)

    def covering(
        self, groups: Sequence[tuple[str, ...]], paper_ids: Sequence[int], in_title: bool = False
    ) -> set[int]:
        with self._reading():
            store = self.store()
            return store.lexical.covering(groups, paper_ids, in_title) if store else set()

    def newest(self, parsed: ParsedQuery, filters: SearchFilters, depth: int) -> list[int]:
        with self._reading():
            store = self.store()
            return store.lexical.newest(parsed, depth, filters) if store else []

    def exact_title(self, text: str) -> list[int]:
        with self._reading():
            store = self.store()
            return store.lexical.exact_title(text) if store else []

    def passing(self, parsed: ParsedQuery, paper_ids: Sequence[int], filters: SearchFilters) -> set[int]:
        with self._reading():
            store = self.store()
            return store.lexical.passing(parsed, paper_ids, filters) if store else set()

    def similar(self, paper_id: int, k: int) -> list[tuple[int, float]] | None:
        store = self.store()
        vector = store.vectors.vector(paper_id) if store else None
        if store is None or vector is None:
            return None
        return [(pid, s) for pid, s in store.vectors.search(vector, k + 1) if pid != paper_id][:k]

    def word_counts(self, words: Sequence[str]) -> dict[str, int]:
        with self._reading():
            store = self.store()
            return store.lexical.word_counts(words) if store else dict.fromkeys(words, 0)

    def together(self, word: str, others: Sequence[str]) -> int:
        with self._reading():
            store = self.store()
            return store.lexical.together(word, others) if store and others else 0

    def vocabulary(self) -> Vocabulary | None:
        store = self.store()
        return store.vocabulary if store else None

    def close(self) -> None:
        self._pool.shutdown(wait=False)
