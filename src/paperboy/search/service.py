"""The search service: one function that web, API, CLI, digests and evaluation all call.

The backend finds candidates and scores them on each side (search/backend.py: embedded tantivy + usearch,
or Qdrant); this service does everything else, the same way for every backend:
1. An arXiv id (bare, versioned, old style or a URL) of a paper in the library answers with that paper.
2. Misspelled words are corrected against the library's vocabulary (search/spelling.py); the result
   says so. A query none of whose words the library holds has no results (meaning search alone would
   show unrelated papers for, say, a script the library has no words in).
3. Candidates are fused (search/fusion.py). For short queries, papers whose title holds every query
   word come first, then papers holding every word anywhere (exactly, or as its plural, or as a
   corrected typo), then papers that only match in meaning; long, natural-language queries keep the
   tuned fusion, which scores best on them.
4. Exact titles are pinned first, then filters, pagination, and the papers' text and community totals.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from paperboy.arxiv_ids import parse_arxiv_id
from paperboy.db.records import RecordError
from paperboy.db.repositories.community import Totals, paper_totals
from paperboy.db.repositories.search_docs import PaperContent, paper_contents, paper_id_for
from paperboy.search.backend import IndexDamaged, Mode, SearchBackend
from paperboy.search.embedded import EmbeddedBackend
from paperboy.search.embedder import Embedder
from paperboy.search.fusion import Candidates, FusedScore, FusionParams, dense_only, fuse, lexical_only
from paperboy.search.query import ParsedQuery, QueryError, SearchFilters, parse_query
from paperboy.search.spelling import Correction, correct
from paperboy.search.status import CachedStatus, IndexStatus
from paperboy.search.terms import STOPWORDS, compound_head, content_words, word_groups

log = logging.getLogger(__name__)
MODES: tuple[Mode, ...] = ("hybrid", "lexical", "dense")
MAX_K = 100
MAX_PAGE = 100
SHORT_QUERY_WORDS = 4
"""Queries of at most this many content words rank papers holding all of them first (docs/EVALUATION.md)."""


@dataclass(frozen=True)
class SearchRequest:
    """What to search for and how many results, checked by `validate`."""

    query: str
    k: int = 10
    page: int = 1
    mode: Mode = "hybrid"
    filters: SearchFilters = field(default_factory=SearchFilters)
    correct: bool = True
    """Correct misspelled words ("Search instead for ..." turns it off)."""
    related: bool = False
    """For a query that is exactly an arXiv id: list the papers its title finds after it, not it alone."""
    count: bool = False
    """Count every paper matching a query word (`SearchResult.total`): a walk over the matches, or an
    estimate when there are very many."""

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
    """One result, with the scores that explain its rank and the paper's community totals."""

    paper: PaperContent
    score: float
    lexical: float | None = None
    dense: float | None = None
    fused: float | None = None
    match: str | None = None
    """'arxiv-id' or 'title' when pinned first as an exact match; 'all-words' when it holds every word."""
    totals: Totals = field(default_factory=Totals)


@dataclass
class SearchResult:
    query: str
    mode: Mode
    page: int
    k: int
    hits: list[Hit] = field(default_factory=list)
    has_more: bool = False
    took_ms: float = 0.0
    total: int = 0
    """Papers that match (those holding a query word, when counted; at least the ranked ones)."""
    total_estimated: bool = False
    """`total` is an estimate, to three figures (past lexical.EXACT_COUNT_UP_TO matches are not counted)."""
    correction: Correction | None = None
    exact_id: str | None = None
    """The arXiv id the query named, when it is a paper of the library."""
    unknown_words: tuple[str, ...] = ()
    """Query words no paper of the library holds (all of them when nothing could match)."""
    index_unavailable: bool = False
    """The index could not be read (damaged files): no results until the indexer rebuilds it."""
    relaxed: tuple[tuple[str, str], ...] = ()
    """Compounds no paper holds, each with the word searched instead ("alpha-divergence", "divergence")."""

    @property
    def searched_for(self) -> str:
        return self.correction.text if self.correction else self.query


