"""Paperboy against the design a team would pick instead (PostgreSQL FTS + pgvector, bench/anchor.py),
on the same synthetic papers and stored vectors, the same queries, in one run.

    pip install '.[bench]'     # pgserver: PostgreSQL 16 with pgvector, no system install
    .venv/bin/python bench/bench_anchor.py --papers 100000 --workdir /tmp/anchor-100k
    .venv/bin/python bench/bench_anchor.py --papers 1000000 --workdir /tmp/anchor-1m

Both sides embed each query with the same model (the anchor in its client processes, Paperboy in its
server), and every query is distinct, so no cache helps either. Clients are separate processes. Measured:
build time, disk, memory (PSS: shared pages counted once), vector recall@10 against exact search over the
same vectors, one client's p50/p99, throughput and p50/p99 at 8 and 32 clients, and nDCG@10 on SciFact's
train queries. Prints the figures and appends them to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import queue
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

import anchor
from bench_search import dir_size, load_database, summarize
from processes import tree_cpu_s, tree_pss_mb
from records import command_line, record
from serving import serve
from synthetic import Vocabulary, default_vector_model, sample_queries, synthetic_vectors

from paperboy.config import Settings
from paperboy.db.engine import engine_from_settings, session_factory
from paperboy.search.embedder import MiniLmOnnxEmbedder
from paperboy.search.evaluation import load_beir, ndcg_at
from paperboy.search.indexer import Indexer
from paperboy.search.store import current_build
from paperboy.search.vectors import VectorIndex

REPO = Path(__file__).resolve().parent.parent
PAPERBOY = Path(sys.executable).parent / "paperboy"
SCIFACT = "beir/scifact"
EF_SEARCH = (40, 64, 100, 160, 250)


def shared_data() -> Path:
    return Path(os.environ.get("PAPERBOY_SHARED_DATA", REPO.parent / "shared" / "data"))


# --- the two systems ------------------------------------------------------------------------------------
def prepare_paperboy(home: Path, papers: int, reuse: bool) -> dict[str, Any]:
    settings = Settings(home=home, shared_data=shared_data())
    if reuse and (home / "paperboy.db").exists():
        return {}
    shutil.rmtree(home, ignore_errors=True)
    embedder = MiniLmOnnxEmbedder()
    print(f"paperboy: loading {papers:,} synthetic papers into {home} ...", flush=True)
    load_s = load_database(settings, papers, embedder.signature)
    print("paperboy: building the indexes (paperboy index --rebuild) ...", flush=True)
    started = time.perf_counter()
    summary = Indexer(
        session_factory(engine_from_settings(settings)), home, embedder, batch_size=2000
    ).rebuild()
    assert summary.documents == papers, summary.line()
    return {"load_s": round(load_s, 1), "paperboy_index_build_s": round(time.perf_counter() - started, 1)}


def paperboy_disk(home: Path) -> dict[str, float]:
    build = current_build(home)
    assert build is not None, f"{home}: no index"
    return {
        "index_mb": round(dir_size(build) / 2**20, 1),
        "lexical_mb": round(dir_size(build / "lexical") / 2**20, 1),
        "vectors_mb": round((build / "vectors.usearch").stat().st_size / 2**20, 1),
        "database_mb": round((home / "paperboy.db").stat().st_size / 2**20, 1),
    }


def start_postgres(data_dir: Path) -> Any:
    """A pgserver PostgreSQL with the anchor's settings (written once, then restarted to take them)."""
    import pgserver

    server = pgserver.get_server(str(data_dir), cleanup_mode="stop")
    wanted = {name: value for name, value in anchor.SETTINGS.items()}
    current = server.psql("SHOW shared_buffers;")
    if wanted["shared_buffers"] not in current:
        for name, value in wanted.items():
            server.psql(f"ALTER SYSTEM SET {name} = '{value}';")
        server.cleanup()
        server = pgserver.get_server(str(data_dir), cleanup_mode="stop")
    return server


def connect(server: Any, database: str = "postgres") -> Any:
    import psycopg

    uri = server.get_uri(database)
    return psycopg.connect(uri, autocommit=False)


