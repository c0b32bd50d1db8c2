"""Batch embedding throughput: the in-process executor against Ray Data with 1 and 2 workers.

    .venv/bin/python bench/bench_ray_embed.py [--docs 300]

Each configuration loads the same real arXiv abstracts into a fresh SQLite database and runs
`batch_embed` on its queue, as `paperboy index --executor ...` does. `docs_per_s` is what a user waits for
(planning, actor start-up, model loading, database writes); `steady_docs_per_s` counts only the batches
after the first one stored, i.e. once the actors run. The Ray instance (2 CPUs) is started once, before
the timings. Prints the figures and appends them, with machine, date and command, to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import command_line, record

from paperboy.db.engine import make_engine, session_factory
from paperboy.db.migrate import upgrade
from paperboy.ingest.runner import run_ingest
from paperboy.ingest.sources.files import JsonLinesSource
from paperboy.search.batch_embed import batch_embed
from paperboy.search.embedder import MiniLmOnnxEmbedder

REPO = Path(__file__).resolve().parent.parent


class WriteTimes:
    """A progress reporter that notes when each batch of vectors is stored."""

    def __init__(self) -> None:
        self.writes: list[tuple[float, int]] = []

    def start(self, description: str, total: int | None, unit: str) -> None:
        pass

    def advance(self, progress: int, records: int) -> None:
        if records:
            self.writes.append((time.perf_counter(), records))

    def total_known(self, total: int) -> None:
        pass

    def finish(self) -> None:
        pass


def run_one(corpus: Path, workdir: Path, executor: str, workers: int) -> dict[str, Any]:
    database = workdir / f"{executor}-{workers}.db"
    database.unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    sessions = session_factory(engine)
    run_ingest(sessions, JsonLinesSource(corpus))
    times = WriteTimes()
    embedder = MiniLmOnnxEmbedder()
    started = time.perf_counter()
    summary = batch_embed(sessions, embedder, executor, workers=workers, progress=times)
    engine.dispose()
    (first, _), (last, _) = times.writes[0], times.writes[-1]
    after_first = sum(count for _, count in times.writes[1:])
    return {
        "embedded": summary.embedded,
        "seconds": round(summary.seconds, 2),
        "docs_per_s": round(summary.docs_per_s, 1),
        "first_batch_stored_after_s": round(first - started, 2),
        "steady_docs_per_s": round(after_first / (last - first), 1) if last > first else None,
        "batches": len(times.writes),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--workdir", default="/tmp/paperboy-bench-ray")
    parser.add_argument(
        "--no-record", action="store_true", help="Print only; do not append to docs/BENCHMARKS.md."
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import ray

    shared = Path(os.environ.get("PAPERBOY_SHARED_DATA", REPO.parent / "shared" / "data"))
    workdir = Path(args.workdir)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    corpus = workdir / "corpus.jsonl"
    lines = (shared / "arxiv" / "arxiv_api_2023-2025.part01.jsonl").read_text().splitlines()[: args.docs]
    corpus.write_text("\n".join(lines) + "\n")

    results: dict[str, Any] = {
        "documents": len(lines),
        "ray": ray.__version__,
        "load_average_1m_before": round(os.getloadavg()[0], 2),
    }
    results["local"] = run_one(corpus, workdir, "local", 1)
    started = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR)
    results["ray_init_s"] = round(time.perf_counter() - started, 2)
    try:
        for workers in (1, 2):
            results[f"ray_workers_{workers}"] = run_one(corpus, workdir, "ray", workers)
    finally:
        ray.shutdown()
    results["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(results, indent=2))
    if not args.no_record:
        record(results, command_line())


if __name__ == "__main__":
    main()
