"""Ways of scoring candidate papers from one user's signals, on the stored (unit-length) embeddings.

Each ranker sees the same `Signals` (positive and negative vectors, and per-candidate author and category
matches) and returns one score per candidate, higher is better. `paperboy eval recommendations` compares
them on replayed signals; the recommender uses `InterestLogistic`, the best of those that need no
text of the candidates (docs/EVALUATION.md). Several interests are kept apart by clustering the positives, so a reader of two
topics gets both, not papers halfway between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]
Scores = npt.NDArray[np.float64]

INTEREST_THRESHOLD = 0.25
"""Groups of positives more alike than this on average (cosine, all-MiniLM-L6-v2) are one interest."""
MAX_INTERESTS = 8
CLUSTERED = 150
"""Interests are found among the newest 150 positives; older ones join the closest."""
NEGATIVE_MARGIN = 0.45
"""A candidate closer than this to a dismissed paper or a muted interest loses score in proportion."""
FOLLOWED_AUTHOR_BONUS = 0.15
FREQUENT_AUTHOR_BONUS = 0.08
CATEGORY_BONUS = 0.03
CLASSIFIER_POSITIVES = 200
"""The recommender's classifier learns from at most this many positives, the newest (training time grows
with them; on the simulated panel 150 cost 0.017 nDCG@10 against 300, docs/EVALUATION.md)."""


def unit_rows(matrix: npt.ArrayLike) -> Matrix:
    rows = np.asarray(matrix, dtype=np.float32)
    if rows.ndim == 1:
        rows = rows[None, :]
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    unit: Matrix = (rows / norms).astype(np.float32)
    return unit


@dataclass
class Signals:
    """What a ranker may use about one user and one set of candidates."""

    positives: Matrix
    """(n, d) unit vectors of the papers the user liked (upvoted, saved, seeds)."""
    negatives: Matrix
    """(k, d) dismissed papers and muted interests."""
    background: Matrix
    """(b, d) papers sampled from the library, the "everything else" a classifier contrasts with."""
    candidates: Matrix
    """(m, d) unit vectors of the papers to rank."""
    author_match: Scores = field(default_factory=lambda: np.zeros(0))
    """Per candidate: 2 by a followed author, 1 by an author frequent in the positives, else 0."""
    category_match: Scores = field(default_factory=lambda: np.zeros(0))
    """Per candidate: 1 when its category is one of the user's."""
    muted: Matrix = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))
    """Centroids of the interests the user switched off: their neighbourhoods are pushed down."""


class Ranker(Protocol):
    name: str
    uses_authors: bool

    def score(self, signals: Signals) -> Scores: ...


def _author_and_category(signals: Signals, scores: Scores) -> Scores:
    if len(signals.author_match):
        followed = signals.author_match >= 2
        scores = scores + np.where(
            followed, FOLLOWED_AUTHOR_BONUS, np.where(signals.author_match >= 1, FREQUENT_AUTHOR_BONUS, 0.0)
        )
    if len(signals.category_match):
        scores = scores + CATEGORY_BONUS * signals.category_match
    return scores


def negative_penalty(candidates: Matrix, negatives: Matrix) -> Scores:
    """How far each candidate lies inside the neighbourhood of something the user turned down."""
    if not len(negatives) or not len(candidates):
        return np.zeros(len(candidates))
    closest = (candidates @ negatives.T).max(axis=1).astype(np.float64)
    penalty: Scores = np.clip(closest - NEGATIVE_MARGIN, 0.0, None) * 2.0
    return penalty


@dataclass
class Centroid:
    """Cosine to the mean of the positives (the "one blurred average" baseline)."""

    name: str = "centroid"
    uses_authors: bool = False

    def score(self, signals: Signals) -> Scores:
        if not len(signals.positives):
            return np.zeros(len(signals.candidates))
        centre = unit_rows(signals.positives.mean(axis=0))[0]
        scores = (signals.candidates @ centre).astype(np.float64)
        scores -= negative_penalty(signals.candidates, signals.negatives)
        return _author_and_category(signals, scores) if self.uses_authors else scores


@dataclass
class NearestSeed:
    """Cosine to the closest positive (zotero-arxiv-daily's idea, without its time decay)."""

    name: str = "nearest seed"
    uses_authors: bool = False

    def score(self, signals: Signals) -> Scores:
        if not len(signals.positives):
            return np.zeros(len(signals.candidates))
        scores = (signals.candidates @ signals.positives.T).max(axis=1).astype(np.float64)
        scores -= negative_penalty(signals.candidates, signals.negatives)
        return _author_and_category(signals, scores) if self.uses_authors else scores