def prepare_anchor(server: Any, database: str, source: Path, dim: int, reuse: bool) -> dict[str, Any]:
    with connect(server) as admin:
        admin.autocommit = True
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{database}"')
    with connect(server, database) as connection:
        if reuse:
            have = connection.execute("SELECT to_regclass('papers_embedding') IS NOT NULL").fetchone()[0]
            if have:
                return {}
        print(f"anchor: loading {source} into PostgreSQL database {database!r} ...", flush=True)
        timings = anchor.build(connection, source, dim)
    return {f"anchor_{k}": round(v, 1) for k, v in timings.items()} | {
        "anchor_build_s": round(sum(timings.values()), 1)
    }


def warm_page_cache(*directories: Path) -> float:
    """Read every file under `directories` once; seconds taken. This machine's kernel pages out file
    pages left unused for a minute (DAMON), so between two measurements the other side's files leave
    memory; a server under steady traffic keeps them there. Each side is warmed before it is measured."""
    started = time.perf_counter()
    for directory in directories:
        for path in directory.rglob("*"):
            if path.is_file():
                with contextlib.suppress(OSError), path.open("rb") as handle:
                    while handle.read(1 << 24):
                        pass
    return time.perf_counter() - started


# --- clients (separate processes) ----------------------------------------------------------------------
def _paperboy_client(port: int, queries: list[str], barrier: Any, results: Any) -> None:
    url = f"http://127.0.0.1:{port}/api/papers/search"
    with httpx.Client(timeout=60) as client:
        client.get(url, params={"q": "warm up", "limit": 10}).raise_for_status()
        barrier.wait()
        started, cpu = time.monotonic(), time.process_time()
        samples = []
        for q in queries:
            t = time.perf_counter()
            client.get(url, params={"q": q, "limit": 10}).raise_for_status()
            samples.append((time.perf_counter() - t) * 1000)
    results.put((started, time.monotonic(), samples, time.process_time() - cpu))


def _anchor_client(
    uri: str, ef_search: int, threads: int, queries: list[str], barrier: Any, results: Any
) -> None:
    import psycopg

    embedder = MiniLmOnnxEmbedder(query_threads=threads)
    with psycopg.connect(uri, autocommit=True) as connection, connection.cursor() as cursor:
        cursor.execute(f"SET hnsw.ef_search = {int(ef_search)}")
        anchor.search(cursor, "warm up", embedder.embed_query("warm up"))
        barrier.wait()
        started, cpu = time.monotonic(), time.process_time()
        samples = []
        for q in queries:
            t = time.perf_counter()
            hits = anchor.search(cursor, q, embedder.embed_query(q))
            json.dumps([hit.__dict__ for hit in hits])  # what a web handler would then send
            samples.append((time.perf_counter() - t) * 1000)
    results.put((started, time.monotonic(), samples, time.process_time() - cpu))


