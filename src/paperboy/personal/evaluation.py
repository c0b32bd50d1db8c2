"""`paperboy eval recommendations`: replay the instance's own signals with a temporal split.

For each user with signals on both sides of the split date, the rankers learn from what the user did before
it and rank the papers published from the split on (the period's papers, minus what the user had already
seen); the papers the user liked after the split are the relevant ones. Reported per ranker: nDCG@10, MRR
and balanced accuracy, with each ranker predicting "liked" for as many top papers as the user liked (so no
ranker needs a calibrated threshold).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt
from sqlalchemy import select
from sqlalchemy.orm import Session

from paperboy.db.models import Paper, User
from paperboy.db.repositories.authors import papers_by_authors
from paperboy.db.repositories.embeddings import load_embeddings
from paperboy.db.repositories.library import paper_signals, papers_in_order, saved_papers, voted_papers
from paperboy.personal.profile import load_profile
from paperboy.personal.rankers import Ranker, Signals, rankers, unit_rows
from paperboy.search.terms import text_stems

BACKGROUND = 300
TFIDF_TERMS = 6000


@dataclass
class RankerResult:
    name: str
    ndcg: list[float] = field(default_factory=list)
    mrr: list[float] = field(default_factory=list)
    balanced: list[float] = field(default_factory=list)

    def mean(self, values: list[float]) -> float:
        return float(np.mean(values)) if values else 0.0


@dataclass
class RecommendationReport:
    split: datetime
    users: int
    candidates: int
    results: list[RankerResult]


def _liked(session: Session, user_id: int) -> dict[int, datetime]:
    liked = dict(voted_papers(session, user_id))
    for pid, at in saved_papers(session, user_id).items():
        liked[pid] = min(at, liked.get(pid, at))
    for pid, (kind, at) in paper_signals(session, user_id).items():
        if kind == "seed":
            liked[pid] = min(at, liked.get(pid, at))
    return liked


def default_split(session: Session) -> datetime | None:
    """The time by which 80% of all positive signals had been given."""
    times = sorted(at for uid in session.scalars(select(User.id)) for at in _liked(session, uid).values())
    return times[int(len(times) * 0.8)] if len(times) >= 5 else None


def ndcg_at_10(ranked_relevance: Sequence[bool], relevant: int) -> float:
    gain = sum(1 / math.log2(i + 2) for i, hit in enumerate(ranked_relevance[:10]) if hit)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(relevant, 10)))
    return gain / ideal if ideal else 0.0


def reciprocal_rank(ranked_relevance: Sequence[bool]) -> float:
    return next((1 / (i + 1) for i, hit in enumerate(ranked_relevance) if hit), 0.0)


def balanced_accuracy(ranked_relevance: Sequence[bool], relevant: int) -> float:
    n = len(ranked_relevance)
    if relevant == 0 or relevant == n:
        return 0.5
    true_positive = sum(ranked_relevance[:relevant])
    false_positive = relevant - true_positive
    negatives = n - relevant
    true_negative = negatives - false_positive
    return 0.5 * (true_positive / relevant + true_negative / negatives)


class TfidfSvm:
    """arxiv-sanity's ranker: tf-idf of title and abstract, a linear SVM per user (squared hinge, L2),
    positives against negatives and background papers."""

    name = "tf-idf + linear SVM"
    uses_authors = False

    def __init__(self, texts: dict[int, str]):
        self.texts = texts
        self._stems: dict[int, frozenset[str]] = {}

    def stems(self, paper_id: int) -> frozenset[str]:
        if paper_id not in self._stems:
            self._stems[paper_id] = text_stems(self.texts.get(paper_id, ""))
        return self._stems[paper_id]

    def rank(self, positives: list[int], others: list[int], candidates: list[int]) -> npt.NDArray[np.float64]:
        docs = [*positives, *others, *candidates]
        df: dict[str, int] = {}
        for pid in docs:
            for stem in self.stems(pid):
                df[stem] = df.get(stem, 0) + 1
        terms = sorted(df, key=lambda t: (-df[t], t))[:TFIDF_TERMS]
        column = {t: i for i, t in enumerate(terms)}
        idf = np.array([math.log((1 + len(docs)) / (1 + df[t])) + 1 for t in terms])
        matrix = np.zeros((len(docs), len(terms)))
        for row, pid in enumerate(docs):
            cols = [column[s] for s in self.stems(pid) if s in column]
            matrix[row, cols] = idf[cols]
        matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-9)
        train = matrix[: len(positives) + len(others)]
        labels = np.concatenate([np.ones(len(positives)), -np.ones(len(others))])
        w = np.zeros(len(terms))
        b = 0.0
        weight = np.where(
            labels > 0, len(labels) / (2 * max(len(positives), 1)), len(labels) / (2 * max(len(others), 1))
        )
        for _ in range(150):  # gradient descent on the squared hinge loss
            margin = labels * (train @ w + b)
            active = margin < 1
            slack = (1 - margin) * active * weight
            w -= 0.5 * (0.01 * w - (train.T @ (slack * labels)) / len(labels))
            b -= 0.5 * (-(slack * labels).sum() / len(labels))
        return matrix[len(positives) + len(others) :] @ w + b


def evaluate_recommendations(
    session: Session, model: str, split: datetime | None = None, seed: int = 0
) -> RecommendationReport | None:
    """Replay every user's signals around `split` (default_split by default); None without enough data."""
    split = split or default_split(session)
    if split is None:
        return None
    period = list(
        session.execute(
            select(Paper.id, Paper.title, Paper.abstract, Paper.primary_category).where(
                Paper.published_at >= split, Paper.withdrawn.is_(False)
            )
        )
    )
    earlier = list(
        session.scalars(select(Paper.id).where(Paper.published_at < split, Paper.withdrawn.is_(False)))
    )
    stored = load_embeddings(session, model, [row[0] for row in period])
    candidate_ids = [row[0] for row in period if row[0] in stored]
    categories = {row[0]: row[3] for row in period}
    texts = {row[0]: f"{row[1]} {row[2]}" for row in period}
    background_ids = random.Random(seed).sample(earlier, min(BACKGROUND, len(earlier)))
    background_vectors = load_embeddings(session, model, background_ids)
    for paper in papers_in_order(session, background_ids):
        texts[paper.id] = f"{paper.title} {paper.abstract}"
    background = (
        unit_rows(np.vstack([v for _, v in background_vectors.values()]))
        if background_vectors
        else np.zeros((0, 1), dtype=np.float32)
    )
    chosen: list[Ranker] = rankers()
    results = {r.name: RankerResult(r.name) for r in chosen}
    tfidf = TfidfSvm(texts)
    results[tfidf.name] = RankerResult(tfidf.name)
    users = 0
    for user in session.scalars(select(User).order_by(User.id)):
        liked = _liked(session, user.id)
        relevant_ids = {pid for pid, at in liked.items() if at >= split}
        profile = load_profile(session, user, model, before=split)
        if not len(profile.active_vectors):
            continue
        ids = [pid for pid in candidate_ids if pid not in profile.excluded]
        relevant = [pid in relevant_ids for pid in ids]
        if not any(relevant):
            continue
        users += 1
        vectors = unit_rows(np.vstack([stored[pid][1] for pid in ids]))
        keys = list({*profile.followed, *profile.frequent})
        by_author = papers_by_authors(session, keys, ids)
        author_match = np.array([1.0 if by_author.get(pid) else 0.0 for pid in ids])
        category_match = np.array([1.0 if categories.get(pid) in profile.categories else 0.0 for pid in ids])
        signals = Signals(
            profile.active_vectors,
            profile.negative_vectors,
            background,
            vectors,
            author_match,
            category_match,
            profile.muted_vectors,
        )
        for ranker in chosen:
            _score(results[ranker.name], ranker.score(signals), relevant)
        train_ids = [p.paper_id for p in profile.positives if p.paper_id is not None]
        for paper in papers_in_order(session, [pid for pid in train_ids if pid not in texts]):
            texts[paper.id] = f"{paper.title} {paper.abstract}"
        others = [*profile.dismissed, *background_vectors]
        _score(results[tfidf.name], tfidf.rank(train_ids, others, ids), relevant)
    return RecommendationReport(split, users, len(candidate_ids), list(results.values()))


def _score(result: RankerResult, scores: npt.NDArray[np.float64], relevant: list[bool]) -> None:
    order = np.argsort(-scores, kind="stable")
    ranked = [relevant[i] for i in order]
    count = sum(relevant)
    result.ndcg.append(ndcg_at_10(ranked, count))
    result.mrr.append(reciprocal_rank(ranked))
    result.balanced.append(balanced_accuracy(ranked, count))
