"""Are the synthetic vectors as hard as real ones? The same HNSW index (Paperboy's settings) over real
MiniLM vectors of the shared abstracts, over synthetic vectors of the same count, and over the earlier
generator's; then synthetic ones at larger sizes.

    .venv/bin/python bench/validate_synthetic_vectors.py

For each set: recall@10 of 300 held-out queries of the same kind against exact search, and their mean
cosine similarity to the 1st, 10th and 100th nearest neighbour and to everything (how crowded the
neighbourhoods are is what makes an HNSW graph easy or hard). Appends the table to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from usearch.index import Index

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import command_line, record
from synthetic import REAL_VECTORS_CACHE, VectorModel, real_vectors, synthetic_vectors

from paperboy.search.vectors import CONNECTIVITY, EXPANSION_ADD, EXPANSION_SEARCH

QUERIES = 300


def isotropic_vectors(count: int, dim: int, seed: int = 11, centres: int = 2000) -> npt.NDArray[np.float32]:
    """The earlier generator: random centres plus isotropic noise (kept here only to compare)."""
    rng = np.random.default_rng(seed)
    centre = rng.standard_normal((centres, dim)).astype(np.float32)
    centre /= np.linalg.norm(centre, axis=1, keepdims=True)
    noise = rng.standard_normal((count, dim)).astype(np.float32) / np.sqrt(dim)
    vectors = centre[rng.integers(0, centres, count)] + 0.9 * noise
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def hardness(base: npt.NDArray[np.float32], queries: npt.NDArray[np.float32]) -> dict[str, Any]:
    index = Index(
        ndim=base.shape[1],
        metric="cos",
        dtype="i8",
        connectivity=CONNECTIVITY,
        expansion_add=EXPANSION_ADD,
        expansion_search=EXPANSION_SEARCH,
    )
    index.add(np.arange(len(base), dtype=np.uint64), base)
    found = index.search(queries, 10).keys
    nearest: list[npt.NDArray[np.float32]] = []
    mean = 0.0
    for block in _blocks(queries):
        scores = block @ base.T
        mean += float(scores.sum())
        nearest.append(-np.sort(np.partition(-scores, 100, axis=1)[:, :101], axis=1))
    top = np.vstack(nearest)
    exact = [set(np.argsort(-(q @ base.T))[:10]) for q in queries]
    recall = np.mean([len(set(f) & e) / 10 for f, e in zip(found, exact, strict=True)])
    return {
        "vectors": len(base),
        "recall_at_10": round(float(recall), 3),
        "sim_1st": round(float(top[:, 0].mean()), 3),
        "sim_10th": round(float(top[:, 9].mean()), 3),
        "sim_100th": round(float(top[:, 99].mean()), 3),
        "sim_mean": round(mean / (len(queries) * len(base)), 3),
    }


def _blocks(queries: npt.NDArray[np.float32], size: int = 50) -> Iterator[npt.NDArray[np.float32]]:
    for start in range(0, len(queries), size):
        yield queries[start : start + size]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="20000,100000", help="Larger synthetic sets to check.")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    shared = Path(
        os.environ.get("PAPERBOY_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
    )
    real = real_vectors(shared, REAL_VECTORS_CACHE)
    order = np.random.default_rng(0).permutation(len(real))
    rows: dict[str, Any] = {
        "real MiniLM (shared abstracts)": hardness(real[order[QUERIES:]], real[order[:QUERIES]])
    }
    model = VectorModel.fit(real)
    for count in [len(real) - QUERIES, *(int(s) for s in args.sizes.split(","))]:
        drawn = np.vstack(list(synthetic_vectors(count + QUERIES, model, seed=1)))
        rows[f"synthetic, {count:,}"] = hardness(drawn[QUERIES:], drawn[:QUERIES])
    old = isotropic_vectors(len(real), real.shape[1])
    rows["earlier generator (isotropic)"] = hardness(old[QUERIES:], old[:QUERIES])
    print(f"{'set':<34} {'n':>8} {'recall@10':>9} {'1st':>6} {'10th':>6} {'100th':>6} {'mean':>6}")
    for name, row in rows.items():
        print(
            f"{name:<34} {row['vectors']:>8,} {row['recall_at_10']:>9.3f} {row['sim_1st']:>6.3f} "
            f"{row['sim_10th']:>6.3f} {row['sim_100th']:>6.3f} {row['sim_mean']:>6.3f}"
        )
    if not args.no_record:
        record(rows, command_line())


if __name__ == "__main__":
    main()
