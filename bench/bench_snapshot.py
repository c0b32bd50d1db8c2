"""All of arXiv on one machine: ingest a Kaggle-format snapshot, kill it half-way and resume, build the
keyword index, then time the pages and the API at that size.

    .venv/bin/python bench/bench_snapshot.py --records 2700000 --workdir /tmp/snapshot-2.7m
    .venv/bin/python bench/bench_snapshot.py --records 2700000 --workdir /tmp/snapshot-2.7m --vectors
    .venv/bin/python bench/bench_snapshot.py --records 2700000 --workdir /tmp/snapshot-2.7m --search-only

The second command goes on from the first's data dir: it stores a synthetic vector for every paper
(shaped like the default embedder's, bench/synthetic.py: embedding 2.7M abstracts would take 16 hours on
two cores, docs/SCALING.md), has `paperboy index` build the vector index from them, then times hybrid
search over HTTP and the server's memory.

The snapshot is synthetic (bench/synthetic_snapshot.py; written once into --workdir and reused). Every
step runs the real `paperboy` command in a subprocess, and its wall time and peak RSS are measured from
outside. Prints the figures and appends them to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

from bench_search import rss_mb, stored_vector_row, summarize
from processes import memory_mb
from records import command_line, record
from serving import serve
from sqlalchemy import insert, select
from synthetic import Vocabulary, default_vector_model, sample_queries, synthetic_vectors
from synthetic_snapshot import write as write_snapshot

from paperboy.db.engine import make_engine
from paperboy.db.models import Embedding, Paper
from paperboy.search.embedder import MiniLmOnnxEmbedder

REPO = Path(__file__).resolve().parent.parent
PAPERBOY = Path(sys.executable).parent / "paperboy"
SHARED = Path(os.environ.get("PAPERBOY_SHARED_DATA", REPO.parent / "shared" / "data"))
HF_DAILY = SHARED / "fixtures" / "hf_daily_papers" / "daily_papers.json"


def papers_in(database: Path) -> int:
    """Papers committed so far (max id: ids are dense and count(*) would scan the table)."""
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
            return int(connection.execute("SELECT coalesce(max(id), 0) FROM papers").fetchone()[0])
    except sqlite3.Error:
        return 0


class Watched:
    """A `paperboy` subprocess whose wall time and peak RSS are read from outside."""

    def __init__(self, env: dict[str, str], *arguments: str) -> None:
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [str(PAPERBOY), *arguments], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.peak_mb = 0.0

    def poll(self) -> bool:
        """True while it runs (and notes its peak RSS)."""
        if self.process.poll() is not None:
            return False
        with contextlib.suppress(OSError, KeyError):
            self.peak_mb = max(self.peak_mb, rss_mb(self.process.pid)[1])
        return True

    def wait(self) -> tuple[float, str]:
        while self.poll():
            time.sleep(0.5)
        output = self.process.stdout.read() if self.process.stdout else ""
        if self.process.returncode != 0:
            raise RuntimeError(f"paperboy {self.process.args[1:]} failed: {output[-2000:]}")
        return time.perf_counter() - self.started, output

    def kill(self) -> float:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        return time.perf_counter() - self.started


def ingest_summary(output: str) -> dict[str, Any]:
    """The summary `paperboy ingest --json` ends with: indented JSON, an object (one file) or a list."""
    lines = output.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith(("{", "[")))
    summary = json.loads("\n".join(lines[start:]))
    return summary[-1] if isinstance(summary, list) else summary


def ingest_with_a_kill(env: dict[str, str], snapshot: Path, database: Path, total: int) -> dict[str, Any]:
    """Ingest, SIGKILL once half the papers are in, ingest again (it resumes), check nothing is lost."""
    first = Watched(env, "ingest", "arxiv-snapshot", str(snapshot), "-q")
    while first.poll() and papers_in(database) < total // 2:
        time.sleep(1.0)
    if first.process.poll() is not None:
        raise RuntimeError("the ingest finished before half-way: nothing to resume")
    killed_at = papers_in(database)
    first_s = first.kill()
    print(f"  ingest: killed after {first_s:.0f} s with {killed_at:,} papers in; resuming ...", flush=True)
    second = Watched(env, "ingest", "arxiv-snapshot", str(snapshot), "--json", "-q")
    second_s, output = second.wait()
    summary = ingest_summary(output)
    with sqlite3.connect(database) as connection:
        papers, distinct = connection.execute(
            "SELECT count(*), count(DISTINCT arxiv_id) FROM papers"
        ).fetchone()
    assert papers == distinct == total, (papers, distinct, total)
    return {
        "ingest_killed_after_s": round(first_s, 1),
        "ingest_papers_at_kill": killed_at,
        "ingest_resumed_s": round(second_s, 1),
        "ingest_total_s": round(first_s + second_s, 1),
        "ingest_papers_per_s": round(total / (first_s + second_s), 0),
        "ingest_peak_rss_mb": round(max(first.peak_mb, second.peak_mb), 1),
        "ingest_resume_summary": summary,
        "papers_after_resume": papers,
    }


def index_until(env: dict[str, str], reached: Callable[[str], bool]) -> tuple[float, float]:
    """Run `paperboy index` until a line of its progress says `reached`, then stop it; (seconds, peak
    RSS MB). (Its background order: keywords, vectors, then keyphrases, which embed and would take the
    cores for hours.)"""
    indexer = Watched(env, "index")
    assert indexer.process.stdout is not None
    done = None
    for line in indexer.process.stdout:
        indexer.poll()
        if reached(line):
            done = time.perf_counter() - indexer.started
            break
    seconds = done if done is not None else indexer.wait()[0]
    indexer.poll()
    os.kill(indexer.process.pid, signal.SIGTERM)
    indexer.process.wait(timeout=120)
    return seconds, indexer.peak_mb


def finished(bar: str, line: str) -> bool:
    """The line a progress bar prints off a terminal when its pass ends (the final commit done), not the
    plain "bar: counts" lines it prints on the way."""
    return line.startswith(bar) and not line.startswith(f"{bar}:") and "100.0%" in line


def keyword_index(env: dict[str, str]) -> dict[str, Any]:
    """The keyword pass over every paper (search falls back to keywords until vectors exist)."""
    seconds, peak = index_until(env, lambda line: finished("keyword index", line))
    return {"keyword_index_s": round(seconds, 1), "keyword_index_peak_rss_mb": round(peak, 1)}


def store_synthetic_vectors(database: Path, shared: Path) -> dict[str, Any]:
    """A stored vector for every paper (the snapshot's and the daily list's), with the content hash of its
    own text: `paperboy index` then takes them as already embedded, as it does after a rebuild."""
    started = time.perf_counter()
    total = papers_in(database)
    engine = make_engine(f"sqlite:///{database}")
    embedder = MiniLmOnnxEmbedder()
    vectors = synthetic_vectors(total, default_vector_model(shared))
    block: list[Any] = []
    after, stored = 0, 0
    now = datetime.now(UTC).replace(tzinfo=None)
    while True:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Paper.id, Paper.title, Paper.abstract)
                .where(Paper.id > after)
                .order_by(Paper.id)
                .limit(20_000)
            ).all()
        if not rows:
            break
        embeddings = []
        for paper_id, title, abstract in rows:
            if not block:
                block = list(next(vectors))
            embeddings.append(
                stored_vector_row(paper_id, title, abstract, block.pop(), embedder.signature, now)
            )
        with engine.begin() as connection:
            connection.execute(insert(Embedding), embeddings)
        stored += len(rows)
        after = rows[-1][0]
        if stored % 200_000 < len(rows):
            print(
                f"  stored {stored:,} vectors ({stored / (time.perf_counter() - started):,.0f}/s)", flush=True
            )
    engine.dispose()
    return {"vectors_stored": stored, "vectors_store_s": round(time.perf_counter() - started, 1)}


def vector_index(env: dict[str, str]) -> dict[str, Any]:
    """The vector pass over every paper, from stored vectors (nothing is embedded)."""
    seconds, peak = index_until(env, lambda line: finished("vectors", line))
    return {"vector_index_s": round(seconds, 1), "vector_index_peak_rss_mb": round(peak, 1)}


def search_latencies(env: dict[str, str], home: Path, queries: list[str]) -> dict[str, Any]:
    """Hybrid search over HTTP, one client, every query distinct; then the server's memory."""
    server, port = serve(home, env=env)
    results: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            status = client.get("/api/index/status")
            if status.status_code == 200:
                results["index_status"] = status.json()
            for mode in ("hybrid", "lexical", "dense"):
                samples = []
                for q in queries:
                    started = time.perf_counter()
                    client.get(
                        "/api/papers/search", params={"q": q, "limit": 10, "mode": mode}
                    ).raise_for_status()
                    samples.append((time.perf_counter() - started) * 1000)
                results[f"search ({mode})"] = summarize(samples[10:])
        results["serving_rss_mb"], results["serving_pss_mb"] = (round(v, 1) for v in rss_mb(server.pid))
        results["serving_memory"] = memory_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=60)
    return results


