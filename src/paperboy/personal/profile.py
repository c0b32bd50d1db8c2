"""What the recommender knows about one user: their signals turned into vectors and interests.

Positives are upvotes, saved papers, seeds ("more like this") and imported entries embedded from their own
text; negatives are dismissals ("not interested", "less like this") and muted interests. The interests are
clusters of the positives (rankers.find_interests), each labelled with the terms its papers share; an
interest the user switched off drops out and pushes its neighbourhood down.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from paperboy.db.models import User
from paperboy.db.repositories.authors import author_keys_of, follow_keys
from paperboy.db.repositories.embeddings import load_embeddings
from paperboy.db.repositories.library import (
    digested_papers,
    external_seeds,
    muted_interests,
    paper_signals,
    paper_summaries,
    preferences,
    saved_papers,
    voted_papers,
)
from paperboy.personal.rankers import Interest, Matrix, find_interests, unit_rows
from paperboy.search.terms import content_words, query_stems

MAX_POSITIVES = 300
"""The newest positives a profile learns from (older ones say less about what the user reads now)."""
MUTED_MATCH = 0.75
"""An interest this close (cosine) to a muted one is the muted one, found again."""
FREQUENT_AUTHOR = 2
AUTHOR_WINDOW = 150
"""Frequent authors are counted among this many of the newest positives."""
"""An author with this many papers among the positives counts as one the user reads."""
TERMS_PER_INTEREST = 6
TERM_SAMPLE = 40
"""An interest's terms are counted over its newest 40 papers."""


@dataclass(frozen=True)
class Positive:
    """One thing the user liked: a library paper or an imported entry."""

    kind: str
    """upvote, saved, seed or imported."""
    title: str
    at: datetime
    paper_id: int | None = None
    arxiv_id: str | None = None
    categories: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    def describe(self) -> str:
        return {
            "upvote": "you upvoted it",
            "saved": "you saved it",
            "seed": "you asked for more like it",
            "imported": "from your imported library",
        }[self.kind]


@dataclass(frozen=True)
class InterestView:
    """An interest as the interests page and the reasons show it."""

    number: int
    label: str
    terms: tuple[str, ...]
    members: tuple[Positive, ...]
    centroid: npt.NDArray[np.float32]
    muted_id: int | None = None
    """Set when the user switched this interest off (the MutedInterest row to switch it on again)."""
    term_stems: tuple[frozenset[str], ...] = ()
    """Each term's stems, to find the terms a paper shares with the interest."""


@dataclass
class UserProfile:
    user_id: int
    positives: list[Positive]
    positive_vectors: Matrix
    negative_vectors: Matrix
    """Dismissed papers and muted interests (after the switched-off interests' members are removed)."""
    muted_vectors: Matrix
    interests: list[InterestView]
    """Active interests, largest first; each one's members are the rows of `active_vectors` it names."""
    active: list[Interest]
    active_vectors: Matrix
    switched_off: list[InterestView]
    dismissed: dict[int, datetime]
    excluded: set[int]
    """Papers never to recommend: voted, saved, seeds, dismissed, already received in a digest."""
    followed: dict[str, str]
    frequent: dict[str, tuple[str, int]]
    """{name_key: (name, papers among the positives)}."""
    categories: set[str]
    chosen_categories: list[str]
    fitted: dict[int, tuple[npt.NDArray[np.float64], float]] = field(default_factory=dict)
    """The classifier trained for this profile, per candidate pool (its background comes from the pool)."""

    @property
    def cold(self) -> bool:
        return not len(self.active_vectors)


def _terms(members: list[Positive]) -> tuple[str, ...]:
    counts: Counter[str] = Counter()
    for member in members[:TERM_SAMPLE]:
        phrases = member.keywords or tuple(content_words(member.title.lower().split()))
        counts.update({p.lower() for p in phrases})
    shared = [term for term, n in counts.most_common() if n > 1 or len(members) == 1]
    return tuple(shared[:TERMS_PER_INTEREST])


def _label(terms: tuple[str, ...], members: list[Positive]) -> str:
    if terms:
        return ", ".join(terms[:3])
    return members[0].title[:80]


