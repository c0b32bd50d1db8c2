"""Search-quality evaluation on BEIR-format data: nDCG@10, Recall@10, Recall@100 and MRR@10.

The corpus is loaded through the same ingest, indexer and search service as production, into a data
dir of its own, so the figures measure exactly what users get. Two derived query sets measure typo
tolerance: `misspelled` gives every word of five or more letters one random edit (a swap, deletion,
insertion or substitution), and `title_queries` builds "half-remembered titles" (three or four words of
a real paper's title, whose paper is the one right answer).
"""

from __future__ import annotations

import csv
import json
import math
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from paperboy.db.records import PaperRecord
from paperboy.ingest.records import Batch, IngestError, Rejection
from paperboy.search.backend import Mode
from paperboy.search.query import QueryError
from paperboy.search.service import SearchRequest, SearchService

ID_PREFIX = "beir:"


@dataclass(frozen=True)
class BeirData:
    """A BEIR directory: corpus files, the queries of one split and their judgments."""

    corpus_files: list[Path]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_beir(directory: Path, split: str) -> BeirData:
    """Read queries and qrels; the corpus is streamed later. Errors name the file and line."""
    if not directory.is_dir():
        raise IngestError(f"{directory}: not a directory")
    corpus = (
        [directory / "corpus.jsonl"]
        if (directory / "corpus.jsonl").is_file()
        else sorted(directory.glob("corpus.part*.jsonl"))
    )
    if not corpus:
        raise IngestError(f"{directory}: no corpus.jsonl or corpus.part*.jsonl")
    qrels_path = directory / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        available = ", ".join(sorted(p.stem for p in (directory / "qrels").glob("*.tsv"))) or "none"
        raise IngestError(f"{qrels_path}: no judgments for split {split!r} (available: {available})")
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(newline="") as handle:
        for line_number, row in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            if line_number == 1 and row and row[0] == "query-id":
                continue
            if len(row) != 3 or not row[2].strip().lstrip("-").isdigit():
                raise IngestError(f"{qrels_path}:{line_number}: expected 'query-id<TAB>corpus-id<TAB>score'")
            qrels.setdefault(row[0], {})[row[1]] = int(row[2])
    queries: dict[str, str] = {}
    queries_path = directory / "queries.jsonl"
    with queries_path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                queries[str(item["_id"])] = str(item["text"])
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise IngestError(f"{queries_path}:{line_number}: not a BEIR query ({exc})") from None
    judged = {qid: text for qid, text in queries.items() if qid in qrels}
    return BeirData(corpus, judged, qrels)


_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_WORD = re.compile(r"[A-Za-z]+")


def misspell_word(word: str, rng: random.Random) -> str:
    """`word` with one random edit that changes it: swap two neighbours, delete, insert or substitute."""
    while True:
        i = rng.randrange(len(word))
        kind = rng.choice(("swap", "delete", "insert", "substitute"))
        if kind == "swap" and i < len(word) - 1:
            edited = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        elif kind == "delete":
            edited = word[:i] + word[i + 1 :]
        elif kind == "insert":
            edited = word[:i] + rng.choice(_LETTERS) + word[i:]
        else:
            edited = word[:i] + rng.choice(_LETTERS) + word[i + 1 :]
        if edited.lower() != word.lower():
            return edited


def misspell(text: str, rng: random.Random, min_letters: int = 5) -> str:
    """Every word of at least `min_letters` letters gets one random edit."""
    return _WORD.sub(
        lambda m: misspell_word(m.group(0), rng) if len(m.group(0)) >= min_letters else m.group(0), text
    )


def misspelled(data: BeirData, seed: int) -> BeirData:
    """The same judged queries, misspelled reproducibly (one random generator per seed)."""
    rng = random.Random(seed)
    return replace(data, queries={qid: misspell(text, rng) for qid, text in data.queries.items()})


def title_queries(titles: Sequence[tuple[str, str]], count: int, seed: int) -> BeirData:
    """`count` half-remembered titles: 3 or 4 consecutive words of a paper's title (of papers whose title
    has at least five words), each judged to find exactly that paper."""
    rng = random.Random(seed)
    usable = [(pid, words) for pid, title in titles if len(words := _WORD.findall(title)) >= 5]
    chosen = rng.sample(usable, min(count, len(usable)))
    queries, qrels = {}, {}
    for pid, words in chosen:
        width = rng.choice((3, 4))
        start = rng.randrange(len(words) - width + 1)
        queries[pid] = " ".join(words[start : start + width])
        qrels[pid] = {pid: 1}
    return BeirData([], queries, qrels)