def page_latencies(env: dict[str, str], home: Path, queries: list[str]) -> dict[str, Any]:
    server, port = serve(home, env=env)
    results: dict[str, Any] = {}
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=60) as client:
            newest = client.get("/api/papers", params={"limit": 1}).json()[0]["id"]
            pages = {
                "home (today)": "/",
                "week": "/papers?week=2024-W43",
                "month": "/papers?month=2024-10",
                "paper page": f"/papers/{newest}",
                "api paper": f"/api/papers/{newest}",
                "api daily_papers": "/api/daily_papers",
            }
            for name, path in pages.items():
                samples = []
                for _ in range(40):
                    started = time.perf_counter()
                    client.get(path).raise_for_status()
                    samples.append((time.perf_counter() - started) * 1000)
                results[name] = summarize(samples[5:])
            samples, cursor = [], None
            for _ in range(100):
                started = time.perf_counter()
                response = client.get(
                    "/api/papers", params={"limit": 50, **({"cursor": cursor} if cursor else {})}
                )
                response.raise_for_status()
                samples.append((time.perf_counter() - started) * 1000)
                cursor = response.headers["X-Next-Cursor"]
            results["api papers, cursor paging (100 pages of 50)"] = summarize(samples)
            samples = []
            for q in queries:  # none: search is timed on its own (search_latencies)
                started = time.perf_counter()
                client.get("/api/papers/search", params={"q": q, "limit": 10}).raise_for_status()
                samples.append((time.perf_counter() - started) * 1000)
            if samples:
                results["search (keywords; no vectors yet)"] = summarize(samples[10:])
        results["serving_rss_mb"] = round(rss_mb(server.pid)[0], 1)
    finally:
        server.terminate()
        server.wait(timeout=60)
    return results


