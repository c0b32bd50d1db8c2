"""Search benchmark: build time, disk size, serving RSS, and latency in-process and over HTTP.

    .venv/bin/python bench/bench_search.py --papers 100000 --workdir /tmp/bench-100k
    .venv/bin/python bench/bench_search.py --papers 1000000 --workdir /tmp/bench-1m
    .venv/bin/python bench/bench_search.py --embedding-only

Prints its figures and appends them, with machine, date and command, to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import command_line, record
from serving import serve
from synthetic import Vocabulary, default_vector_model, sample_queries, synthetic_papers, synthetic_vectors

from paperboy.config import Settings
from paperboy.db.engine import engine_from_settings, session_factory
from paperboy.db.migrate import upgrade
from paperboy.db.models import Embedding, Paper
from paperboy.search.embedder import MiniLmOnnxEmbedder, document_text
from paperboy.search.factory import make_search_service
from paperboy.search.indexer import Indexer, content_hash
from paperboy.search.service import SearchRequest

REPO = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def summarize(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(percentile(samples, 50), 2),
        "p99_ms": round(percentile(samples, 99), 2),
        "n": len(samples),
    }


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def stored_vector_row(
    paper_id: int, title: str, abstract: str, vector: np.ndarray, signature: str, now: datetime
) -> dict[str, Any]:
    """An `embeddings` row as the indexer stores one: with the content hash of the paper's own text, so
    `paperboy index` takes the vector as already embedded."""
    return {
        "paper_id": paper_id,
        "model": MiniLmOnnxEmbedder.name,
        "dim": len(vector),
        "vector": vector.tobytes(),
        "content_hash": content_hash(signature, document_text(title, abstract)),
        "created_at": now,
    }


def load_database(settings: Settings, papers: int, signature: str) -> float:
    """Insert `papers` synthetic papers and their vectors straight into the system of record."""
    started = time.perf_counter()
    engine = engine_from_settings(settings)
    upgrade(engine)
    vocabulary = Vocabulary.from_shared_data(settings.shared_data)
    now = datetime.now(UTC).replace(tzinfo=None)
    vectors = synthetic_vectors(papers, default_vector_model(settings.shared_data))
    block: list[np.ndarray] = []
    paper_rows: list[dict[str, Any]] = []
    embedding_rows: list[dict[str, Any]] = []

    def flush() -> None:
        with engine.begin() as connection:
            connection.execute(insert(Paper), paper_rows)
            connection.execute(insert(Embedding), embedding_rows)
        paper_rows.clear()
        embedding_rows.clear()

    for paper in synthetic_papers(vocabulary, papers):
        if not block:
            block = list(next(vectors))
        vector = block.pop(0)
        pid = paper.number + 1
        paper_rows.append(
            {
                "id": pid,
                "arxiv_id": f"bench:{pid}",
                "version": 1,
                "title": paper.title,
                "abstract": paper.abstract,
                "authors": paper.authors,
                "categories": paper.categories,
                "primary_category": paper.categories[0],
                "published_at": paper.published,
                "updated_at": paper.published,
                "source": "bench",
                "withdrawn": False,
                "upvotes_imported": 0,
                "created_at": now,
                "modified_at": now,
            }
        )
        embedding_rows.append(stored_vector_row(pid, paper.title, paper.abstract, vector, signature, now))
        if len(paper_rows) >= 10_000:
            flush()
            print(f"  loaded {pid:,} papers ({pid / (time.perf_counter() - started):,.0f}/s)", flush=True)
    if paper_rows:
        flush()
    engine.dispose()
    return time.perf_counter() - started


def rss_mb(pid: int) -> tuple[float, float]:
    """(current RSS, peak RSS) of a process in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def bench_http(port: int, queries: list[str], concurrency: int) -> tuple[dict[str, float], float]:
    url = f"http://127.0.0.1:{port}/api/papers/search"

    def worker(chunk: list[str]) -> list[float]:
        with httpx.Client(timeout=30) as client:
            out = []
            for q in chunk:
                started = time.perf_counter()
                response = client.get(url, params={"q": q, "limit": 10})
                response.raise_for_status()
                out.append((time.perf_counter() - started) * 1000)
            return out

    chunks = [queries[i::concurrency] for i in range(concurrency)]
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        samples = [s for part in pool.map(worker, chunks) for s in part]
    elapsed = time.perf_counter() - started
    return summarize(samples), len(samples) / elapsed


