"""The first minutes of a new library, as `make run` lives them: ingest the starting corpus into a fresh
data dir, then index it the way `paperboy serve` does, and measure when search covers what.

    .venv/bin/python bench/bench_first_minute.py

Reports the ingest time, when every paper became keyword-searchable (and a check that 200 exact titles,
chosen at random, each find their paper first at that moment), when the Hugging Face daily list had its
vectors, and when the whole library did, with the embedding rate. Prints and appends to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import command_line, record

from paperboy.config import Settings
from paperboy.db.engine import engine_from_settings, session_factory
from paperboy.db.migrate import upgrade
from paperboy.db.repositories.search_docs import all_titles
from paperboy.ingest.http import PoliteClient
from paperboy.ingest.runner import run_ingest
from paperboy.ingest.starter import starter_sources
from paperboy.progress import SilentProgress
from paperboy.search.factory import make_embedder
from paperboy.search.indexer import Indexer
from paperboy.search.query import title_key
from paperboy.search.service import SearchRequest, SearchService
from paperboy.search.status import index_status

REPO = Path(__file__).resolve().parent.parent


class PassClock(SilentProgress):
    """Notes when each pass of the index run ends."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.ended: dict[str, float] = {}
        self._current = ""

    def start(self, description: str, total: int | None, unit: str) -> None:
        self._current = description

    def finish(self) -> None:
        self.ended.setdefault(self._current, time.monotonic() - self.started)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shared-data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument(
        "--no-record", action="store_true", help="Print only; do not append to docs/BENCHMARKS.md."
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="paperboy-first-minute-") as scratch:
        settings = Settings(home=Path(scratch), database_url="", shared_data=args.shared_data, http_delay=0)
        engine = engine_from_settings(settings)
        upgrade(engine)
        sessions = session_factory(engine)
        started = time.monotonic()
        for source in starter_sources(settings, PoliteClient(delay=0)):
            run_ingest(sessions, source)
        ingest_seconds = time.monotonic() - started
        embedder = make_embedder(settings)
        indexer = Indexer(sessions, settings.home, embedder)
        clock = PassClock(time.monotonic())
        daily_done: list[float] = []
        run = threading.Thread(target=indexer.run, kwargs={"progress": clock}, daemon=True)
        run.start()
        service = SearchService(sessions, settings.home, embedder)
        while "keyword index" not in clock.ended:
            time.sleep(0.05)
        keyword_at = clock.ended["keyword index"]
        with sessions() as session:
            titles = all_titles(session)
        keys: dict[str, int] = {}
        for _, title in titles:
            keys[title_key(title)] = keys.get(title_key(title), 0) + 1
        unique = [(i, t) for i, t in titles if keys[title_key(t)] == 1]
        sample = random.Random(1).sample(unique, 200)
        found = sum(
            service.search(SearchRequest(title, k=1)).hits[0].paper.arxiv_id == arxiv_id
            for arxiv_id, title in sample
        )
        while run.is_alive():
            status = index_status(sessions, service.backend)
            if not daily_done and status.embedded >= 29:  # the 29 papers of the Hugging Face list go first
                daily_done.append(time.monotonic() - clock.started)
            time.sleep(0.5)
        total = time.monotonic() - clock.started
        time.sleep(1.5)  # the serving side looks for new commits once a second
        status = index_status(sessions, service.backend)
        engine.dispose()
    results: dict[str, Any] = {
        "benchmark": "first minutes of a new library (starter corpus)",
        "papers": status.papers,
        "ingest_seconds": round(ingest_seconds, 1),
        "keyword_searchable_after_s": round(keyword_at, 1),
        "keyword_papers_per_s": round(status.lexical / keyword_at, 0),
        "exact_titles_found_first_at_that_moment": f"{found} of {len(sample)}",
        "daily_list_vectors_after_s": round(daily_done[0], 1) if daily_done else None,
        "all_vectors_after_s": round(total, 1),
        "embedding_papers_per_s": round(status.embedded / max(total - keyword_at, 1e-6), 1),
        "semantic_complete": status.semantic_complete,
    }
    for key, value in results.items():
        print(f"{key:>42}: {value}")
    if not args.no_record:
        record(results, command_line())


if __name__ == "__main__":
    main()