def run_clients(
    target: Callable[..., None], args: tuple[Any, ...], queries: list[str], n: int, server_pid: int
) -> dict[str, Any]:
    """`n` client processes splitting `queries`; latency percentiles, queries/s from first start to last
    finish (process start-up and model loading left out: they wait at a barrier), and the CPU time per
    query of the server's processes and of the clients'."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(n + 1)  # this process too: it reads the server's CPU time at the start
    results = context.Queue()
    processes = [
        context.Process(target=target, args=(*args, queries[i::n], barrier, results)) for i in range(n)
    ]
    for process in processes:
        process.start()
    barrier.wait(timeout=600)
    server_cpu = tree_cpu_s(server_pid)
    outcomes: list[Any] = []
    peak_pss = 0.0  # sampled while the clients are connected: PostgreSQL's backends exit with them
    deadline = time.monotonic() + 1800
    while len(outcomes) < n and time.monotonic() < deadline:
        peak_pss = max(peak_pss, tree_pss_mb(server_pid))
        with contextlib.suppress(queue.Empty):
            outcomes.append(results.get(timeout=2.0))
    if len(outcomes) < n:
        raise RuntimeError(f"{n - len(outcomes)} client processes did not report within 30 minutes")
    server_cpu = tree_cpu_s(server_pid) - server_cpu
    for process in processes:
        process.join(timeout=60)
        if process.exitcode != 0:
            raise RuntimeError(f"a client process failed (exit code {process.exitcode})")
    samples = [s for _, _, part, _ in outcomes for s in part]
    elapsed = max(end for _, end, _, _ in outcomes) - min(start for start, _, _, _ in outcomes)
    return {
        **summarize(samples),
        "qps": round(len(samples) / elapsed, 1),
        "server_pss_peak_mb": round(peak_pss, 1),
        "server_cpu_ms_per_query": round(server_cpu * 1000 / len(samples), 2),
        "client_cpu_ms_per_query": round(sum(cpu for *_, cpu in outcomes) * 1000 / len(samples), 2),
    }


# --- the measurements ----------------------------------------------------------------------------------
def exact_top(vectors: np.ndarray, ids: np.ndarray, queries: np.ndarray, k: int) -> list[set[int]]:
    out = []
    for start in range(0, len(queries), 50):
        scores = queries[start : start + 50] @ vectors.T
        top = np.argpartition(-scores, k, axis=1)[:, :k]
        out.extend({int(ids[i]) for i in row} for row in top)
    return out


def stored_vectors(database: Path) -> tuple[np.ndarray, np.ndarray]:
    rows = list(anchor.paperboy_rows(database))
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    vectors = np.frombuffer(b"".join(row[6] for row in rows), dtype=np.float32).reshape(len(rows), -1)
    return ids, vectors


def held_out_vectors(papers: int, count: int) -> np.ndarray:
    """`count` vectors drawn after the papers' own from the same topics: queries that look like papers."""
    stream = synthetic_vectors(papers + count, default_vector_model(shared_data()))
    return np.vstack(list(stream))[papers:]


def recalls(home: Path, server: Any, database: str, queries: dict[str, np.ndarray]) -> dict[str, Any]:
    """Vector recall@10 of each side against exact search over the same stored vectors, for each set of
    query vectors, and of the anchor at each hnsw.ef_search."""
    ids, vectors = stored_vectors(home / "paperboy.db")
    exact = {name: exact_top(vectors, ids, q, 10) for name, q in queries.items()}
    del vectors
    build = current_build(home)
    assert build is not None, f"{home}: no index"
    path = build / "vectors.usearch"
    index = VectorIndex(path, MiniLmOnnxEmbedder.dim, writable=False)
    out: dict[str, Any] = {}
    with connect(server, database) as connection, connection.cursor() as cursor:
        for name, query_vectors in queries.items():
            truth = exact[name]
            found = [{p for p, _ in index.search(v, 10)} for v in query_vectors]
            out[f"paperboy_recall_at_10_{name}"] = overlap(found, truth)
            out[f"anchor_recall_at_10_{name}"] = {}
            for ef in EF_SEARCH:
                cursor.execute(f"SET hnsw.ef_search = {ef}")
                found = [set(anchor.dense_ids(cursor, v, 10)) for v in query_vectors]
                out[f"anchor_recall_at_10_{name}"][ef] = overlap(found, truth)
    return out


def overlap(found: list[set[int]], truth: list[set[int]]) -> float:
    return round(float(np.mean([len(f & t) / len(t) for f, t in zip(found, truth, strict=True)])), 3)


