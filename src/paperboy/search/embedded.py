"""The embedded backend: BM25 in tantivy and an HNSW vector index in usearch, under <home>/index.

Hybrid ranking: BM25 candidates and vector candidates, each scored on both sides (BM25 of the vector
candidates through a restricted tantivy query, cosine of the BM25 candidates from the stored vectors),
then fused with normalized scores (search/fusion.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from threading import Lock

from paperboy.db.repositories.search_docs import PaperContent
from paperboy.search.backend import FILTERED_DENSE_OVERSAMPLE, Mode, Ranked, Vector
from paperboy.search.fusion import FusedScore, FusionParams, fuse
from paperboy.search.lexical import SearchFilters
from paperboy.search.query import ParsedQuery
from paperboy.search.store import SearchStore, current_build, indexer_lock, new_build_dir, publish_build

REFRESH_SECONDS = 1.0


class StoreWriter:
    """IndexWriter over one build directory; `fresh` skips deletes while filling a new build."""

    def __init__(self, store: SearchStore, fresh: bool = False) -> None:
        self.store = store
        self.fresh = fresh

    def upsert(self, papers: Sequence[PaperContent], vectors: Vector) -> None:
        self.store.lexical.upsert(papers, fresh=self.fresh)
        if papers:
            self.store.vectors.upsert([p.paper_id for p in papers], vectors, fresh=self.fresh)

    def delete(self, paper_ids: Sequence[int]) -> None:
        self.store.lexical.delete(paper_ids)
        self.store.vectors.delete(paper_ids)

    def commit(self) -> None:
        self.store.commit()

    def count(self) -> int:
        return len(self.store.vectors)


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

    def count(self) -> int:
        build = current_build(self.home)
        return len(SearchStore(build, self.dim, writable=False).vectors) if build else 0

    def writer(self) -> StoreWriter:
        return StoreWriter(SearchStore.open_current(self.home, self.dim, writable=True))

    @contextmanager
    def rebuild(self) -> Iterator[StoreWriter]:
        build = new_build_dir(self.home)
        writer = StoreWriter(SearchStore(build, self.dim, writable=True), fresh=True)
        yield writer
        writer.commit()
        publish_build(self.home, build)

    # --- reading -------------------------------------------------------------------------------
    def store(self) -> SearchStore:
        """The live index, reopened when a rebuild swapped it or an indexer committed to it."""
        with self._lock:
            now = time.monotonic()
            if self._store is not None and now - self._checked < REFRESH_SECONDS:
                return self._store
            self._checked = now
            build = current_build(self.home)
            if self._store is None or build != self._store.build:
                if build is None:
                    self._store = SearchStore.open_current(self.home, self.dim, writable=False)
                else:
                    self._store = SearchStore(build, self.dim, writable=False)
            else:
                self._store.lexical.reload()
                self._store.vectors.refresh()
            return self._store

    def rank(
        self, parsed: ParsedQuery, mode: Mode, filters: SearchFilters, depth: int, embed: Callable[[], Vector]
    ) -> Ranked:
        store = self.store()
        if not parsed.has_terms:
            return [
                (pid, FusedScore(None, None, 0.0)) for pid in store.lexical.newest(parsed, depth, filters)
            ]
        if mode == "lexical":
            return [
                (pid, FusedScore(score, None, score))
                for pid, score in store.lexical.search(parsed, depth, filters)
            ]
        # BM25 runs on a second core while this thread embeds the query and walks the vector index
        # (tantivy, onnxruntime and usearch all release the GIL).
        bm25 = self._pool.submit(store.lexical.search, parsed, depth, filters) if mode == "hybrid" else None
        query_vector = embed()
        constrained = filters.active or parsed.has_filters
        dense_depth = depth * FILTERED_DENSE_OVERSAMPLE if constrained else depth
        dense = dict(store.vectors.search(query_vector, dense_depth))
        if constrained:
            allowed = store.lexical.passing(parsed, list(dense), filters)
            dense = {pid: s for pid, s in dense.items() if pid in allowed}
        if bm25 is None:
            ordered = sorted(dense.items(), key=lambda item: -item[1])[:depth]
            return [(pid, FusedScore(None, score, score)) for pid, score in ordered]
        dense_bm25 = self._pool.submit(store.lexical.score, parsed, list(dense), filters)
        lexical = dict(bm25.result())
        lexical_only = [pid for pid in lexical if pid not in dense]
        dense.update(store.vectors.similarity(query_vector, lexical_only))
        lexical.update((pid, score) for pid, score in dense_bm25.result().items() if pid not in lexical)
        fused = fuse(lexical, dense, self.params)
        return sorted(fused.items(), key=lambda item: (-item[1].fused, item[0]))

    def exact_title(self, text: str) -> list[int]:
        return self.store().lexical.exact_title(text)

    def passing(self, parsed: ParsedQuery, paper_ids: Sequence[int], filters: SearchFilters) -> set[int]:
        return self.store().lexical.passing(parsed, paper_ids, filters)

    def similar(self, paper_id: int, k: int) -> list[tuple[int, float]]:
        store = self.store()
        vector = store.vectors.vector(paper_id)
        if vector is None:
            return []
        return [(pid, s) for pid, s in store.vectors.search(vector, k + 1) if pid != paper_id][:k]

    def close(self) -> None:
        self._pool.shutdown(wait=False)