def logistic_regression(
    features: npt.NDArray[np.float64], labels: npt.NDArray[np.float64], l2: float = 1.0, steps: int = 6
) -> tuple[npt.NDArray[np.float64], float]:
    """L2-regularized logistic regression by Newton's method (IRLS), classes weighted to balance. The
    Hessian is formed in float32 (the costly product; unit vectors lose nothing that matters to a
    ranking), the step solved in float64; with the ridge it converges in a handful of steps."""
    n, d = features.shape
    x = np.hstack([features, np.ones((n, 1))])
    x32 = x.astype(np.float32)
    positives = max(labels.sum(), 1.0)
    negatives = max(n - labels.sum(), 1.0)
    weights = np.where(labels > 0, n / (2 * positives), n / (2 * negatives))
    w = np.zeros(d + 1)
    ridge = l2 * np.eye(d + 1)
    ridge[d, d] = 1e-6  # the bias is not shrunk
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        gradient = x.T @ (weights * (p - labels)) + ridge @ w
        curvature = (weights * p * (1 - p)).astype(np.float32)
        hessian = (x32 * curvature[:, None]).T @ x32 + ridge
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 0.05:  # the ranking no longer changes; a fit to 1e-6 costs two more steps
            break
    return w[:d], float(w[d])


@dataclass
class LogisticRegression:
    """A per-user classifier on the embeddings, positives against negatives and background (Scholar Inbox)."""

    name: str = "logistic regression"
    uses_authors: bool = False
    l2: float = 1.0

    def score(self, signals: Signals) -> Scores:
        if not len(signals.positives):
            return np.zeros(len(signals.candidates))
        others = np.vstack(
            [m for m in (signals.negatives, signals.background) if len(m)] or [signals.positives[:0]]
        )
        features = np.vstack([signals.positives, others]).astype(np.float64)
        labels = np.concatenate([np.ones(len(signals.positives)), np.zeros(len(others))])
        if not len(others):
            return Centroid().score(signals)
        w, b = logistic_regression(features, labels, self.l2)
        logits = (signals.candidates @ w.astype(np.float32)).astype(np.float64) + b
        scores = 1.0 / (1.0 + np.exp(-logits))
        return _author_and_category(signals, scores) if self.uses_authors else scores


@dataclass(frozen=True)
class Interest:
    """One cluster of the user's positives."""

    members: tuple[int, ...]
    """Row numbers in `Signals.positives`."""
    centroid: npt.NDArray[np.float32]


def find_interests(positives: Matrix, threshold: float = INTEREST_THRESHOLD) -> list[Interest]:
    """The user's interests: the first CLUSTERED positives (the newest) clustered (`_clusters`), the
    older ones joining the interest whose centroid they are closest to."""
    head = _clusters(positives[:CLUSTERED], threshold)
    if len(positives) <= CLUSTERED or not head:
        return head
    centres = np.stack([interest.centroid for interest in head])
    joins = (positives[CLUSTERED:] @ centres.T).argmax(axis=1)
    found = []
    for k, interest in enumerate(head):
        members = (*interest.members, *(CLUSTERED + int(r) for r in np.flatnonzero(joins == k)))
        centre = positives[list(members)].astype(np.float64).sum(axis=0)
        centre /= np.linalg.norm(centre) or 1.0
        found.append(Interest(tuple(members), centre.astype(np.float32)))
    return sorted(found, key=lambda interest: (-len(interest.members), interest.members))


def _clusters(positives: Matrix, threshold: float) -> list[Interest]:
    """Average-linkage clustering of the positives by cosine: merge the two groups whose papers are, on
    average, the most alike, while that average is above `threshold`, and past it while there are more
    than MAX_INTERESTS (so the smallest join their nearest). Average linkage, unlike merging centroids,
    does not let one broad group swallow the rest. Pair sums are updated per merge: O(n²) in all."""
    n = len(positives)
    if n == 0:
        return []
    groups: list[list[int]] = [[i] for i in range(n)]
    unit = positives.astype(np.float64)
    sums = unit @ unit.T  # sums[i, j]: total similarity between the papers of groups i and j
    sizes = np.ones(n)
    average = sums.copy()
    np.fill_diagonal(average, -np.inf)
    dead = np.zeros(n, dtype=bool)
    nearest = average.argmax(axis=1)  # each group's closest other group, kept up to date per merge
    alive = n
    while alive > 1:
        best = average[np.arange(n), nearest]
        best[dead] = -np.inf
        i = int(np.argmax(best))
        j = int(nearest[i])
        if average[i, j] < threshold and alive <= MAX_INTERESTS:
            break
        groups[i] += groups[j]
        groups[j] = []
        sums[i, :] += sums[j, :]
        sums[:, i] = sums[i, :]
        sizes[i] += sizes[j]
        dead[j] = True
        row = sums[i, :] / (sizes[i] * sizes)
        row[dead] = -np.inf
        row[i] = -np.inf
        average[i, :] = row
        average[:, i] = row
        average[j, :] = -np.inf
        average[:, j] = -np.inf
        nearest[i] = int(np.argmax(row))
        # Groups whose closest was i or j look again; the others only compare with the new group i.
        stale = np.flatnonzero(~dead & ((nearest == i) | (nearest == j)))
        for k in stale:
            if k != i:
                nearest[k] = int(np.argmax(average[k]))
        closer = np.flatnonzero(~dead & (row > average[np.arange(n), nearest]))
        nearest[closer] = i
        alive -= 1
    found = []
    for members in (sorted(g) for g in groups if g):
        centre = unit[members].sum(axis=0)
        centre /= np.linalg.norm(centre) or 1.0
        found.append(Interest(tuple(members), centre.astype(np.float32)))
    return sorted(found, key=lambda interest: (-len(interest.members), interest.members))


