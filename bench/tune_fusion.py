"""Grid-search the hybrid fusion parameters on a BEIR *train* split, reusing one loaded and indexed corpus.

    .venv/bin/paperboy eval beir ../shared/data/beir/scifact --split train --data-dir /tmp/scifact --json
    .venv/bin/python bench/tune_fusion.py ../shared/data/beir/scifact --data-dir /tmp/scifact

Query embeddings are cached by the embedder, so each grid point costs only the search itself.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from paperboy.config import Settings
from paperboy.db.engine import engine_from_settings, session_factory
from paperboy.search.evaluation import evaluate, load_beir
from paperboy.search.factory import make_embedder
from paperboy.search.fusion import FusionParams
from paperboy.search.service import SearchService


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("beir_dir", type=Path)
    parser.add_argument(
        "--data-dir", type=Path, required=True, help="A data dir prepared by `paperboy eval beir --data-dir`."
    )
    parser.add_argument("--split", default="train")
    parser.add_argument("--alphas", default="0.3,0.4,0.5,0.55,0.6,0.65,0.7,0.8")
    parser.add_argument("--candidates", default="50,100,200")
    args = parser.parse_args()
    if args.split != "train":
        parser.error("tune on the train split only")
    settings = Settings(home=args.data_dir)
    sessions = session_factory(engine_from_settings(settings))
    embedder = make_embedder(settings)
    data = load_beir(args.beir_dir, args.split)
    rows = []
    grid = itertools.product(
        ("zscore", "minmax"),
        [int(c) for c in args.candidates.split(",")],
        [float(a) for a in args.alphas.split(",")],
    )
    for normalization, candidates, alpha in grid:
        params = FusionParams(alpha=alpha, normalization=normalization, candidates=candidates)  # type: ignore[arg-type]
        metrics = evaluate(SearchService(sessions, settings.home, embedder, params), data, "hybrid")
        rows.append((metrics.ndcg_at_10, normalization, candidates, alpha, metrics.recall_at_100))
        print(
            f"{normalization:7} candidates={candidates:<4} alpha={alpha:<5} ndcg@10={metrics.ndcg_at_10:.4f} recall@100={metrics.recall_at_100:.4f}",
            flush=True,
        )
    best = max(rows)
    print(f"best: ndcg@10={best[0]:.4f} normalization={best[1]} candidates={best[2]} alpha={best[3]}")


if __name__ == "__main__":
    main()