def scifact(server: Any, workdir: Path) -> dict[str, Any]:
    """SciFact train nDCG@10: Paperboy through `paperboy eval beir`, the anchor over the same corpus and
    stored vectors (copied from that evaluation's data dir)."""
    directory = shared_data() / SCIFACT
    home = workdir / "scifact"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PAPERBOY_HOME": str(home)}
    output = subprocess.run(
        [
            str(PAPERBOY),
            "eval",
            "beir",
            str(directory),
            "--split",
            "train",
            "--data-dir",
            str(home),
            "--json",
            "-q",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    paperboy = json.loads(output.strip().splitlines()[-1])
    prepare_anchor(server, "scifact", home / "paperboy.db", MiniLmOnnxEmbedder.dim, reuse=True)
    data = load_beir(directory, "train")
    embedder = MiniLmOnnxEmbedder()
    total = 0.0
    with connect(server, "scifact") as connection, connection.cursor() as cursor:
        cursor.execute("SET hnsw.ef_search = 100")
        for query_id, text in data.queries.items():
            hits = anchor.search(cursor, text, embedder.embed_query(text), k=10)
            ranked = [hit.arxiv_id.removeprefix("beir:") for hit in hits]
            total += ndcg_at(ranked, data.qrels[query_id], 10)
    return {
        "scifact_train_queries": len(data.queries),
        "paperboy_scifact_train_ndcg_at_10": paperboy["ndcg@10"],
        "anchor_scifact_train_ndcg_at_10": round(total / len(data.queries), 4),
    }


def table(results: dict[str, Any]) -> str:
    """The side-by-side table of a run, in Markdown (each Paperboy worker count against the anchor)."""
    workers = results["paperboy_workers"]
    head = [
        "",
        *(f"Paperboy, {w} worker{'s' if w > 1 else ''}" for w in workers),
        "PostgreSQL FTS + pgvector",
    ]
    rows = [head, ["---"] * len(head)]

    def level(key: str) -> list[str]:
        cells = []
        for name in [*(f"paperboy_w{w}_{key}" for w in workers), f"anchor_{key}"]:
            m = results.get(name)
            cells.append(
                f"{m['qps']:.0f} q/s, p50 {m['p50_ms']:.1f} / p99 {m['p99_ms']:.0f} ms, "
                f"CPU {m['server_cpu_ms_per_query'] + m['client_cpu_ms_per_query']:.1f} ms/q"
                if m
                else ""
            )
        return cells

    for key, label in (
        ("1_clients", "1 client"),
        ("8_clients", "8 clients"),
        ("32_clients", "32 clients"),
        ("8_clients_repeating", "8 clients, popular queries repeat"),
    ):
        if f"anchor_{key}" in results:
            rows.append([label, *level(key)])
    best = max(workers, key=lambda w: results.get(f"paperboy_w{w}_8_clients", {}).get("qps", 0))
    if f"ratio_w{best}_8_clients" in results:
        ratio = results[f"ratio_w{best}_8_clients"]["qps_paperboy_over_anchor"]
        rows.append(
            [
                f"queries/s at 8 clients, Paperboy ({best} workers) / anchor",
                *[""] * len(workers),
                f"{ratio:.2f}x",
            ]
        )
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--papers", type=int, default=100_000)
    parser.add_argument("--workdir", default="/tmp/paperboy-anchor")
    parser.add_argument("--queries", type=int, default=300, help="Queries per measurement (each distinct).")
    parser.add_argument("--clients", default="1,8,32", help="Concurrent client counts, comma-separated.")
    parser.add_argument(
        "--workers", default="1,2", help="paperboy serve --workers values to measure, comma-separated."
    )
    parser.add_argument("--reuse", action="store_true", help="Reuse what an earlier run built in --workdir.")
    parser.add_argument("--build-only", action="store_true", help="Build both sides, measure nothing.")
    parser.add_argument(
        "--scifact-only", action="store_true", help="Only the SciFact quality comparison (no --papers data)."
    )
    parser.add_argument("--no-scifact", action="store_true", help="Leave out the SciFact quality comparison.")
    parser.add_argument(
        "--no-record", action="store_true", help="Print only; do not append to docs/BENCHMARKS.md."
    )
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    workdir = Path(args.workdir)
    home = workdir / "paperboy"
    clients = [int(c) for c in args.clients.split(",")]
    workers = [int(w) for w in args.workers.split(",")]
    if args.scifact_only:
        server = start_postgres(workdir / "pg")
        results = scifact(server, workdir)
        server.cleanup()
        print(json.dumps(results, indent=2))
        if not args.no_record:
            record(results, command_line())
        return
    results: dict[str, Any] = {"papers": args.papers, "paperboy_workers": workers}
    results |= prepare_paperboy(home, args.papers, args.reuse)
    server = start_postgres(workdir / "pg")
    results |= prepare_anchor(server, "bench", home / "paperboy.db", MiniLmOnnxEmbedder.dim, args.reuse)
    results["paperboy_disk"] = paperboy_disk(home)
    with connect(server, "bench") as connection:
        results["anchor_disk"] = anchor.sizes_mb(connection)
    if args.build_only:
        server.cleanup()
        print(json.dumps(results, indent=2))
        return

    vocabulary = Vocabulary.from_shared_data(shared_data())
    queries = sample_queries(vocabulary, args.queries * (1 + len(clients)) + args.queries // 3)
    random.Random(5).shuffle(queries)  # sample_queries sorts them
    embedder = MiniLmOnnxEmbedder()
    query_vectors = np.vstack([embedder.embed_query(q) for q in queries[: args.queries]]).astype(np.float32)
    held_out = held_out_vectors(args.papers, args.queries)
    results |= recalls(home, server, "bench", {"queries": query_vectors, "held_out": held_out})
    # Equal recall: the smallest ef_search at which the anchor finds as much of the true top 10 as
    # Paperboy for queries that look like papers (the timed word strings have no meaningful neighbours:
    # both sides find a fifth of them), and never under 50, the candidates it fuses.
    anchor_recall = results["anchor_recall_at_10_held_out"]
    matched = [ef for ef, r in anchor_recall.items() if r >= results["paperboy_recall_at_10_held_out"]]
    ef_search = max(matched[0] if matched else EF_SEARCH[-1], anchor.CANDIDATES)
    results["anchor_ef_search"] = ef_search
    print(json.dumps(results, indent=2), flush=True)

    uri = server.get_uri("bench")
    postgres_pid = int((workdir / "pg" / "postmaster.pid").read_text().split()[0])
    # A realistic mix at 8 clients: popular queries repeat (Zipf over a pool of distinct ones), so the
    # query-embedding cache both sides have (the same embedder class) gets hits.
    pool = queries[-args.queries // 3 :]
    weights = 1.0 / np.arange(1, len(pool) + 1) ** 1.1
    drawn = np.random.default_rng(7).choice(len(pool), args.queries, p=weights / weights.sum())
    repeating = [pool[i] for i in drawn]
    results["repeating_mix_distinct_share"] = round(len(set(repeating)) / len(repeating), 3)
    levels = [
        (n, queries[(i + 1) * args.queries : (i + 2) * args.queries], "") for i, n in enumerate(clients)
    ]
    levels.append((8, repeating, "_repeating"))
    # Each level alternates the sides (one Paperboy server per worker count, then the anchor), all on
    # the same queries, so drifts of a noisy machine hit both.
    for n, part, label in levels:
        for w in workers:
            warm_page_cache(home)
            paperboy_server, port = serve(home, w)
            try:
                print(f"{n} client(s): paperboy with {w} worker(s) ...", flush=True)
                results[f"paperboy_w{w}_{n}_clients{label}"] = run_clients(
                    _paperboy_client, (port,), part, n, paperboy_server.pid
                )
                results[f"paperboy_w{w}_serving_pss_mb"] = round(tree_pss_mb(paperboy_server.pid), 1)
            finally:
                paperboy_server.terminate()
                paperboy_server.wait(timeout=60)
        print(f"{n} client(s): anchor ...", flush=True)
        warm_page_cache(workdir / "pg")
        threads = 2 if n == 1 else 1  # one onnxruntime thread per client once they outnumber cores
        results[f"anchor_{n}_clients{label}"] = run_clients(
            _anchor_client, (uri, ef_search, threads), part, n, postgres_pid
        )
        print(
            json.dumps({k: v for k, v in results.items() if k.endswith(f"_{n}_clients{label}")}), flush=True
        )
    results["anchor_server_pss_mb"] = round(tree_pss_mb(postgres_pid), 1)
    for n, _, label in levels:
        a = results[f"anchor_{n}_clients{label}"]
        for w in workers:
            p = results[f"paperboy_w{w}_{n}_clients{label}"]
            results[f"ratio_w{w}_{n}_clients{label}"] = {
                "qps_paperboy_over_anchor": round(p["qps"] / a["qps"], 2),
                "p50_paperboy_over_anchor": round(p["p50_ms"] / a["p50_ms"], 2),
                "p99_paperboy_over_anchor": round(p["p99_ms"] / a["p99_ms"], 2),
            }
    if not args.no_scifact:
        results |= scifact(server, workdir)
    server.cleanup()
    print(json.dumps(results, indent=2))
    print(table(results))
    if not args.no_record:
        record(results, command_line())


if __name__ == "__main__":
    main()
