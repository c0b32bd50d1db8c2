"""`recommend(user, window)`: the one function the For you page, the API, the private feed, the CLI and
the digests call.

Candidates are the papers published in the window with a stored vector (a `CandidatePool`, shared by all
users and cached for a minute); the user's profile (personal/profile.py) scores them with a per-user
logistic regression and assigns each to one of the user's interests (rankers.InterestLogistic); each
interest gets a share of the list in proportion to its size, so a reader of
two topics sees both; and every paper comes with the reasons it was chosen.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from paperboy.db.models import Paper, User
from paperboy.db.repositories.authors import author_keys_of, papers_by_authors
from paperboy.db.repositories.community import Totals, paper_totals
from paperboy.db.repositories.embeddings import load_embeddings
from paperboy.db.repositories.library import (
    newest_published,
    papers_in_order,
    signals_fingerprint,
    window_papers,
)
from paperboy.personal.profile import InterestView, UserProfile, load_profile
from paperboy.personal.rankers import InterestLogistic, Matrix, Signals, unit_rows
from paperboy.search.terms import text_stems

DEFAULT_DAYS = 30
POOL_LIMIT = 50_000
"""At most this many of the window's newest papers are candidates."""
POOL_TTL = 60.0
PROFILE_CACHE_SIZE = 128
"""Profiles kept (at most a few hundred kB each: their positives' vectors)."""
_POOL_KEYS = itertools.count(1)
BACKGROUND = 150
"""Window papers sampled as the classifier's background."""
MAX_LIMIT = 100


class WindowError(ValueError):
    """A window that cannot be used (the message names the bad bound)."""

    def __init__(self, message: str, parameter: str):
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class Window:
    """Publication dates [since, until] (both days included)."""

    since: date
    until: date

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, datetime.min.time())

    @property
    def end(self) -> datetime:
        return datetime.combine(self.until + timedelta(days=1), datetime.min.time())

    @property
    def label(self) -> str:
        return f"{self.since.isoformat()} to {self.until.isoformat()}"

    @classmethod
    def of(cls, session: Session, since: date | None = None, until: date | None = None) -> Window:
        """The asked window; by default the DEFAULT_DAYS up to the newest paper in the library (an
        instance that stopped ingesting still shows its last month)."""
        for day, name in ((since, "since"), (until, "until")):
            if day is not None and not date(1900, 1, 1) <= day <= date(2999, 12, 31):
                raise WindowError(f"{name} ({day}) is not a date papers are published on", name)
        if until is None:
            newest = newest_published(session)
            until = newest.date() if newest else date.today()
            if since is not None and since > until:
                until = since
        if since is None:
            since = until - timedelta(days=DEFAULT_DAYS - 1)
        if since > until:
            raise WindowError(f"since ({since}) is after until ({until})", "since")
        if (until - since).days > 3660:
            raise WindowError("the window may span at most ten years", "since")
        return cls(since, until)


@dataclass
class CandidatePool:
    """The window's papers that have a vector: ids, unit vectors, primary categories."""

    ids: npt.NDArray[np.int64]
    vectors: Matrix
    categories: list[str | None]
    _codes: npt.NDArray[np.int32] | None = field(default=None, repr=False)
    _names: dict[str, int] = field(default_factory=dict, repr=False)
    key: int = field(default_factory=lambda: next(_POOL_KEYS))
    """Tells pools apart (a profile keeps its classifier per pool)."""

    @classmethod
    def load(cls, session: Session, model: str, window: Window, limit: int = POOL_LIMIT) -> CandidatePool:
        rows = window_papers(session, window.start, window.end, limit)
        stored = load_embeddings(session, model, [pid for pid, _ in rows])
        kept = [(pid, category) for pid, category in rows if pid in stored]
        if not kept:
            return cls(np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32), [])
        vectors = unit_rows(np.vstack([stored[pid][1] for pid, _ in kept]))
        return cls(np.array([pid for pid, _ in kept], dtype=np.int64), vectors, [c for _, c in kept])

    @classmethod
    def of_papers(cls, papers: Sequence[Paper], vectors: dict[int, npt.NDArray[np.float32]]) -> CandidatePool:
        kept = [p for p in papers if p.id in vectors]
        if not kept:
            return cls(np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32), [])
        return cls(
            np.array([p.id for p in kept], dtype=np.int64),
            unit_rows(np.vstack([vectors[p.id] for p in kept])),
            [p.primary_category for p in kept],
        )

    def __len__(self) -> int:
        return len(self.ids)

    def in_categories(self, wanted: set[str]) -> npt.NDArray[np.float64]:
        """1.0 for the papers whose primary category is one of `wanted` (codes compared, not strings)."""
        if self._codes is None:
            names = sorted({c or "" for c in self.categories})
            self._names = {name: code for code, name in enumerate(names)}
            self._codes = np.array([self._names[c or ""] for c in self.categories], dtype=np.int32)
        codes = [self._names[c] for c in wanted if c in self._names]
        return np.isin(self._codes, codes).astype(np.float64)


