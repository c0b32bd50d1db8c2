"""Digest benchmark: confirmed subscribers sent their daily digest in one run, over real SMTP.

    .venv/bin/python bench/bench_digest.py
    .venv/bin/python bench/bench_digest.py --subscribers 10000 --accounts
    .venv/bin/python bench/bench_digest.py --subscribers 1000 --database-url postgresql+psycopg://...

A throwaway data dir gets the real Hugging Face daily-papers fixture (29 papers, indexed with the real
embedding model so "for you" keywords match on vectors too) and the subscribers — half with keyword topics
(some also following an author or excluding a keyword), half trending only; with `--accounts`, half of
the trending-only ones have an account with upvotes, so their "for you" section is their recommendations
(personal/recommender.py) with reasons. aiosmtpd listens on 127.0.0.1
and accepts every message; `DigestSender.run("daily")` — the code `paperboy digest send` runs — sends the
batch once. The figures: the run's wall time, digests per second, and per subscriber the time to compose,
claim, render, send and record one digest (p50 / p99), plus the shared set-up (trending list, new papers
and their vectors). Prints them and appends them, with machine, date and command, to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sys
import time
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import command_line, record

from paperboy.clock import utcnow
from paperboy.config import Settings
from paperboy.db.engine import make_engine, session_factory
from paperboy.db.migrate import upgrade
from paperboy.db.models import Delivery, Paper, SentPaper, Subscription, User, Vote
from paperboy.digest.outbox import DigestSender
from paperboy.ingest.runner import run_ingest
from paperboy.ingest.sources.hf_daily import HfDailySource
from paperboy.search.factory import make_embedder, make_indexer

REPO = Path(__file__).resolve().parent.parent
HF_DAILY = "fixtures/hf_daily_papers/daily_papers.json"
KEYWORDS = [
    "language models",
    "diffusion",
    "robot learning",
    "reward model",
    "video generation",
    "watermark",
    "long context",
    "hallucination",
    "speculative decoding",
    "state space models",
    "reinforcement learning from human feedback",
    "multimodal benchmark",
    "data selection",
    "knowledge editing",
    "animation",
    "contrastive learning",
    "chart reasoning",
    "mathematical reasoning",
    "code generation",
    "image editing",
]
AUTHORS = ["Juntao Li", "Min Zhang", "Zesen Cheng", "Wei He"]


class _Counting:
    """aiosmtpd handler: accepts every message, keeps only its size."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.sizes.append(len(envelope.original_content or envelope.content))
        return "250 2.0.0 accepted"