def embedded_if_path(index: SearchBackend | Path, dim: int, params: FusionParams) -> SearchBackend:
    """A backend as given, or the embedded backend of a data dir."""
    return EmbeddedBackend(index, dim, params) if isinstance(index, Path) else index


class SearchService:
    """Runs searches against a backend: candidates there; everything else here (module docstring)."""

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
        self._status = CachedStatus(sessions, self.backend)

    def status(self) -> IndexStatus:
        """What the index covers now (cached for two seconds)."""
        return self._status.get()

    # --- the steps ---------------------------------------------------------------------------------
    def exact_id(self, query: str) -> tuple[int, str] | None:
        """The paper the query names by arXiv id (any form), if the library has it."""
        try:
            arxiv_id, _ = parse_arxiv_id(query.strip())
        except RecordError:
            return None
        with self.sessions() as session:
            paper_id = paper_id_for(session, arxiv_id)
        return (paper_id, arxiv_id) if paper_id is not None else None

    def _title_query(self, paper_id: int) -> ParsedQuery | None:
        with self.sessions() as session:
            contents = paper_contents(session, [paper_id])
        try:
            return parse_query(contents[paper_id].title) if paper_id in contents else None
        except QueryError:
            return None

    def _pinned_titles(self, parsed: ParsedQuery, filters: SearchFilters) -> list[int]:
        """Papers whose title is exactly the query and that pass the filters."""
        # The raw text too: the query parser drops "and"/"or"/"not", which titles contain.
        found: dict[int, None] = {}
        for text in dict.fromkeys(t for t in (parsed.raw.strip(), parsed.text) if t):
            found.update(dict.fromkeys(self.backend.exact_title(text)))
        pinned = list(found)
        if pinned and (filters.active or parsed.has_filters):
            allowed = self.backend.passing(parsed, pinned, filters)
            pinned = [pid for pid in pinned if pid in allowed]
        return pinned

    def _ranked(
        self, candidates: Candidates, mode: Mode, groups: list[tuple[str, ...]]
    ) -> tuple[list[tuple[int, FusedScore, str | None]], set[int]]:
        """Fused (or single-side) order; papers holding every word group first, marked "all-words"."""
        if mode == "lexical":
            scores = lexical_only(candidates)
        elif mode == "dense":
            scores = dense_only(candidates)
        else:
            scores = fuse(candidates, self.params)
        order = sorted(scores.items(), key=lambda item: (-item[1].fused, item[0]))
        ids = [pid for pid, _ in order]
        holding = self.backend.covering(groups, ids) if groups and order else set()
        in_title = self.backend.covering(groups, sorted(holding), in_title=True) if holding else set()
        tier = {pid: 0 if pid in in_title else 1 if pid in holding else 2 for pid in ids}
        marks = ("title-words", "all-words", None)
        ranked = sorted(order, key=lambda item: tier[item[0]])  # stable: fused order within each tier
        return [(pid, score, marks[tier[pid]]) for pid, score in ranked], holding

    def _candidates(
        self, parsed: ParsedQuery, request: SearchRequest, depth: int, embed_text: str
    ) -> Candidates:
        return self.backend.candidates(
            parsed,
            request.mode,
            request.filters,
            depth,
            lambda: self.embedder.embed_query(embed_text),
            count=request.count,
        )

    def _hits(self, window: list[tuple[int, FusedScore | None, str | None]]) -> list[Hit]:
        ids = [pid for pid, _, _ in window]
        with self.sessions() as session:
            contents = paper_contents(session, ids)
            totals = paper_totals(session, ids)
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
                    totals.get(pid, Totals()),
                )
            )
        return hits

    # --- the whole search --------------------------------------------------------------------------
    def search(self, request: SearchRequest) -> SearchResult:
        """Run a search; raises QueryError (with a message for the user) for unusable requests."""
        started = time.perf_counter()
        parsed = request.validate()
        result = SearchResult(request.query, request.mode, request.page, request.k)
        named = self.exact_id(parsed.raw)
        if named is not None:
            result.exact_id = named[1]
            if not request.related:  # the paper alone
                result.hits = self._hits([(named[0], None, "arxiv-id")]) if request.page == 1 else []
                result.total = 1
                result.took_ms = (time.perf_counter() - started) * 1000
                return result
            parsed = self._title_query(named[0]) or parsed  # related: what its own title finds
        try:
            if named is None and request.correct:
                result.correction = correct(
                    parsed, self.backend.vocabulary(), self.backend.word_counts, self.backend.together
                )
                parsed = result.correction.corrected if result.correction else parsed
            order = self._order(parsed, request, result)
        except IndexDamaged as exc:  # the indexer is told by the same error; meanwhile say so
            log.warning("search of %r found the index damaged: %s", request.query, exc)
            result.index_unavailable = True
            order = []
        if named is not None:
            order = [(named[0], None, "arxiv-id"), *(item for item in order if item[0] != named[0])]
        offset = (request.page - 1) * request.k
        result.hits = self._hits(order[offset : offset + request.k])
        result.has_more = len(order) > offset + request.k
        result.total = max(result.total, len(order))
        result.took_ms = (time.perf_counter() - started) * 1000
        return result

    def _order(
        self, parsed: ParsedQuery, request: SearchRequest, result: SearchResult
    ) -> list[tuple[int, FusedScore | None, str | None]]:
        """Every ranked paper up to the depth the page needs: exact titles, then the fused ranking."""
        depth = max(self.params.candidates, request.page * request.k + 1)
        if not parsed.has_terms:
            newest = self.backend.newest(parsed, request.filters, depth)
            return [(pid, None, None) for pid in newest]
        words = content_words(parsed.words)
        counts = self.backend.word_counts(words) if words else {}
        result.unknown_words = tuple(word for word in words if counts.get(word, 0) == 0)
        if (
            words
            and len(result.unknown_words) == len(words)
            and not parsed.phrases
            and request.mode != "dense"
        ):
            return []  # nothing in the library holds any of the words
        short = request.mode != "dense" and 0 < len(words) <= SHORT_QUERY_WORDS
        known = {w for w in words if counts.get(w, 0) > 0}
        groups = (
            [g for g in word_groups(parsed.words) if known.issuperset(set(g) - STOPWORDS)] if short else []
        )
        embed_text = parsed.text
        candidates = self._candidates(parsed, request, depth, embed_text)
        ranked, holding = self._ranked(candidates, request.mode, groups)
        if not holding and any(len(group) > 1 for group in groups):
            # No paper holds the compound ("alpha-divergence"): search its head ("divergence"), the kind
            # of thing it names, with the meaning of the whole query.
            heads = {word: head for word in parsed.words if (head := compound_head(word))}
            relaxed = parsed.with_words(tuple(heads.get(word, word) for word in parsed.words))
            result.relaxed = tuple(heads.items())
            candidates = self._candidates(relaxed, request, depth, embed_text)
            ranked, _ = self._ranked(candidates, request.mode, word_groups(relaxed.words))
        result.total, result.total_estimated = candidates.matches, candidates.matches_estimated
        titles = self._pinned_titles(parsed, request.filters)
        scores = {pid: score for pid, score, _ in ranked}
        pinned = [(pid, scores.get(pid), "title") for pid in titles]
        title_set = set(titles)
        return pinned + [item for item in ranked if item[0] not in title_set]

    def similar(self, paper_id: int, k: int = 5) -> list[Hit] | None:
        """Nearest neighbours of a paper in the vector index (itself excluded); None while it has no vector."""
        neighbours = self.backend.similar(paper_id, k)
        if neighbours is None:
            return None
        hits = self._hits([(pid, FusedScore(None, score, score), None) for pid, score in neighbours])
        return hits