class BeirCorpusSource:
    """Streams a BEIR corpus file as papers with ids `beir:<_id>` (so ids never collide with arXiv's)."""

    name = "beir"

    def __init__(self, path: Path, batch_size: int = 500) -> None:
        self.path = path
        self.batch_size = batch_size
        self.label = f"beir {path.name}"

    def job_key(self) -> str:
        return str(self.path.resolve())

    def total(self) -> int | None:
        return self.path.stat().st_size

    def unit(self) -> str:
        return "bytes"

    def is_complete(self, state: dict[str, Any] | None) -> bool:
        return bool(state and state.get("done") and state.get("size") == self.path.stat().st_size)

    def final_state(self) -> dict[str, Any] | None:
        return {"done": True, "size": self.path.stat().st_size}

    def batches(self, state: dict[str, Any] | None) -> Iterator[Batch]:
        batch, offset = Batch(), 0
        with self.path.open("rb") as handle:
            for line_number, raw in enumerate(handle, start=1):
                offset += len(raw)
                if not raw.strip():
                    continue
                try:
                    item = json.loads(raw)
                    title = str(item.get("title") or "").strip()
                    text = str(item.get("text") or "").strip()
                    doc_id = str(item["_id"])
                except (json.JSONDecodeError, KeyError, AttributeError) as exc:
                    batch.rejections.append(
                        Rejection(f"{self.path}:{line_number}", f"not a BEIR document ({exc})")
                    )
                    continue
                if not (title or text):
                    batch.rejections.append(Rejection(f"{self.path}:{line_number}", "empty title and text"))
                    continue
                batch.papers.append(
                    PaperRecord(f"{ID_PREFIX}{doc_id}", title or text[:200], text or title, "beir")
                )
                if len(batch) >= self.batch_size:
                    batch.progress = offset
                    yield batch
                    batch = Batch()
        batch.progress = offset
        yield batch


@dataclass
class Metrics:
    ndcg_at_10: float
    recall_at_10: float
    recall_at_100: float
    mrr_at_10: float
    queries: int
    mode: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "ndcg@10": round(self.ndcg_at_10, 4),
            "recall@10": round(self.recall_at_10, 4),
            "recall@100": round(self.recall_at_100, 4),
            "mrr@10": round(self.mrr_at_10, 4),
            "queries": self.queries,
            "mode": self.mode,
        }


def ndcg_at(ranked: list[str], judged: dict[str, int], k: int) -> float:
    """nDCG with graded gains (the BEIR/trec_eval definition: gain / log2(rank + 1))."""
    dcg = sum(judged.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranked[:k]))
    ideal = sorted((g for g in judged.values() if g > 0), reverse=True)[:k]
    idcg = sum(gain / math.log2(rank + 2) for rank, gain in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranked: list[str], judged: dict[str, int], k: int) -> float:
    relevant = {doc for doc, gain in judged.items() if gain > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def mrr_at(ranked: list[str], judged: dict[str, int], k: int) -> float:
    for rank, doc in enumerate(ranked[:k], start=1):
        if judged.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def evaluate(
    service: SearchService, data: BeirData, mode: Mode, progress: Any = None, correct: bool = True
) -> Metrics:
    """Run every judged query through the search service and average the metrics."""
    totals = {"ndcg": 0.0, "r10": 0.0, "r100": 0.0, "mrr": 0.0}
    for query_id, text in data.queries.items():
        try:
            result = service.search(SearchRequest(text, k=100, mode=mode, correct=correct))
            ranked = [hit.paper.arxiv_id.removeprefix(ID_PREFIX) for hit in result.hits]
        except QueryError:
            ranked = []
        judged = data.qrels[query_id]
        totals["ndcg"] += ndcg_at(ranked, judged, 10)
        totals["r10"] += recall_at(ranked, judged, 10)
        totals["r100"] += recall_at(ranked, judged, 100)
        totals["mrr"] += mrr_at(ranked, judged, 10)
        if progress is not None:
            progress.advance(1, 1)
    count = max(len(data.queries), 1)
    return Metrics(
        totals["ndcg"] / count,
        totals["r10"] / count,
        totals["r100"] / count,
        totals["mrr"] / count,
        len(data.queries),
        mode,
    )
