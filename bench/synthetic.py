"""Synthetic papers for benchmarks: a realistic vocabulary, lengths and categories, and clustered vectors.

Words are drawn from the unigram distribution of the real abstracts under PAPERBOY_SHARED_DATA, titles
and abstracts get lengths sampled from the real ones, and vectors come from 2,000 topic centres plus
noise (embedding a million abstracts with the real model would take about a day on two cores, and
search latency depends on the index structure, not on where the vectors came from).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt

WORD = re.compile(r"[A-Za-z][A-Za-z\-]+")


@dataclass
class Vocabulary:
    """Word frequencies and length distributions measured on real abstracts."""

    words: list[str]
    probabilities: npt.NDArray[np.float64]
    title_lengths: npt.NDArray[np.int64]
    abstract_lengths: npt.NDArray[np.int64]
    categories: list[str]
    category_weights: npt.NDArray[np.float64]
    authors: list[str]

    @classmethod
    def from_shared_data(cls, shared_data: Path) -> Vocabulary:
        counts: Counter[str] = Counter()
        titles, abstracts, categories, authors = [], [], Counter(), set()
        for path in sorted((shared_data / "arxiv").glob("arxiv_api_*.jsonl")):
            for line in path.read_text().splitlines():
                item = json.loads(line)
                title_words = WORD.findall(item["title"])
                abstract_words = WORD.findall(item["abstract"])
                counts.update(w.lower() for w in abstract_words + title_words)
                titles.append(len(title_words))
                abstracts.append(len(abstract_words))
                categories.update(item["categories"])
                authors.update(item["authors"])
        words = [w for w, c in counts.items() if c >= 2]
        weights = np.array([counts[w] for w in words], dtype=np.float64)
        cats = list(categories)
        cat_weights = np.array([categories[c] for c in cats], dtype=np.float64)
        return cls(
            words,
            weights / weights.sum(),
            np.array(titles),
            np.array(abstracts),
            cats,
            cat_weights / cat_weights.sum(),
            sorted(authors),
        )


@dataclass(frozen=True)
class SyntheticPaper:
    number: int
    title: str
    abstract: str
    authors: list[str]
    categories: list[str]
    published: datetime


def synthetic_papers(
    vocabulary: Vocabulary, count: int, seed: int = 7, chunk: int = 20_000
) -> Iterator[SyntheticPaper]:
    """`count` papers, generated in chunks so memory stays flat."""
    rng = np.random.default_rng(seed)
    words = np.array(vocabulary.words, dtype=object)
    start = datetime(2007, 4, 1)
    span_days = (datetime(2025, 12, 31) - start).days
    for base in range(0, count, chunk):
        n = min(chunk, count - base)
        title_len = np.clip(rng.choice(vocabulary.title_lengths, n), 3, 30)
        abstract_len = np.clip(rng.choice(vocabulary.abstract_lengths, n), 30, 400)
        drawn = words[
            rng.choice(len(words), int(title_len.sum() + abstract_len.sum()), p=vocabulary.probabilities)
        ]
        position = 0
        for i in range(n):
            title = " ".join(drawn[position : position + title_len[i]]).capitalize()
            position += title_len[i]
            abstract = " ".join(drawn[position : position + abstract_len[i]]).capitalize() + "."
            position += abstract_len[i]
            cats = list(
                dict.fromkeys(
                    rng.choice(len(vocabulary.categories), rng.integers(1, 4), p=vocabulary.category_weights)
                )
            )
            yield SyntheticPaper(
                number=base + i,
                title=title,
                abstract=abstract,
                authors=[
                    vocabulary.authors[j]
                    for j in rng.integers(0, len(vocabulary.authors), rng.integers(1, 7))
                ],
                categories=[vocabulary.categories[c] for c in cats],
                published=start + timedelta(days=int(rng.integers(0, span_days))),
            )


def synthetic_vectors(
    count: int, dim: int, seed: int = 11, centres: int = 2000, chunk: int = 20_000
) -> Iterator[npt.NDArray[np.float32]]:
    """Unit vectors around `centres` random topic centres, in chunks."""
    rng = np.random.default_rng(seed)
    centre = rng.standard_normal((centres, dim)).astype(np.float32)
    centre /= np.linalg.norm(centre, axis=1, keepdims=True)
    for base in range(0, count, chunk):
        n = min(chunk, count - base)
        noise = rng.standard_normal((n, dim)).astype(np.float32) / np.sqrt(dim)
        vectors = centre[rng.integers(0, centres, n)] + 0.9 * noise
        yield (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def sample_queries(vocabulary: Vocabulary, count: int, seed: int = 3) -> list[str]:
    """Distinct 2-5 word queries of mid-frequency words (the words people search for)."""
    rng = np.random.default_rng(seed)
    order = np.argsort(-vocabulary.probabilities)
    middle = [vocabulary.words[i] for i in order[100:5000]]
    queries: set[str] = set()
    while len(queries) < count:
        queries.add(" ".join(rng.choice(middle, int(rng.integers(2, 6)), replace=False)))
    return sorted(queries)
