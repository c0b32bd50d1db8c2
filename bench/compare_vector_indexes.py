"""Compare HNSW libraries for the vector index: usearch (int8, f16), hnswlib (f32), faiss (f32, SQ8).

    pip install hnswlib faiss-cpu        # not Paperboy dependencies; only this comparison needs them
    .venv/bin/python bench/compare_vector_indexes.py --vectors 100000

Same vectors (bench/synthetic.py), same graph parameters (M=16, efConstruction=128, efSearch=96), one
query at a time. Recall@10 is measured against exact float32 search. Prints a table and appends it to
docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import default_vector_model, synthetic_vectors

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md"
M, EF_CONSTRUCTION, EF_SEARCH, K = 16, 128, 96, 10


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_usearch(
    data: np.ndarray, dtype: str
) -> tuple[Callable[[np.ndarray], np.ndarray], int, Callable[[], None]]:
    from usearch.index import Index

    index = Index(
        ndim=data.shape[1],
        metric="cos",
        dtype=dtype,
        connectivity=M,
        expansion_add=EF_CONSTRUCTION,
        expansion_search=EF_SEARCH,
    )
    index.add(np.arange(len(data), dtype=np.uint64), data)
    path = Path(tempfile.mkdtemp()) / "u.idx"
    index.save(str(path))
    size = path.stat().st_size
    return (lambda q: index.search(q, K).keys), size, lambda: index.remove(np.arange(10, dtype=np.uint64))


def build_hnswlib(data: np.ndarray) -> tuple[Callable[[np.ndarray], np.ndarray], int, Callable[[], None]]:
    import hnswlib

    index = hnswlib.Index(space="cosine", dim=data.shape[1])
    index.init_index(max_elements=len(data), ef_construction=EF_CONSTRUCTION, M=M, allow_replace_deleted=True)
    index.add_items(data, np.arange(len(data)))
    index.set_ef(EF_SEARCH)
    path = Path(tempfile.mkdtemp()) / "h.idx"
    index.save_index(str(path))
    return (
        (lambda q: index.knn_query(q, K)[0][0]),
        path.stat().st_size,
        lambda: [index.mark_deleted(i) for i in range(10)],
    )


def build_faiss(
    data: np.ndarray, sq8: bool
) -> tuple[Callable[[np.ndarray], np.ndarray], int, Callable[[], None]]:
    import faiss

    dim = data.shape[1]
    index = (
        faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, M, faiss.METRIC_INNER_PRODUCT)
        if sq8
        else faiss.IndexHNSWFlat(dim, M, faiss.METRIC_INNER_PRODUCT)
    )
    index.hnsw.efConstruction = EF_CONSTRUCTION
    if sq8:
        index.train(data)
    index.add(data)
    index.hnsw.efSearch = EF_SEARCH
    path = Path(tempfile.mkdtemp()) / "f.idx"
    faiss.write_index(index, str(path))

    def delete() -> None:
        raise NotImplementedError("faiss HNSW indexes do not support removing vectors")

    return (lambda q: index.search(q[None, :], K)[1][0]), path.stat().st_size, delete


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vectors", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    shared = Path(
        os.environ.get("PAPERBOY_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
    )
    drawn = np.vstack(list(synthetic_vectors(args.queries + args.vectors, default_vector_model(shared))))
    queries, data = drawn[: args.queries], drawn[args.queries :]  # queries from the same topics
    exact = np.argsort(-(queries @ data.T), axis=1)[:, :K]
    candidates: dict[str, Callable[[], Any]] = {
        "usearch i8": lambda: build_usearch(data, "i8"),
        "usearch f16": lambda: build_usearch(data, "f16"),
        "hnswlib f32": lambda: build_hnswlib(data),
        "faiss HNSW f32": lambda: build_faiss(data, sq8=False),
        "faiss HNSW SQ8": lambda: build_faiss(data, sq8=True),
    }
    rows = []
    for name, build in candidates.items():
        before = peak_rss_mb()
        started = time.perf_counter()
        search, size, delete = build()
        build_s = time.perf_counter() - started
        latencies, recall = [], 0.0
        for row, query in enumerate(queries):
            t = time.perf_counter()
            found = search(query)
            latencies.append((time.perf_counter() - t) * 1000)
            recall += len(set(int(x) for x in found) & set(int(x) for x in exact[row])) / K
        try:
            delete()
            deletes = "yes"
        except NotImplementedError:
            deletes = "no"
        rows.append(
            (
                name,
                build_s,
                size / 2**20,
                np.median(latencies),
                np.percentile(latencies, 99),
                recall / len(queries),
                deletes,
                peak_rss_mb() - before,
            )
        )
    header = "| index | build s | file MB | p50 ms | p99 ms | recall@10 | deletes |\n|---|---|---|---|---|---|---|\n"
    table = header + "".join(
        f"| {n} | {b:.1f} | {s:.0f} | {p50:.2f} | {p99:.2f} | {r:.3f} | {d} |\n"
        for n, b, s, p50, p99, r, d, _ in rows
    )
    print(table)
    if not args.no_record:
        with RESULTS.open("a") as handle:
            handle.write(
                f"\n### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — `.venv/bin/python bench/compare_vector_indexes.py "
                f"--vectors {args.vectors}`\n\nMachine: {os.cpu_count()} cores\n\n{table}"
            )


if __name__ == "__main__":
    main()
