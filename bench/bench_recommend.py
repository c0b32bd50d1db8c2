"""Recommendation benchmark: quality on a panel of simulated users, and the latency of one user's list.

    .venv/bin/python bench/bench_recommend.py --users 60 --workdir /tmp/bench-recommend
    .venv/bin/python bench/bench_recommend.py --latency-only --pool 24000

Quality: a throw-away instance of the shared arXiv API sample (3,788 real papers, 2023-12 to 2025-10, with
their real vectors) and a panel of simulated readers. Each reader has one to three interests, each an arXiv
category and a word of its titles ("cs.RO papers about grasping"), and half of them a favourite author; a
reader upvotes a paper a day after it appears when it matches an interest (with probability 0.7) or is by
the favourite author, and dismisses a few papers outside their categories. The ground truth is words and
categories, not the embedding, so no ranker is favoured by construction. `paperboy eval
recommendations`'s own code (personal/evaluation.py) then replays it with its temporal split.

Latency: one user's recommendations over a candidate pool of the size a month of all of arXiv gives
(24,000 papers, PAPERBOY's default 30-day window; a 1M-paper library has about that many in a month),
with the pool cached as the server caches it, and the cold pool load reported beside it.

Prints its figures and appends them, with machine, date and command, to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import command_line, record
from synthetic import default_vector_model, synthetic_vectors

from paperboy.accounts.users import new_user
from paperboy.db.engine import make_engine, session_factory, transaction
from paperboy.db.migrate import upgrade
from paperboy.db.models import Paper, PaperSignal, User, Vote
from paperboy.db.repositories.embeddings import store_embeddings
from paperboy.db.repositories.papers import upsert_papers
from paperboy.ingest.mapping import map_record
from paperboy.personal.evaluation import evaluate_recommendations
from paperboy.personal.profile import load_profile
from paperboy.personal.recommender import CandidatePool, ProfileCache, Window, recommend
from paperboy.search.embedder import MiniLmOnnxEmbedder, document_text
from paperboy.search.terms import content_words

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "arxiv"
FILES = [
    "arxiv_api_2023-2025.part01.jsonl",
    "arxiv_api_2023-2025.part02.jsonl",
    "arxiv_api_2023-2025.part03.jsonl",
]


def build_instance(workdir: Path) -> tuple[Any, list[Paper], str]:
    workdir.mkdir(parents=True, exist_ok=True)
    database = workdir / "panel.db"
    fresh = not database.exists()
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    sessions = session_factory(engine)
    embedder = MiniLmOnnxEmbedder()
    if fresh:
        records = [
            map_record(json.loads(line), "jsonl")
            for f in FILES
            for line in (SHARED / f).read_text().splitlines()
        ]
        with transaction(sessions) as session:
            upsert_papers(session, records)
        with sessions() as session:
            papers = list(session.scalars(select(Paper).order_by(Paper.id)))
        started = time.perf_counter()
        texts = [document_text(p.title, p.abstract) for p in papers]
        vectors = embedder.embed_documents(texts)
        print(f"embedded {len(papers)} papers in {time.perf_counter() - started:.0f} s", flush=True)
        with transaction(sessions) as session:
            store_embeddings(
                session, embedder.name, {p.id: ("bench", v) for p, v in zip(papers, vectors, strict=True)}
            )
    with sessions() as session:
        papers = list(session.scalars(select(Paper).order_by(Paper.id)))
    return sessions, papers, embedder.name


def simulate(sessions: Any, papers: list[Paper], users: int, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    by_category: dict[str, list[Paper]] = {}
    for paper in papers:
        by_category.setdefault(paper.primary_category or "", []).append(paper)
    topics = []
    for category, members in by_category.items():
        if len(members) < 40:
            continue
        counts: dict[str, int] = {}
        for paper in members:
            for word in set(content_words(paper.title.lower().split())):
                if len(word) > 5 and word.isalpha():
                    counts[word] = counts.get(word, 0) + 1
        for word, n in counts.items():
            if 12 <= n <= len(members) // 4:
                topics.append((category, word))
    topics.sort()  # the words came out of sets, whose order changes with each process's string hashing
    authors: dict[str, list[Paper]] = {}
    for paper in papers:
        for name in paper.authors[:3]:
            authors.setdefault(name, []).append(paper)
    prolific = sorted(name for name, found in authors.items() if len(found) >= 4)
    with transaction(sessions) as session:
        made = 0
        for n in range(users):
            user = new_user(session, f"reader{n}@example.org", f"reader{n}", "x", None)
            interests = rng.sample(topics, rng.choice([1, 2, 2, 3]))
            favourite = rng.choice(prolific) if prolific and rng.random() < 0.5 else None
            liked = set()
            for paper in papers:
                text = f"{paper.title} {paper.abstract}".lower()
                fits = any(paper.primary_category == c and w in text for c, w in interests)
                if (fits and rng.random() < 0.7) or (favourite and favourite in paper.authors):
                    liked.add(paper.id)
            for paper in papers:
                if paper.id in liked and paper.published_at:
                    session.add(
                        Vote(
                            user_id=user.id,
                            paper_id=paper.id,
                            created_at=paper.published_at + timedelta(days=1),
                        )
                    )
            mine = {c for c, _ in interests}
            outside = [p for p in papers if p.primary_category not in mine and p.published_at]
            for paper in rng.sample(outside, min(3, len(outside))):
                session.add(
                    PaperSignal(
                        user_id=user.id,
                        paper_id=paper.id,
                        kind="dismissed",
                        created_at=paper.published_at + timedelta(days=1),
                    )
                )
            made += 1
    return {"users": made, "topics": len(topics), "prolific_authors": len(prolific)}


def quality(sessions: Any, model: str) -> dict[str, Any]:
    started = time.perf_counter()
    with sessions() as session:
        report = evaluate_recommendations(session, model)
    assert report is not None
    rows = {
        r.name: {
            "ndcg@10": round(r.mean(r.ndcg), 4),
            "mrr": round(r.mean(r.mrr), 4),
            "balanced_accuracy": round(r.mean(r.balanced), 4),
        }
        for r in report.results
    }
    for name, row in rows.items():
        print(
            f"{name:34} nDCG@10 {row['ndcg@10']:.4f}  MRR {row['mrr']:.4f}  bal.acc {row['balanced_accuracy']:.4f}"
        )
    return {
        "split": report.split.isoformat(),
        "users_replayed": report.users,
        "papers_ranked": report.candidates,
        "seconds": round(time.perf_counter() - started, 1),
        "rankers": rows,
    }


def latency(sessions: Any, model: str, pool_size: int, requests: int = 60) -> dict[str, Any]:
    """One user's list over a cached pool of `pool_size` papers (synthetic vectors modelled on real ones):
    cold (the profile built and the classifier trained for this request) and warm (the user's signals
    unchanged since their last request: ProfileCache, as the server runs it)."""
    with sessions() as session:
        users = list(session.scalars(select(Vote.user_id).distinct()))[:20]
        ids = list(session.scalars(select(Paper.id)))
    vectors = np.vstack(list(synthetic_vectors(pool_size, default_vector_model(SHARED.parent), seed=5)))
    # The library's own papers stand for the pool's ids (their authors and categories are real).
    pool_ids = np.array((ids * (pool_size // len(ids) + 1))[:pool_size], dtype=np.int64)
    pool = CandidatePool(pool_ids, vectors.astype(np.float32), [None] * pool_size)
    window = Window(datetime(2023, 1, 1).date(), datetime(2026, 1, 1).date())
    cold: list[float] = []
    warm: list[float] = []
    profile_ms: list[float] = []
    profiles = ProfileCache()
    with sessions() as session:
        for n in range(requests):
            user = session.get(User, users[n % len(users)])
            assert user is not None
            started = time.perf_counter()
            profile = load_profile(session, user, model)
            profile_ms.append(time.perf_counter() - started)
            recommend(session, user, model, window, 20, pool=pool, profile=profile)
            cold.append(time.perf_counter() - started)
        for n in range(requests + len(users)):
            user = session.get(User, users[n % len(users)])
            assert user is not None
            started = time.perf_counter()
            recommend(session, user, model, window, 20, pool=pool, profiles=profiles)
            if n >= len(users):  # the first pass filled the cache
                warm.append(time.perf_counter() - started)
        started = time.perf_counter()
        CandidatePool.load(session, model, window)
        pool_load = time.perf_counter() - started

    def ms(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000, 1)

    result = {
        "pool": pool_size,
        "requests": requests,
        "cold_p50_ms": round(statistics.median(cold) * 1000, 1),
        "cold_p90_ms": ms(cold, 0.9),
        "cold_profile_p50_ms": round(statistics.median(profile_ms) * 1000, 1),
        "warm_p50_ms": round(statistics.median(warm) * 1000, 1),
        "warm_p90_ms": ms(warm, 0.9),
        "pool_load_ms_3788_papers": round(pool_load * 1000, 1),
    }
    print(
        f"one user over a cached pool of {pool_size:,}: cold p50 {result['cold_p50_ms']} ms "
        f"(profile {result['cold_profile_p50_ms']} ms), warm p50 {result['warm_p50_ms']} ms"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=60)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/bench-recommend"))
    parser.add_argument("--pool", type=int, default=24_000)
    parser.add_argument("--latency-only", action="store_true")
    parser.add_argument(
        "--no-record", action="store_true", help="Print only; do not append to docs/BENCHMARKS.md."
    )
    args = parser.parse_args()
    sessions, papers, model = build_instance(args.workdir)
    results: dict[str, Any] = {"benchmark": "recommendations"}
    with sessions() as session:
        simulated = session.scalar(select(Vote.user_id).limit(1)) is not None
    if not simulated:
        results["panel"] = simulate(sessions, papers, args.users)
    if not args.latency_only:
        results["quality"] = quality(sessions, model)
    results["latency"] = latency(sessions, model, args.pool)
    if not args.no_record:
        record(results, command_line())


if __name__ == "__main__":
    main()
