"""The search service: one function that web, API, CLI, digests and evaluation all call.

Hybrid ranking: BM25 candidates and vector candidates, each scored on both sides (BM25 of the vector
candidates through a restricted tantivy query, cosine of the BM25 candidates from the stored vectors),
fused, with an exact arXiv id or exact title pinned first; then filters and pagination.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock
from typing import Literal

from sqlalchemy.orm import Session, sessionmaker

from paperboy.db.records import RecordError
from paperboy.db.repositories.search_docs import PaperContent, paper_contents, paper_id_for
from paperboy.ingest.normalize import parse_arxiv_id
from paperboy.search.embedder import Embedder
from paperboy.search.fusion import FusedScore, FusionParams, fuse
from paperboy.search.lexical import SearchFilters
from paperboy.search.query import ParsedQuery, QueryError, parse_query
from paperboy.search.store import SearchStore, current_build

Mode = Literal["hybrid", "lexical", "dense"]
MODES: tuple[Mode, ...] = ("hybrid", "lexical", "dense")
MAX_K = 100
MAX_PAGE = 100
REFRESH_SECONDS = 1.0
FILTERED_DENSE_OVERSAMPLE = 10


@dataclass(frozen=True)
class SearchRequest:
    """What to search for and how many results, checked by `validate`."""

    query: str
    k: int = 10
    page: int = 1
    mode: Mode = "hybrid"
    filters: SearchFilters = field(default_factory=SearchFilters)

    def validate(self) -> ParsedQuery:
        if self.mode not in MODES:
            raise QueryError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not 1 <= self.k <= MAX_K:
            raise QueryError(f"k must be between 1 and {MAX_K}, got {self.k}")
        if not 1 <= self.page <= MAX_PAGE:
            raise QueryError(f"page must be between 1 and {MAX_PAGE}, got {self.page}")
        f = self.filters
        if f.date_from and f.date_to and f.date_from > f.date_to:
            raise QueryError(f"the date range is empty: from {f.date_from} is after to {f.date_to}")
        return parse_query(self.query)


@dataclass(frozen=True)
class Hit:
    """One result, with the scores that explain its rank."""

    paper: PaperContent
    score: float
    lexical: float | None = None
    dense: float | None = None
    fused: float | None = None
    match: str | None = None
    """'arxiv-id' or 'title' when pinned first as an exact match."""


@dataclass
class SearchResult:
    query: str
    mode: Mode
    page: int
    k: int
    hits: list[Hit] = field(default_factory=list)
    has_more: bool = False
    took_ms: float = 0.0


class SearchService:
    """Serves searches from the live index, picking up new index versions without a restart."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        home: Path,
        embedder: Embedder,
        params: FusionParams = FusionParams(),
    ) -> None:
        self.sessions = sessions
        self.home = home
        self.embedder = embedder
        self.params = params
        self._store: SearchStore | None = None
        self._checked = 0.0
        self._lock = Lock()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="paperboy-search")

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
                    self._store = SearchStore.open_current(self.home, self.embedder.dim, writable=False)
                else:
                    self._store = SearchStore(build, self.embedder.dim, writable=False)
            else:
                self._store.lexical.reload()
                self._store.vectors.refresh()
            return self._store

    # --- ranking ---------------------------------------------------------------------------------
    def _rank(
        self, parsed: ParsedQuery, mode: Mode, filters: SearchFilters, depth: int
    ) -> list[tuple[int, FusedScore]]:
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
        query_vector = self.embedder.embed_query(parsed.text)
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

    def _pinned(self, parsed: ParsedQuery, filters: SearchFilters) -> list[tuple[int, str]]:
        """Exact arXiv id, then exact title matches, that pass the filters."""
        pinned: list[tuple[int, str]] = []
        raw = parsed.raw.strip()
        try:
            arxiv_id, _ = parse_arxiv_id(raw)
        except RecordError:
            arxiv_id = None
        if arxiv_id:
            with self.sessions() as session:
                paper_id = paper_id_for(session, arxiv_id)
            if paper_id is not None:
                pinned.append((paper_id, "arxiv-id"))
        if parsed.text:
            pinned += [(pid, "title") for pid in self.store().lexical.exact_title(parsed.text)]
        if pinned and (filters.active or parsed.has_filters):
            allowed = self.store().lexical.passing(parsed, [pid for pid, _ in pinned], filters)
            pinned = [(pid, how) for pid, how in pinned if pid in allowed]
        unique: dict[int, str] = {}
        for pid, how in pinned:
            unique.setdefault(pid, how)
        return list(unique.items())

    def search(self, request: SearchRequest) -> SearchResult:
        """Run a search; raises QueryError (with a message for the user) for unusable requests."""
        started = time.perf_counter()
        parsed = request.validate()
        offset = (request.page - 1) * request.k
        depth = max(self.params.candidates, offset + request.k + 1)
        ranked = self._rank(parsed, request.mode, request.filters, depth)
        pinned = self._pinned(parsed, request.filters)
        pinned_ids = {pid for pid, _ in pinned}
        scores = dict(ranked)
        order: list[tuple[int, FusedScore | None, str | None]] = [
            (pid, scores.get(pid), how) for pid, how in pinned
        ]
        order += [(pid, score, None) for pid, score in ranked if pid not in pinned_ids]
        window = order[offset : offset + request.k]
        with self.sessions() as session:
            contents = paper_contents(session, [pid for pid, _, _ in window])
        hits = []
        for pid, score, how in window:
            paper = contents.get(pid)
            if paper is None or paper.withdrawn:
                continue
            hits.append(
                Hit(
                    paper,
                    score.fused if score else 0.0,
                    score.lexical if score else None,
                    score.dense if score else None,
                    score.fused if score else None,
                    how,
                )
            )
        return SearchResult(
            query=request.query,
            mode=request.mode,
            page=request.page,
            k=request.k,
            hits=hits,
            has_more=len(order) > offset + request.k,
            took_ms=(time.perf_counter() - started) * 1000,
        )

    def similar(self, paper_id: int, k: int = 5) -> list[Hit]:
        """Nearest neighbours of a paper in the vector index (itself excluded)."""
        store = self.store()
        vector = store.vectors.vector(paper_id)
        if vector is None:
            return []
        neighbours = [(pid, s) for pid, s in store.vectors.search(vector, k + 1) if pid != paper_id][:k]
        with self.sessions() as session:
            contents = paper_contents(session, [pid for pid, _ in neighbours])
        return [
            Hit(contents[pid], score, dense=score)
            for pid, score in neighbours
            if pid in contents and not contents[pid].withdrawn
        ]
