"""Choosing a digest's papers: the period's trending papers and, "for you", new papers on your topics.

"For you" scores the papers that arrived in the library during the period against each topic with the
same two signals as search — the query's stemmed terms (lexical) and its embedding against the stored
paper vectors (dense) — so a keyword finds papers that use other words for the same idea. A subscriber
with an account and signals (upvotes, saves, seeds, an imported library) gets their recommendations
instead (personal/recommender.py), each with its reasons. Nothing a subscriber already received is chosen
again.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from paperboy.db.models import Paper, Subscription
from paperboy.db.repositories.authors import account_of, subscriber_follows
from paperboy.db.repositories.community import paper_totals
from paperboy.db.repositories.deliveries import papers_added_since, sent_paper_ids
from paperboy.db.repositories.embeddings import load_embeddings
from paperboy.digest.subscriptions import Topics, keyword_label, topics_of
from paperboy.feed.daily import trending_items
from paperboy.personal.recommender import CandidatePool, Window, recommend
from paperboy.search.embedder import Embedder
from paperboy.search.terms import query_stems, text_stems

WINDOWS = {"daily": timedelta(days=1), "weekly": timedelta(days=7)}
DENSE_MATCH = 0.45
"""Cosine above which a paper is about a keyword even without its words (all-MiniLM-L6-v2 scale)."""


@dataclass(frozen=True)
class DigestPaper:
    paper_id: int
    arxiv_id: str
    title: str
    authors: tuple[str, ...]
    abstract: str
    upvotes: int
    reason: str


@dataclass(frozen=True)
class DigestContent:
    trending: tuple[DigestPaper, ...]
    for_you: tuple[DigestPaper, ...]

    @property
    def empty(self) -> bool:
        return not (self.trending or self.for_you)

    @property
    def paper_ids(self) -> list[int]:
        return [p.paper_id for p in (*self.trending, *self.for_you)]

    def chosen(self) -> dict[str, Any]:
        """What a delivery row stores: each section's paper ids and reasons."""
        return {
            "trending": [[p.paper_id, p.reason] for p in self.trending],
            "for_you": [[p.paper_id, p.reason] for p in self.for_you],
        }


@dataclass
class _Candidate:
    paper: Paper
    stems: frozenset[str]
    vector: npt.NDArray[np.float32] | None


def _digest_paper(paper: Paper, upvotes: int, reason: str) -> DigestPaper:
    return DigestPaper(
        paper.id, paper.arxiv_id, paper.title, tuple(paper.authors), paper.abstract, upvotes, reason
    )


