"""Synthetic papers for benchmarks: a realistic vocabulary, lengths and categories, and realistic vectors.

Words are drawn from the unigram distribution of the real abstracts under PAPERBOY_SHARED_DATA, titles
and abstracts get lengths sampled from the real ones. Vectors come from a model of real MiniLM vectors
(`VectorModel`): the mean and covariance of the real abstracts' embeddings, and topics in three levels
drawn from that covariance (embedding a million abstracts with the real model would take about four
CPU-days here). Isotropic noise around random centres, the earlier generator, made neighbours nearly
equidistant: every HNSW library found 0.43-0.47 of the true top 10 at 1M, while real vectors give 0.94
at 3.5k. These give 0.94 at 3.5k and 0.93 at 100k, with the same similarity to the nearest, 10th and
100th neighbour as real ones (docs/BENCHMARKS.md, "Vectors as hard as real ones").
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
REAL_VECTORS_CACHE = Path(__file__).resolve().parent.parent / ".bench-cache" / "real_vectors.npy"


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


TOPIC_SHARES = (0.3, 0.2, 0.5)
"""Of the real covariance: the share between fields, between topics of a field, and within a topic
(chosen at 3.5k papers to match real vectors' recall and neighbour similarities; see the module docs)."""


@dataclass(frozen=True)
class VectorModel:
    """The mean and principal axes of real document vectors: what synthetic vectors are drawn from."""

    mean: npt.NDArray[np.float64]
    axes: npt.NDArray[np.float64]
    """Principal directions scaled by the square root of their variance (dim x dim)."""

    @classmethod
    def fit(cls, real: npt.NDArray[np.float32]) -> VectorModel:
        mean = real.mean(axis=0).astype(np.float64)
        centred = real.astype(np.float64) - mean
        variance, directions = np.linalg.eigh(centred.T @ centred / len(centred))
        return cls(mean, directions * np.sqrt(variance.clip(min=0.0)))

    @property
    def dim(self) -> int:
        return int(self.mean.shape[0])


def real_vectors(shared_data: Path, cache: Path) -> npt.NDArray[np.float32]:
    """The default embedder's vectors of every real abstract in shared data (about a minute; cached)."""
    from paperboy.search.embedder import MiniLmOnnxEmbedder, document_text

    if cache.exists():
        return np.load(cache)
    texts = {}
    for path in sorted((shared_data / "arxiv").glob("arxiv_api_*.jsonl")):
        for line in path.read_text().splitlines():
            item = json.loads(line)
            texts[item["id"]] = document_text(item["title"], item["abstract"])
    print(f"embedding {len(texts):,} real abstracts to model synthetic vectors on ...", flush=True)
    vectors = np.asarray(MiniLmOnnxEmbedder().embed_documents(list(texts.values())), dtype=np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


def default_vector_model(shared_data: Path) -> VectorModel:
    """The model of the real abstracts in shared data, their vectors cached under .bench-cache/."""
    return VectorModel.fit(real_vectors(shared_data, REAL_VECTORS_CACHE))


def synthetic_vectors(
    count: int,
    model: VectorModel,
    seed: int = 11,
    fields: int = 40,
    topics_per_field: int = 40,
    chunk: int = 20_000,
) -> Iterator[npt.NDArray[np.float32]]:
    """Unit vectors in `chunk`s: fields around the real mean, topics around fields, papers around topics,
    each step a Gaussian with its share of the real covariance."""
    rng = np.random.default_rng(seed)
    field_share, topic_share, paper_share = TOPIC_SHARES

    def spread(n: int, share: float) -> npt.NDArray[np.float64]:
        return float(np.sqrt(share)) * (rng.standard_normal((n, model.dim)) @ model.axes.T)

    field_centres = model.mean + spread(fields, field_share)
    topics = fields * topics_per_field
    topic_centres = field_centres[rng.integers(0, fields, topics)] + spread(topics, topic_share)
    for base in range(0, count, chunk):
        n = min(chunk, count - base)
        vectors = topic_centres[rng.integers(0, topics, n)] + spread(n, paper_share)
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
