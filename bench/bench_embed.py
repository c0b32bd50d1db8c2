"""Document embedding throughput of the levers, measured in one run on the same two cores and texts:
the window (256 tokens against 128), float32 against dynamically quantized int8 matrix products, batch
sizes, and one two-threaded session against one single-threaded session per core.

    .venv/bin/python bench/bench_embed.py --docs 400 --rounds 3
    .venv/bin/python bench/bench_embed.py --docs 400 --rounds 3 --quality   # adds SciFact train nDCG@10

Configurations run interleaved, round after round, and each figure is the median over the rounds, so a
busy moment of the machine does not favour one of them. `--quality` also embeds the whole SciFact corpus
with each configuration marked `quality` and reports dense and hybrid train nDCG@10 through the
project's own evaluation (search/evaluation.py). Prints the table and appends it to docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import command_line, record

from paperboy.config import Settings
from paperboy.db.engine import engine_from_settings, session_factory
from paperboy.db.migrate import upgrade
from paperboy.ingest.runner import run_ingest
from paperboy.search.embedder import MiniLmOnnxEmbedder
from paperboy.search.evaluation import BeirCorpusSource, evaluate, load_beir
from paperboy.search.indexer import Indexer
from paperboy.search.service import SearchService

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Lever:
    name: str
    quantize: bool
    sessions: int
    session_threads: int
    batch: int
    max_tokens: int = 256
    quality: bool = False

    def embedder(self) -> MiniLmOnnxEmbedder:
        return MiniLmOnnxEmbedder(
            threads=self.sessions,
            session_threads=self.session_threads,
            batch_size=self.batch,
            quantize=self.quantize,
            max_tokens=self.max_tokens,
        )


LEVERS = [
    Lever("before: float32, 1 session x 2 threads, batch 32", False, 1, 2, 32, quality=True),
    Lever("float32, 1 session x 2 threads, batch 8", False, 1, 2, 8),
    Lever("float32, 2 sessions x 1 thread, batch 1", False, 2, 1, 1),
    Lever("float32, 128-token window, batch 32", False, 1, 2, 32, max_tokens=128, quality=True),
    Lever("int8 dynamic, 1 session x 2 threads, batch 32", True, 1, 2, 32),
    Lever("int8 dynamic, 1 session x 2 threads, batch 8", True, 1, 2, 8),
    Lever("int8 dynamic, 2 sessions x 1 thread, batch 4", True, 2, 1, 4),
    Lever("chosen: int8 dynamic, 2 sessions x 1 thread, batch 1", True, 2, 1, 1, quality=True),
]


def scifact_texts(beir: Path, limit: int) -> list[str]:
    texts = []
    for path in sorted(beir.glob("corpus.part*.jsonl")):
        for line in path.read_text().splitlines():
            item = json.loads(line)
            texts.append(f"{item['title']}. {item['text']}" if item["text"] else item["title"])
            if len(texts) >= limit:
                return texts
    return texts


def throughput(levers: list[Lever], texts: list[str], rounds: int) -> dict[str, float]:
    embedders = {lever.name: lever.embedder() for lever in levers}
    for embedder in embedders.values():  # sessions created and warm before timing
        embedder.embed_documents(texts[:4])
    samples: dict[str, list[float]] = {lever.name: [] for lever in levers}
    for round_number in range(rounds):
        for lever in levers:
            started = time.perf_counter()
            embedders[lever.name].embed_documents(texts)
            rate = len(texts) / (time.perf_counter() - started)
            samples[lever.name].append(rate)
            print(f"round {round_number + 1}: {lever.name:<55} {rate:6.1f} docs/s", flush=True)
    return {name: statistics.median(values) for name, values in samples.items()}


def quality(lever: Lever, beir: Path) -> dict[str, float]:
    """SciFact train nDCG@10 (dense and hybrid) with the corpus embedded by `lever`."""
    data = load_beir(beir, "train")
    with tempfile.TemporaryDirectory(prefix="paperboy-bench-embed-") as scratch:
        settings = Settings(home=Path(scratch), database_url="")
        engine = engine_from_settings(settings)
        upgrade(engine)
        sessions = session_factory(engine)
        for path in data.corpus_files:
            run_ingest(sessions, BeirCorpusSource(path))
        embedder = lever.embedder()
        Indexer(sessions, settings.home, embedder).run()
        service = SearchService(sessions, settings.home, embedder)
        scores = {mode: evaluate(service, data, mode).ndcg_at_10 for mode in ("dense", "hybrid")}
        engine.dispose()
    print(f"quality: {lever.name:<55} dense {scores['dense']:.4f} hybrid {scores['hybrid']:.4f}", flush=True)
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=400, help="SciFact documents embedded per measurement.")
    parser.add_argument("--rounds", type=int, default=3, help="Interleaved rounds (the median is reported).")
    parser.add_argument("--quality", action="store_true", help="Also measure SciFact train nDCG@10.")
    parser.add_argument("--beir", type=Path, default=REPO.parent / "shared" / "data" / "beir" / "scifact")
    parser.add_argument(
        "--no-record", action="store_true", help="Print only; do not append to docs/BENCHMARKS.md."
    )
    args = parser.parse_args()
    texts = scifact_texts(args.beir, args.docs)
    rates = throughput(LEVERS, texts, args.rounds)
    baseline = rates[LEVERS[0].name]
    rows: list[dict[str, Any]] = []
    for lever in LEVERS:
        row: dict[str, Any] = {
            "lever": lever.name,
            "docs_per_s": round(rates[lever.name], 1),
            "ratio": round(rates[lever.name] / baseline, 2),
        }
        if args.quality and lever.quality:
            scores = quality(lever, args.beir)
            row.update({f"{mode}_ndcg@10": round(value, 4) for mode, value in scores.items()})
        rows.append(row)
    print(f"\n{'lever':<57} {'docs/s':>7} {'ratio':>6} {'dense':>7} {'hybrid':>7}")
    for row in rows:
        dense, hybrid = row.get("dense_ndcg@10", ""), row.get("hybrid_ndcg@10", "")
        print(f"{row['lever']:<57} {row['docs_per_s']:>7} {row['ratio']:>6} {dense!s:>7} {hybrid!s:>7}")
    if not args.no_record:
        record(
            {"benchmark": "document embedding", "docs": len(texts), "rounds": args.rounds, "rows": rows},
            command_line(),
        )


if __name__ == "__main__":
    main()
