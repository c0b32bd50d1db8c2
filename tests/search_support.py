"""Helpers for search tests: a memoizing wrapper over the real embedder, and a small real corpus.

The wrapper runs the real model (real weights) once per distinct text for the whole test session,
so tests on both database backends do not pay for embedding the same abstracts again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from paperboy.db.records import PaperRecord
from paperboy.search.embedder import Embedder, Vectors


class MemoizingEmbedder:
    """Delegates to a real embedder, remembering each text's vector."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.signature = inner.signature
        self._docs: dict[str, Vectors] = {}
        self.calls = 0

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        missing = [t for t in dict.fromkeys(texts) if t not in self._docs]
        if missing:
            self.calls += len(missing)
            for text, vector in zip(missing, self.inner.embed_documents(missing), strict=True):
                self._docs[text] = vector
        return np.vstack([self._docs[t] for t in texts]).astype(np.float32)

    def embed_query(self, text: str) -> Vectors:
        return self.inner.embed_query(text)


def sample_records(shared_data: Path, limit: int = 120) -> list[PaperRecord]:
    """Real ML papers (Hugging Face search sample) with synthetic ids, dates and categories.

    The sample has no ids or dates; tests give each paper `2401.<n>`, a date one day apart and a category
    by position, so filters have something to act on.
    """
    records = []
    path = shared_data / "hf_search_sample" / "papers.jsonl"
    for n, line in enumerate(path.read_text().splitlines()[:limit]):
        item = json.loads(line)
        records.append(
            PaperRecord(
                arxiv_id=f"2401.{n + 10000:05d}",
                title=" ".join(item["title"].split()),
                abstract=" ".join(item["abstract"].split()),
                source="test",
                version=1,
                authors=(f"Author {n % 7}", "Shared Coauthor" if n % 2 else "Other Person"),
                categories=("cs.LG",) if n % 3 else ("cs.CL", "cs.LG"),
                primary_category="cs.LG" if n % 3 else "cs.CL",
                published_at=datetime(2024, 1, 1) + timedelta(days=n),
                updated_at=datetime(2024, 1, 1) + timedelta(days=n),
            )
        )
    return records
