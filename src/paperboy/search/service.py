"""The search service: one function that web, API, CLI, digests and evaluation all call.

The backend ranks (search/backend.py: embedded tantivy + usearch, or Qdrant); this service validates the
request, pins an exact arXiv id or exact title first, paginates and attaches the papers' text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from paperboy.db.records import RecordError
from paperboy.db.repositories.search_docs import PaperContent, paper_contents, paper_id_for
from paperboy.ingest.normalize import parse_arxiv_id
from paperboy.search.backend import Mode, Ranked, SearchBackend
from paperboy.search.embedded import EmbeddedBackend
from paperboy.search.embedder import Embedder
from paperboy.search.fusion import FusedScore, FusionParams
from paperboy.search.lexical import SearchFilters
from paperboy.search.query import ParsedQuery, QueryError, parse_query

MODES: tuple[Mode, ...] = ("hybrid", "lexical", "dense")
MAX_K = 100
MAX_PAGE = 100


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


def embedded_if_path(index: SearchBackend | Path, dim: int, params: FusionParams) -> SearchBackend:
    """A backend as given, or the embedded backend of a data dir."""
    return EmbeddedBackend(index, dim, params) if isinstance(index, Path) else index


class SearchService:
    """Runs searches against a backend: ranking there; exact matches, pagination and paper text here."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        index: SearchBackend | Path,
        embedder: Embedder,
        params: FusionParams = FusionParams(),
    ) -> None:
        """`index` is a backend, or a data dir whose embedded index to use."""
        self.sessions = sessions
        self.embedder = embedder
        self.params = params
        self.backend = embedded_if_path(index, embedder.dim, params)

    def _rank(self, parsed: ParsedQuery, mode: Mode, filters: SearchFilters, depth: int) -> Ranked:
        return self.backend.rank(parsed, mode, filters, depth, lambda: self.embedder.embed_query(parsed.text))

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
        # The raw text too: the query parser drops "and"/"or"/"not", which titles contain.
        for text in dict.fromkeys(t for t in (raw, parsed.text) if t):
            pinned += [(pid, "title") for pid in self.backend.exact_title(text)]
        if pinned and (filters.active or parsed.has_filters):
            allowed = self.backend.passing(parsed, [pid for pid, _ in pinned], filters)
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
        neighbours = self.backend.similar(paper_id, k)
        with self.sessions() as session:
            contents = paper_contents(session, [pid for pid, _ in neighbours])
        return [
            Hit(contents[pid], score, dense=score)
            for pid, score in neighbours
            if pid in contents and not contents[pid].withdrawn
        ]