@dataclass
class MultiInterest:
    """Several interests: each candidate is scored against the interest it fits best (its centroid and
    its nearest member), minus the neighbourhoods of what the user turned down, plus author and
    category matches."""

    name: str = "multi-interest"
    uses_authors: bool = True
    threshold: float = INTEREST_THRESHOLD

    def interest_scores(self, signals: Signals, interests: Sequence[Interest]) -> npt.NDArray[np.float64]:
        """(m, k): each candidate's score under each interest."""
        m = len(signals.candidates)
        if not interests:
            return np.zeros((m, 0))
        by_member = (signals.candidates @ signals.positives.T).astype(np.float64)
        columns = []
        for interest in interests:
            centre = signals.candidates @ interest.centroid
            nearest = by_member[:, list(interest.members)].max(axis=1)
            columns.append(0.5 * centre + 0.5 * nearest)
        return np.stack(columns, axis=1)

    def score(self, signals: Signals) -> Scores:
        interests = find_interests(signals.positives, self.threshold)
        return self.score_with(signals, interests)[0]

    def score_with(
        self, signals: Signals, interests: Sequence[Interest]
    ) -> tuple[Scores, npt.NDArray[np.int64]]:
        """Scores and each candidate's best interest (its index in `interests`, -1 without one)."""
        m = len(signals.candidates)
        per_interest = self.interest_scores(signals, interests)
        if per_interest.shape[1] == 0:
            scores = np.zeros(m)
            best = np.full(m, -1, dtype=np.int64)
        else:
            best = per_interest.argmax(axis=1)
            scores = per_interest[np.arange(m), best]
        scores = scores - negative_penalty(signals.candidates, signals.negatives)
        if self.uses_authors:
            scores = _author_and_category(signals, scores)
        return scores, best


@dataclass
class InterestLogistic:
    """The recommender's choice (docs/EVALUATION.md): a per-user logistic regression on the embeddings
    (positives against dismissals and background papers) with author and category matches and the
    neighbourhoods of switched-off interests pushed down, scored once for all interests; the interests (clusters of the positives) say which one each paper serves, so the
    list can give each its share and name the paper it is closest to."""

    name: str = "logistic regression + interests"
    uses_authors: bool = True
    l2: float = 1.0

    def score(self, signals: Signals) -> Scores:
        return self.score_with(signals, find_interests(signals.positives))[0]

    def fit(self, signals: Signals) -> tuple[npt.NDArray[np.float64], float]:
        """The classifier's weights and bias: positives (the newest CLASSIFIER_POSITIVES, which come
        first) against negatives and background."""
        positives = signals.positives[:CLASSIFIER_POSITIVES]
        others = np.vstack([signals.negatives, signals.background])
        features = np.vstack([positives, others]).astype(np.float64)
        labels = np.concatenate([np.ones(len(positives)), np.zeros(len(others))])
        return logistic_regression(features, labels, self.l2)

    def score_with(
        self,
        signals: Signals,
        interests: Sequence[Interest],
        fitted: tuple[npt.NDArray[np.float64], float] | None = None,
    ) -> tuple[Scores, npt.NDArray[np.int64]]:
        """Scores and each candidate's interest, from one pass over the candidates: the classifier's
        weights, the interests' centroids and the negatives go through one matrix product."""
        m, k = len(signals.candidates), len(interests)
        if not len(signals.positives):
            return np.zeros(m), np.full(m, -1, dtype=np.int64)
        w, b = fitted or self.fit(signals)
        columns = [w.astype(np.float32), *(i.centroid for i in interests), *signals.muted]
        product = signals.candidates @ np.ascontiguousarray(np.stack(columns).T)
        scores = 1.0 / (1.0 + np.exp(-(product[:, 0].astype(np.float64) + b)))
        if len(signals.muted):  # dismissed papers are the classifier's negatives; muted interests also push
            closest = product[:, 1 + k :].max(axis=1).astype(np.float64)
            scores = scores - np.clip(closest - NEGATIVE_MARGIN, 0.0, None) * 2.0
        if self.uses_authors:
            scores = _author_and_category(signals, scores)
        best = product[:, 1 : 1 + k].argmax(axis=1).astype(np.int64) if k else np.full(m, -1, dtype=np.int64)
        return scores, best


def rankers() -> list[Ranker]:
    """The rankers `paperboy eval recommendations` compares (tf-idf + SVM is added there: it needs text)."""
    return [
        Centroid(),
        Centroid(name="centroid + authors", uses_authors=True),
        NearestSeed(),
        NearestSeed(name="nearest seed + authors", uses_authors=True),
        LogisticRegression(),
        LogisticRegression(name="logistic regression + authors", uses_authors=True),
        MultiInterest(name="multi-interest (no authors)", uses_authors=False),
        MultiInterest(),
        InterestLogistic(),
    ]