def bench_index(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(args.workdir)
    settings = Settings(
        home=workdir,
        shared_data=Path(os.environ.get("PAPERBOY_SHARED_DATA", REPO.parent / "shared" / "data")),
    )
    embedder = MiniLmOnnxEmbedder()
    results: dict[str, Any] = {"papers": args.papers}
    if args.reuse and (workdir / "paperboy.db").exists():
        print("reusing the loaded database and index in", workdir)
        upgrade(engine_from_settings(settings))  # an older run may have left an older schema
    else:
        shutil.rmtree(workdir, ignore_errors=True)
        print(f"loading {args.papers:,} synthetic papers into {workdir} ...", flush=True)
        results["load_s"] = round(load_database(settings, args.papers, embedder.signature), 1)
        sessions = session_factory(engine_from_settings(settings))
        print("building the indexes (paperboy index --rebuild) ...", flush=True)
        started = time.perf_counter()
        summary = Indexer(sessions, workdir, embedder, batch_size=2000).rebuild()
        results["index_build_s"] = round(time.perf_counter() - started, 1)
        assert summary.embedded == 0 and summary.documents == args.papers, summary.line()
    build = next((workdir / "index").glob("build-*"))
    results["index_disk_mb"] = round(dir_size(build) / 2**20, 1)
    results["lexical_disk_mb"] = round(dir_size(build / "lexical") / 2**20, 1)
    results["vectors_disk_mb"] = round((build / "vectors.usearch").stat().st_size / 2**20, 1)
    results["database_mb"] = round((workdir / "paperboy.db").stat().st_size / 2**20, 1)

    vocabulary = Vocabulary.from_shared_data(settings.shared_data)
    per_mode = args.queries // 2
    queries = sample_queries(vocabulary, 50 + 3 * per_mode + 100 + 2 * args.queries)
    warmup, rest = queries[:50], queries[50:]
    modes = ("hybrid", "lexical", "dense")
    mode_queries = {mode: rest[i * per_mode : (i + 1) * per_mode] for i, mode in enumerate(modes)}
    rest = rest[3 * per_mode :]
    embedding_queries, rest = rest[:100], rest[100:]
    sequential, concurrent_qs = rest[: args.queries], rest[args.queries :]

    sessions = session_factory(engine_from_settings(settings))
    service = make_search_service(settings, sessions, embedder)
    for q in warmup:
        service.search(SearchRequest(q))
    for mode, mode_qs in mode_queries.items():
        samples = [timed(lambda q=q, m=mode: service.search(SearchRequest(q, mode=m))) for q in mode_qs]
        results[f"inprocess_{mode}"] = summarize(samples)
    embed_samples = [timed(lambda q=q: embedder.embed_query(q)) for q in embedding_queries]
    results["query_embedding"] = summarize(embed_samples)

    server, port = serve(workdir)
    try:
        for q in warmup:
            httpx.get(
                f"http://127.0.0.1:{port}/api/papers/search", params={"q": q}, timeout=30
            ).raise_for_status()
        results["serving_rss_mb_after_warmup"] = round(rss_mb(server.pid)[0], 1)
        results["http_hybrid_1_client"], results["http_1_client_qps"] = bench_http(port, sequential, 1)
        results["http_hybrid_8_clients"], results["http_8_clients_qps"] = bench_http(port, concurrent_qs, 8)
        current, peak = rss_mb(server.pid)
        results["serving_rss_mb"] = round(current, 1)
        results["serving_rss_peak_mb"] = round(peak, 1)
    finally:
        server.terminate()
        server.wait(timeout=30)
    results["http_1_client_qps"] = round(results["http_1_client_qps"], 1)
    results["http_8_clients_qps"] = round(results["http_8_clients_qps"], 1)
    return results


def bench_embedding(args: argparse.Namespace) -> dict[str, Any]:
    shared = Path(os.environ.get("PAPERBOY_SHARED_DATA", REPO.parent / "shared" / "data"))
    lines = (shared / "arxiv" / "arxiv_api_2023-2025.part01.jsonl").read_text().splitlines()[: args.docs]
    texts = [document_text(json.loads(line)["title"], json.loads(line)["abstract"]) for line in lines]
    results: dict[str, Any] = {"documents": len(texts)}
    for chunks in (1, 2):
        embedder = MiniLmOnnxEmbedder(max_chunks=chunks)
        embedder.embed_documents(texts[:32])
        started = time.perf_counter()
        embedder.embed_documents(texts)
        results[f"docs_per_s_chunks_{chunks}"] = round(len(texts) / (time.perf_counter() - started), 1)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--workdir", default="/tmp/paperboy-bench")
    parser.add_argument(
        "--reuse", action="store_true", help="Reuse a database and index loaded by an earlier run."
    )
    parser.add_argument(
        "--embedding-only", action="store_true", help="Only measure document embedding throughput."
    )
    parser.add_argument("--docs", type=int, default=300, help="Documents for the embedding throughput run.")
    parser.add_argument(
        "--no-record", action="store_true", help="Print only; do not append to docs/BENCHMARKS.md."
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    results = bench_embedding(args) if args.embedding_only else bench_index(args)
    print(json.dumps(results, indent=2))
    if not args.no_record:
        record(results, command_line())


if __name__ == "__main__":
    main()
