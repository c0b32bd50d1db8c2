"""All of arXiv on one machine: ingest a Kaggle-format snapshot, kill it half-way and resume, build the
keyword index, then time the pages and the API at that size.

    .venv/bin/python bench/bench_snapshot.py --records 2700000 --workdir /tmp/snapshot-2.7m

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
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

from bench_search import rss_mb, summarize
from records import command_line, record
from serving import serve
from synthetic import Vocabulary, sample_queries
from synthetic_snapshot import write as write_snapshot

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
    summary = json.loads(next(line for line in reversed(output.splitlines()) if line.startswith("{")))
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


def keyword_index(env: dict[str, str]) -> dict[str, Any]:
    """`paperboy index` until every paper is in the keyword index (then stopped: vectors would take
    days on two cores, and search falls back to keywords meanwhile)."""
    indexer = Watched(env, "index")
    assert indexer.process.stdout is not None
    done = None
    for line in indexer.process.stdout:
        indexer.poll()
        if "keyword index" in line and "100.0%" in line:
            done = time.perf_counter() - indexer.started
            break
    seconds = done if done is not None else indexer.wait()[0]
    indexer.poll()
    os.kill(indexer.process.pid, signal.SIGTERM)
    indexer.process.wait(timeout=120)
    return {"keyword_index_s": round(seconds, 1), "keyword_index_peak_rss_mb": round(indexer.peak_mb, 1)}


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
            for q in queries:
                started = time.perf_counter()
                client.get("/api/papers/search", params={"q": q, "limit": 10}).raise_for_status()
                samples.append((time.perf_counter() - started) * 1000)
            results["search (keywords; no vectors yet)"] = summarize(samples[10:])
        results["serving_rss_mb"] = round(rss_mb(server.pid)[0], 1)
    finally:
        server.terminate()
        server.wait(timeout=60)
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