class DigestComposer:
    """Loads what all digests of one run share once (trending list, new papers and their vectors)."""

    def __init__(
        self,
        session: Session,
        frequency: str,
        now: datetime,
        embedder: Embedder | None,
        trending_days: int,
        gravity: float,
        code_boost: float = 0.0,
    ) -> None:
        self.embedder = embedder
        self.trending = trending_items(session, trending_days, gravity, limit=200, code_boost=code_boost)
        self.trending_stems = {
            i.paper.id: text_stems(f"{i.paper.title} {i.paper.abstract}") for i in self.trending
        }
        since = now - WINDOWS[frequency]
        papers = papers_added_since(session, since)
        # Stored by the indexer under the model's name (Indexer._vectors_for), not its signature.
        vectors = load_embeddings(session, embedder.name, [p.id for p in papers]) if embedder else {}
        self.candidates = [
            _Candidate(
                p, text_stems(f"{p.title} {p.abstract}"), vectors[p.id][1] if p.id in vectors else None
            )
            for p in papers
        ]
        self.totals = paper_totals(session, [p.id for p in papers])
        self.stems = {c.paper.id: c.stems for c in self.candidates}
        self.pool = CandidatePool.of_papers(papers, {pid: vector for pid, (_, vector) in vectors.items()})
        self.window = Window(since.date(), now.date())

    @staticmethod
    def _already_sent(session: Session, subscription_id: int, paper_ids: Sequence[int]) -> set[int]:
        if not paper_ids:
            return set()
        return sent_paper_ids(session, subscription_id) & set(paper_ids)

    def compose(self, session: Session, subscription: Subscription) -> DigestContent:
        topics = topics_of(subscription)
        followed = subscriber_follows(session, subscription.user_id, subscription.email)
        if followed:  # authors followed from their pages count as the subscription's own
            topics = replace(topics, authors=tuple(dict.fromkeys([*topics.authors, *followed])))
        limit = subscription.max_papers
        pool_ids = [item.paper.id for item in self.trending] + [c.paper.id for c in self.candidates]
        sent = self._already_sent(session, subscription.id, pool_ids)
        excluded = [query_stems(k) for k in topics.excluded_keywords]

        def allowed(paper: Paper, stems: frozenset[str]) -> bool:
            return paper.id not in sent and not any(terms and terms <= stems for terms in excluded)

        personal = self._personal(session, subscription, allowed, limit)
        if personal is not None:  # an account with signals: its recommendations, with their reasons
            for_you = personal
        else:
            for_you = self._for_you(topics, allowed) if not topics.empty else []
        trending_share = limit if not for_you else max(limit - len(for_you), math.ceil(limit / 2))
        pool = [
            _digest_paper(item.paper, item.upvotes, f"{item.upvotes} upvotes")
            for item in self.trending
            if allowed(item.paper, self.trending_stems[item.paper.id])
        ]
        trending = pool[:trending_share]
        chosen = {p.paper_id for p in trending}
        for_you = [p for p in for_you if p.paper_id not in chosen][: limit - len(trending)]
        # "For you" papers that also trend are shown once (as trending): fill the slots they leave.
        mine = {p.paper_id for p in for_you}
        room = limit - len(trending) - len(for_you)
        trending += [p for p in pool[trending_share:] if p.paper_id not in mine][: max(room, 0)]
        return DigestContent(tuple(trending), tuple(for_you))

    def _personal(
        self,
        session: Session,
        subscription: Subscription,
        allowed: Callable[[Paper, frozenset[str]], bool],
        limit: int,
    ) -> list[DigestPaper] | None:
        """The subscriber's own recommendations among the period's papers; None without an account or
        without signals (the topics then choose)."""
        if self.embedder is None or not len(self.pool):
            return None
        user = account_of(session, subscription.user_id, subscription.email)
        if user is None:
            return None
        result = recommend(session, user, self.embedder.name, self.window, limit, pool=self.pool)
        if result.profile.cold:
            return None
        return [
            _digest_paper(item.paper, item.totals.upvotes, " · ".join(r.text for r in item.reasons))
            for item in result.items
            if allowed(item.paper, self.stems.get(item.paper.id, frozenset()))
        ]

    def _for_you(self, topics: Topics, allowed: Callable[[Paper, frozenset[str]], bool]) -> list[DigestPaper]:
        scored: dict[int, tuple[float, DigestPaper]] = {}
        categories = set(topics.categories)
        query_vectors = {k: self.embedder.embed_query(k) for k in topics.keywords} if self.embedder else {}
        keyword_terms = {k: query_stems(k) for k in topics.keywords}  # once, not per candidate
        followed = [a.lower() for a in topics.authors]
        for candidate in self.candidates:
            paper = candidate.paper
            if not allowed(paper, candidate.stems):
                continue
            in_categories = bool(categories & set(paper.categories))
            best: tuple[float, str] | None = None
            for name in followed:
                if any(name in author.lower() for author in paper.authors):
                    best = (3.0, f"by {next(a for a in paper.authors if name in a.lower())}")
                    break
            if best is None and topics.keywords and (in_categories or not categories):
                for keyword in topics.keywords:
                    terms = keyword_terms[keyword]
                    lexical = len(terms & candidate.stems) / len(terms) if terms else 0.0
                    vector = query_vectors.get(keyword)
                    dense = (
                        float(candidate.vector @ vector)
                        if vector is not None and candidate.vector is not None
                        else 0.0
                    )
                    if lexical >= 1.0 or dense >= DENSE_MATCH:
                        score = lexical + 2 * dense
                        if best is None or score > best[0]:
                            best = (score, f"matches {keyword_label(keyword)}")
            if best is None and categories and not topics.keywords and in_categories:
                category = next(c for c in paper.categories if c in categories)
                best = (0.5, f"new in {category}")
            if best is not None:
                upvotes = self.totals[paper.id].upvotes
                scored[paper.id] = (best[0], _digest_paper(paper, upvotes, best[1]))
        ranked = sorted(scored.values(), key=lambda item: (-item[0], -item[1].upvotes, -item[1].paper_id))
        return [paper for _, paper in ranked]