class _Timings:
    """A Progress that remembers when each subscriber was done (DigestSender advances once per subscriber)."""

    def __init__(self) -> None:
        self.started = 0.0
        self.marks: list[float] = []

    def start(self, description: str, total: int | None, unit: str) -> None:
        self.started = time.perf_counter()

    def advance(self, progress: int, records: int) -> None:
        self.marks.append(time.perf_counter())

    def total_known(self, total: int) -> None:
        pass

    def finish(self) -> None:
        pass

    def per_subscriber_ms(self) -> list[float]:
        edges = [self.started, *self.marks]
        return [(b - a) * 1000 for a, b in pairwise(edges)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def add_subscribers(settings: Settings, count: int, accounts: bool) -> None:
    """`count` subscribers; with `accounts`, every fourth (n % 4 == 1, among the trending-only half) has an
    account that upvoted four of the papers, so its digest has a personal "For you" section."""
    sessions = session_factory(make_engine(settings.effective_database_url))
    now = utcnow()
    rows = []
    with sessions() as session:
        paper_ids = list(session.scalars(select(Paper.id).order_by(Paper.id)))
    for n in range(count):
        topics: dict[str, list[str]] = {"keywords": [], "authors": [], "excluded_keywords": []}
        if n % 2 == 0:  # half with keyword topics
            topics["keywords"] = [KEYWORDS[n % len(KEYWORDS)], KEYWORDS[(n * 7 + 3) % len(KEYWORDS)]]
            if n % 6 == 0:
                topics["authors"] = [AUTHORS[n % len(AUTHORS)]]
            if n % 10 == 0:
                topics["excluded_keywords"] = ["benchmark"]
        rows.append(
            Subscription(
                email=f"reader{n:05d}@bench.example.org",
                frequency="daily",
                send_hour=7,
                timezone="UTC",
                max_papers=10,
                categories=[],
                status="active",
                confirmed_at=now,
                bounce_count=0,
                created_at=now,
                **topics,
            )
        )
    with sessions() as session, session.begin():
        session.add_all(rows)
        if accounts:
            for n, row in enumerate(rows):
                if n % 4 != 1:
                    continue
                user = User(email=row.email, username=f"reader{n:05d}", password_hash=None, created_at=now)
                session.add(user)
                session.flush()
                start = (n * 5) % len(paper_ids)
                liked = [paper_ids[(start + k) % len(paper_ids)] for k in range(4)]
                session.add_all(
                    Vote(user_id=user.id, paper_id=pid, created_at=now - timedelta(days=2)) for pid in liked
                )


def bench(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    shared = Path(os.environ.get("PAPERBOY_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()
    handler = _Counting()
    port = free_port()
    settings = Settings(
        home=workdir / "home",
        database_url=args.database_url or f"sqlite:///{workdir / 'paperboy.db'}",
        shared_data=shared,
        smtp_port=port,
        base_url="https://papers.example.org",
        mail_from="Paperboy <digest@papers.example.org>",
    )
    engine = make_engine(settings.effective_database_url)
    upgrade(engine)
    sessions = session_factory(engine)
    run_ingest(sessions, HfDailySource(str(shared / HF_DAILY)))
    embedder = make_embedder(settings)
    make_indexer(settings, sessions, embedder).run()
    add_subscribers(settings, args.subscribers, args.accounts)

    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        load = round(os.getloadavg()[0], 2)  # other work on the machine slows the run
        timings = _Timings()
        began = time.perf_counter()
        summary = DigestSender(settings, sessions, embedder, progress=timings).run("daily")
        wall = time.perf_counter() - began
    finally:
        controller.stop()
    with sessions() as session:
        delivered = session.scalar(select(func.count()).where(Delivery.status == "sent"))
        recorded = session.scalar(select(func.count()).select_from(SentPaper))
    assert summary.failed == 0 and summary.deferred == 0, summary.errors[:5]
    assert len(handler.sizes) == summary.sent == delivered
    per = np.array(timings.per_subscriber_ms())
    return {
        "subscribers": args.subscribers,
        "with_keywords": (args.subscribers + 1) // 2,
        "database": engine.dialect.name,
        "papers": 29,
        "sent": summary.sent,
        "skipped_empty": summary.skipped_empty,
        "messages_received_by_smtp": len(handler.sizes),
        "papers_recorded_as_sent": recorded,
        "seconds": round(wall, 2),
        "per_second": round(summary.sent / wall, 1),
        "setup_ms": round((timings.started - began) * 1000, 1),
        "per_subscriber_ms": {
            "p50": round(float(np.percentile(per, 50)), 2),
            "p99": round(float(np.percentile(per, 99)), 2),
            "n": len(per),
        },
        # Subscribers alternate (by id): keyword topics (embedded query, lexical + dense scoring), trending only.
        "per_subscriber_p50_ms_keywords": round(float(np.percentile(per[0::2], 50)), 2),
        "per_subscriber_p50_ms_trending_only": round(float(np.percentile(per[3::4], 50)), 2),
        "accounts_with_recommendations": (args.subscribers + 2) // 4 if args.accounts else 0,
        "per_subscriber_p50_ms_recommendations": (
            round(float(np.percentile(per[1::4], 50)), 2) if args.accounts else None
        ),
        "message_kb_mean": round(sum(handler.sizes) / len(handler.sizes) / 1024, 1),
        "load_average_1m_before": load,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument(
        "--accounts", action="store_true", help="A quarter of the subscribers have accounts with upvotes."
    )
    parser.add_argument("--workdir", default="/tmp/paperboy-bench-digest")
    parser.add_argument(
        "--database-url", default="", help="An empty database to use instead of SQLite in the workdir."
    )
    parser.add_argument(
        "--no-record", action="store_true", help="Print only; do not append to docs/BENCHMARKS.md."
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    results = bench(args)
    print(json.dumps(results, indent=2))
    if not args.no_record:
        shown = list(sys.argv[1:])
        if args.database_url:  # never write a password into the docs
            shown = [a.replace(args.database_url, "<database url>") for a in shown]
        record(results, command_line(shown).rstrip())


if __name__ == "__main__":
    main()