def load_profile(session: Session, user: User, model: str, before: datetime | None = None) -> UserProfile:
    """The user's profile from their signals (only those older than `before`, to replay the past)."""

    def kept(at: datetime | None) -> bool:
        return before is None or (at is not None and at < before)

    votes = {pid: at for pid, at in voted_papers(session, user.id).items() if kept(at)}
    saved = {pid: at for pid, at in saved_papers(session, user.id).items() if kept(at)}
    signals = {pid: s for pid, s in paper_signals(session, user.id).items() if kept(s[1])}
    seeds = {pid: at for pid, (kind, at) in signals.items() if kind == "seed"}
    dismissed = {pid: at for pid, (kind, at) in signals.items() if kind == "dismissed"}
    liked: dict[int, tuple[str, datetime]] = {}
    for kind, found in (("upvote", votes), ("saved", saved), ("seed", seeds)):
        for pid, at in found.items():
            if pid not in dismissed and (pid not in liked or at > liked[pid][1]):
                liked[pid] = (kind, at)
    newest = sorted(liked, key=lambda pid: liked[pid][1], reverse=True)[:MAX_POSITIVES]
    papers = paper_summaries(session, newest)
    stored = load_embeddings(session, model, [*newest, *dismissed])
    positives: list[Positive] = []
    rows: list[npt.NDArray[np.float32]] = []
    for pid in newest:
        if pid in stored and pid in papers:
            arxiv_id, title, paper_categories, keywords = papers[pid]
            kind, at = liked[pid]
            positives.append(
                Positive(kind, title, at, pid, arxiv_id, tuple(paper_categories), tuple(keywords))
            )
            rows.append(stored[pid][1])
    for entry in external_seeds(session, user.id):
        if entry.model == model and entry.vector and kept(entry.added_at) and len(positives) < MAX_POSITIVES:
            positives.append(Positive("imported", entry.title, entry.added_at, arxiv_id=entry.arxiv_id))
            rows.append(np.frombuffer(entry.vector, dtype=np.float32))
    dim = rows[0].shape[0] if rows else (next(iter(stored.values()))[1].shape[0] if stored else 384)
    vectors = unit_rows(np.vstack(rows)) if rows else np.zeros((0, dim), dtype=np.float32)

    muted = [m for m in muted_interests(session, user.id) if m.model == model and kept(m.created_at)]
    muted_vectors = (
        unit_rows(np.vstack([np.frombuffer(m.vector, dtype=np.float32) for m in muted]))
        if muted
        else np.zeros((0, dim), dtype=np.float32)
    )
    interests = find_interests(vectors)
    views: list[InterestView] = []
    off: list[InterestView] = []
    keep_rows: list[int] = []
    for interest in interests:
        members = [positives[i] for i in interest.members]
        terms = _terms(members)
        match = None
        if len(muted_vectors):
            closeness = muted_vectors @ interest.centroid
            if float(closeness.max()) >= MUTED_MATCH:
                match = muted[int(closeness.argmax())].id
        view = InterestView(0, _label(terms, members), terms, tuple(members), interest.centroid, match)
        (off if match is not None else views).append(view)
        if match is None:
            keep_rows.extend(interest.members)
    active_vectors = vectors[sorted(keep_rows)] if keep_rows else np.zeros((0, dim), dtype=np.float32)
    renumber = {row: n for n, row in enumerate(sorted(keep_rows))}
    active = [
        Interest(tuple(renumber[i] for i in interest.members), interest.centroid)
        for interest in interests
        if all(i in renumber for i in interest.members)
    ]
    views = [
        InterestView(n + 1, v.label, v.terms, v.members, v.centroid, None, tuple(map(query_stems, v.terms)))
        for n, v in enumerate(views)
    ]
    active_positives = [positives[i] for i in sorted(keep_rows)]
    negatives = [stored[pid][1] for pid in dismissed if pid in stored]
    negative_vectors = (
        unit_rows(np.vstack([*negatives, *muted_vectors]))
        if (negatives or len(muted_vectors))
        else np.zeros((0, dim), dtype=np.float32)
    )

    recent = [p.paper_id for p in active_positives if p.paper_id is not None][:AUTHOR_WINDOW]
    author_rows = author_keys_of(session, recent)
    counts: Counter[str] = Counter()
    names: dict[str, str] = {}
    for authors in author_rows.values():
        for key, name in authors:
            counts[key] += 1
            names.setdefault(key, name)
    frequent = {key: (names[key], n) for key, n in counts.items() if n >= FREQUENT_AUTHOR}
    prefs = preferences(session, user.id)
    chosen = list(prefs.categories) if prefs else []
    category_counts = Counter(c for p in active_positives for c in p.categories[:1])
    categories = set(chosen) | {c for c, n in category_counts.items() if n >= 2}
    digested = digested_papers(session, user.id, user.email)
    return UserProfile(
        user_id=user.id,
        positives=active_positives,
        positive_vectors=vectors,
        negative_vectors=negative_vectors,
        muted_vectors=muted_vectors,
        interests=views,
        active=active,
        active_vectors=active_vectors,
        switched_off=off,
        dismissed=dismissed,
        excluded=set(votes) | set(saved) | set(seeds) | set(dismissed) | digested,
        followed=follow_keys(session, user.id) if before is None else {},
        frequent=frequent,
        categories=categories,
        chosen_categories=chosen,
    )