def with_vectors(env: dict[str, str], home: Path, total: int) -> dict[str, Any]:
    print(f"storing synthetic vectors for {total:,} papers ...", flush=True)
    results = store_synthetic_vectors(home / "paperboy.db", SHARED)
    print("building the vector index (paperboy index) ...", flush=True)
    results |= vector_index(env)
    return results | search_and_pages(env, home)


def search_and_pages(env: dict[str, str], home: Path) -> dict[str, Any]:
    """Search over HTTP in each mode, the server's memory, then the pages and the API."""
    print("timing search ...", flush=True)
    queries = sample_queries(Vocabulary.from_shared_data(SHARED), 210)[100:]  # not the pages run's
    results: dict[str, Any] = {"latency": search_latencies(env, home, queries)}
    print("timing pages and the API again, on a quiet machine ...", flush=True)
    results["pages"] = page_latencies(env, home, [])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=2_700_000)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/paperboy-snapshot"))
    parser.add_argument(
        "--after-ingest",
        action="store_true",
        help="Keep the data dir an earlier run ingested; measure the keyword index and the pages only.",
    )
    parser.add_argument(
        "--vectors",
        action="store_true",
        help="Go on from an earlier run's data dir: store synthetic vectors, build the vector index, time search.",
    )
    parser.add_argument(
        "--search-only",
        action="store_true",
        help="Go on from an earlier --vectors run's data dir: time search, the pages and the API again.",
    )
    parser.add_argument(
        "--no-record", action="store_true", help="Print only; do not append to docs/BENCHMARKS.md."
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.workdir.mkdir(parents=True, exist_ok=True)
    snapshot = args.workdir / f"arxiv-snapshot-{args.records}.json"
    results: dict[str, Any] = {"records": args.records}
    if not snapshot.exists():
        print(f"writing a synthetic snapshot of {args.records:,} records to {snapshot} ...", flush=True)
        results["snapshot_write_s"] = round(
            write_snapshot(snapshot, args.records, Vocabulary.from_shared_data(SHARED)), 1
        )
    results["snapshot_gib"] = round(snapshot.stat().st_size / 2**30, 2)
    home = args.workdir / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")}
    env |= {"PAPERBOY_HOME": str(home), "PAPERBOY_SHARED_DATA": str(SHARED), "HF_HUB_OFFLINE": "1"}
    if args.vectors or args.search_only:
        results |= search_and_pages(env, home) if args.search_only else with_vectors(env, home, args.records)
        print(json.dumps(results, indent=2))
        if not args.no_record:
            record(results, command_line())
        return
    if not args.after_ingest:
        shutil.rmtree(home, ignore_errors=True)
        subprocess.run([str(PAPERBOY), "init"], env=env, check=True, capture_output=True)
        print("ingesting (killed half-way, then resumed) ...", flush=True)
        results |= ingest_with_a_kill(env, snapshot, home / "paperboy.db", args.records)
    subprocess.run(
        [str(PAPERBOY), "ingest", "hf-daily", str(HF_DAILY), "-q"], env=env, check=True, capture_output=True
    )
    results["database_mb"] = round((home / "paperboy.db").stat().st_size / 2**20, 1)
    print(json.dumps(results, indent=2), flush=True)
    print("building the keyword index ...", flush=True)
    results |= keyword_index(env)
    queries = sample_queries(Vocabulary.from_shared_data(SHARED), 110)
    print("timing pages and the API ...", flush=True)
    results["latency"] = page_latencies(env, home, queries)
    results["median_of_p50s_ms"] = round(
        float(np.median([v["p50_ms"] for k, v in results["latency"].items() if isinstance(v, dict)])), 2
    )
    print(json.dumps(results, indent=2))
    if not args.no_record:
        record(results, command_line())


if __name__ == "__main__":
    main()