class ProfileCache:
    """Users' profiles (and the classifiers trained on them), reused while the user's signals stay the
    same (db.repositories.library.signals_fingerprint): a reader paging or reloading For you, a feed
    reader polling, pay for one round trip instead of rebuilding the profile. Any new signal misses."""

    def __init__(self, size: int = PROFILE_CACHE_SIZE):
        self.size = size
        self._profiles: OrderedDict[tuple[int, str], tuple[tuple[object, ...], UserProfile]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session: Session, user: User, model: str) -> UserProfile:
        fingerprint = signals_fingerprint(session, user.id, user.email)
        key = (user.id, model)
        with self._lock:
            found = self._profiles.get(key)
            if found is not None and found[0] == fingerprint:
                self._profiles.move_to_end(key)
                return found[1]
        profile = load_profile(session, user, model)
        with self._lock:
            self._profiles[key] = (fingerprint, profile)
            self._profiles.move_to_end(key)
            while len(self._profiles) > self.size:
                self._profiles.popitem(last=False)
        return profile


class PoolCache:
    """Candidate pools by (model, window), kept POOL_TTL seconds: every user of a window shares one."""

    def __init__(self, ttl: float = POOL_TTL, size: int = 8):
        self.ttl, self.size = ttl, size
        self._pools: dict[tuple[str, Window], tuple[float, CandidatePool]] = {}
        self._lock = threading.Lock()

    def get(self, session: Session, model: str, window: Window) -> CandidatePool:
        key = (model, window)
        now = time.monotonic()
        with self._lock:
            found = self._pools.get(key)
            if found and now - found[0] < self.ttl:
                return found[1]
        pool = CandidatePool.load(session, model, window)
        with self._lock:
            self._pools[key] = (now, pool)
            while len(self._pools) > self.size:
                oldest = min(self._pools, key=lambda k: self._pools[k][0])
                del self._pools[oldest]
        return pool

    def clear(self) -> None:
        with self._lock:
            self._pools.clear()


@dataclass(frozen=True)
class Reason:
    """One reason a paper was recommended; `kind` is similar, author, terms, category or interest."""

    kind: str
    text: str
    arxiv_id: str | None = None

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "text": self.text}
        if self.arxiv_id:
            data["paper"] = self.arxiv_id
        return data


@dataclass(frozen=True)
class Recommendation:
    paper: Paper
    score: float
    reasons: tuple[Reason, ...]
    interest: InterestView | None
    totals: Totals


@dataclass
class Recommendations:
    window: Window
    items: list[Recommendation]
    profile: UserProfile
    candidates: int
    """How many papers of the window had a vector and were not excluded."""
    cold_start: bool = False
    notes: list[str] = field(default_factory=list)


def _author_matches(
    session: Session, profile: UserProfile, ids: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Per candidate: 2 when a followed author wrote it, 1 when an author frequent in the positives did."""
    keys = list({*profile.followed, *profile.frequent})
    by_paper = papers_by_authors(session, keys, ids.tolist())
    followed = [pid for pid, found in by_paper.items() if any(k in profile.followed for k in found)]
    match = np.where(np.isin(ids, list(by_paper)), 1.0, 0.0)
    return np.where(np.isin(ids, followed), 2.0, match)


def _quota_order(
    scores: npt.NDArray[np.float64], best: npt.NDArray[np.int64], sizes: Sequence[int], limit: int
) -> list[int]:
    """Row numbers of the top `limit`, each interest given a share in proportion to its size (at least
    one place), the rest by score."""
    order = np.argsort(-scores, kind="stable")
    total = sum(sizes) or 1
    chosen: list[int] = []
    ranked_best = best[order]
    for interest, size in enumerate(sizes):
        quota = max(1, math.floor(limit * size / total))
        chosen.extend(order[ranked_best == interest][:quota].tolist())
    taken = set(chosen)
    chosen.extend(r for r in order[: limit + len(taken)].tolist() if r not in taken)
    return sorted(chosen[:limit], key=lambda r: -scores[r])


def _reasons(
    paper: Paper,
    vector: npt.NDArray[np.float32],
    interest: InterestView | None,
    rows: Sequence[int],
    profile: UserProfile,
    authors: list[tuple[str, str]],
    category_chosen: bool,
) -> tuple[Reason, ...]:
    reasons: list[Reason] = []
    if rows:
        closest = profile.positives[rows[int(np.argmax(profile.active_vectors[list(rows)] @ vector))]]
        reasons.append(
            Reason("similar", f"Close to “{closest.title}” ({closest.describe()})", closest.arxiv_id)
        )
    for key, name in authors:
        if key in profile.followed:
            reasons.append(Reason("author", f"By {name}, whom you follow"))
            break
    else:
        for key, name in authors:
            if key in profile.frequent:
                count = profile.frequent[key][1]
                reasons.append(Reason("author", f"By {name}, author of {count} papers you liked"))
                break
    if interest is not None and interest.terms:
        stems = text_stems(f"{paper.title} {paper.abstract}")
        shared = [t for t, q in zip(interest.terms, interest.term_stems, strict=True) if q and q <= stems]
        if shared:
            reasons.append(Reason("terms", "Shares " + ", ".join(shared[:4]) + " with your interest"))
    if paper.primary_category in profile.categories and (category_chosen or not reasons):
        why = (
            "a category you chose"
            if paper.primary_category in profile.chosen_categories
            else "where you read most"
        )
        reasons.append(Reason("category", f"New in {paper.primary_category}, {why}"))
    if not reasons:
        label = interest.label if interest is not None else "your library"
        reasons.append(Reason("interest", f"Fits your interest in {label}"))
    return tuple(reasons)


def recommend(
    session: Session,
    user: User,
    model: str,
    window: Window | None = None,
    limit: int = 20,
    pool: CandidatePool | None = None,
    cache: PoolCache | None = None,
    profile: UserProfile | None = None,
    profiles: ProfileCache | None = None,
) -> Recommendations:
    """The user's recommendations among the window's papers, best first, each with its reasons."""
    window = window or Window.of(session)
    limit = max(1, min(limit, MAX_LIMIT))
    if profile is None:
        profile = (
            profiles.get(session, user, model) if profiles is not None else load_profile(session, user, model)
        )
    if pool is None:
        pool = (
            cache.get(session, model, window)
            if cache is not None
            else CandidatePool.load(session, model, window)
        )
    # The pool is shared by every user: it is masked, never copied (a month of arXiv is 36 MB of vectors).
    excluded = np.isin(pool.ids, np.fromiter(profile.excluded, dtype=np.int64, count=len(profile.excluded)))
    ids = pool.ids.tolist()
    vectors = pool.vectors
    result = Recommendations(window, [], profile, int(len(ids) - excluded.sum()), cold_start=profile.cold)
    if not result.candidates:
        return result
    if profile.cold and not profile.categories and not profile.followed:
        result.notes.append(
            "Upvote, save or import a few papers, or choose categories, to get recommendations."
        )
        return result
    author_match = _author_matches(session, profile, pool.ids)
    category_match = pool.in_categories(profile.categories)
    # Background: papers of the window itself, most of which are not about the user's interests (the
    # classifier contrasts the positives with "everything else"); the same sample for the same user.
    sample = np.random.default_rng(user.id).choice(len(ids), size=min(BACKGROUND, len(ids)), replace=False)
    signals = Signals(
        positives=profile.active_vectors,
        negatives=profile.negative_vectors,
        background=vectors[np.sort(sample)],
        candidates=vectors,
        author_match=author_match,
        category_match=category_match,
        muted=profile.muted_vectors,
    )
    if profile.cold:  # no positives yet: chosen categories and followed authors, newest first
        scores = author_match * 2 + category_match * 1.0 + np.linspace(0.1, 0.0, len(ids))
        best = np.full(len(ids), -1, dtype=np.int64)
        relevant = ((author_match > 0) | (category_match > 0)) & ~excluded
        scores = np.where(relevant, scores, -np.inf)
        order = [int(r) for r in np.argsort(-scores, kind="stable")[:limit] if np.isfinite(scores[r])]
    else:
        ranker = InterestLogistic()
        fitted = profile.fitted.get(pool.key)
        if fitted is None:
            if len(profile.fitted) >= 4:  # pools are rebuilt every POOL_TTL: keep the recent ones only
                profile.fitted.clear()
            fitted = profile.fitted[pool.key] = ranker.fit(signals)
        scores, best = ranker.score_with(signals, profile.active, fitted)
        scores = np.where(excluded, -np.inf, scores)
        order = _quota_order(scores, best, [len(i.members) for i in profile.active], limit)
        order = [r for r in order if np.isfinite(scores[r])]
    papers = {p.id: p for p in papers_in_order(session, [ids[r] for r in order])}
    authors = author_keys_of(session, list(papers))
    totals = paper_totals(session, list(papers))
    for r in order:
        paper = papers.get(ids[r])
        if paper is None:
            continue
        interest = profile.interests[int(best[r])] if best[r] >= 0 else None
        members = profile.active[int(best[r])].members if best[r] >= 0 else ()
        reasons = _reasons(
            paper, vectors[r], interest, members, profile, authors.get(paper.id, []), profile.cold
        )
        result.items.append(Recommendation(paper, float(scores[r]), reasons, interest, totals[paper.id]))
    return result
