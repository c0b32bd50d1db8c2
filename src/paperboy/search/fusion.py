"""Score fusion of lexical (BM25) and dense (cosine) candidates, for every backend.

Backends return candidates with their scores on each side (search/backend.py); this module ranks them.
Both score lists are normalized over the candidate set (z-score by default, min-max as an option) and
combined as `alpha * dense + (1 - alpha) * lexical`.

Two rules keep the evidence honest:
- BM25 is known for every candidate: a candidate that holds no query word scores 0.0, and those zeros
  take part in the normalization. Normalizing only over the few papers that match a rare word would
  make the weakest of them look like a paper without the word at all.
- A paper without a vector yet (embedding is a background job) has an unknown dense score, not a bad
  one: it is ranked on its BM25 evidence alone (its normalized BM25 stands in for the dense side).

Reciprocal rank fusion is kept for comparison; on SciFact train it loses to score fusion
(docs/EVALUATION.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Normalization = Literal["zscore", "minmax"]


@dataclass(frozen=True)
class FusionParams:
    """Tuned on the SciFact train split (docs/EVALUATION.md)."""

    alpha: float = 0.6
    normalization: Normalization = "zscore"
    candidates: int = 100


@dataclass(frozen=True)
class FusedScore:
    """One candidate's scores: raw parts and the fused value used for ranking."""

    lexical: float | None
    dense: float | None
    fused: float


@dataclass
class Candidates:
    """What a backend found for a query, before fusion."""

    lexical: dict[int, float] = field(default_factory=dict)
    """BM25 of every candidate of the lexical side, and of the dense side where it holds a query word."""
    dense: dict[int, float] = field(default_factory=dict)
    """Cosine similarity of every candidate that has a vector."""
    matches: int = 0
    """Papers in the index that match a query word (counted when asked; else the lexical candidates)."""
    matches_estimated: bool = False
    """`matches` is an estimate (a large set of matches is not walked to count it)."""


def _normalize(scores: Mapping[int, float], method: Normalization) -> dict[int, float]:
    if not scores:
        return {}
    values = list(scores.values())
    if method == "minmax":
        low, high = min(values), max(values)
        span = high - low
        return {key: (value - low) / span if span > 0 else 1.0 for key, value in scores.items()}
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return {key: (value - mean) / std if std > 0 else 0.0 for key, value in scores.items()}


def fuse(candidates: Candidates, params: FusionParams) -> dict[int, FusedScore]:
    """Fused scores over the union of both sides' candidates (rules in the module docstring)."""
    keys = set(candidates.lexical) | set(candidates.dense)
    lexical = {key: candidates.lexical.get(key, 0.0) for key in keys}
    lex_norm = _normalize(lexical, params.normalization)
    dense_norm = _normalize(candidates.dense, params.normalization)
    fused = {}
    for key in keys:
        dense = dense_norm.get(key, lex_norm[key])
        value = params.alpha * dense + (1 - params.alpha) * lex_norm[key]
        fused[key] = FusedScore(lexical[key], candidates.dense.get(key), value)
    return fused


def lexical_only(candidates: Candidates) -> dict[int, FusedScore]:
    """Ranking by BM25 alone: the papers that hold a query word."""
    return {
        key: FusedScore(score, candidates.dense.get(key), score)
        for key, score in candidates.lexical.items()
        if score > 0
    }


def dense_only(candidates: Candidates) -> dict[int, FusedScore]:
    """Ranking by meaning alone: the papers that have a vector."""
    return {
        key: FusedScore(candidates.lexical.get(key), score, score) for key, score in candidates.dense.items()
    }


def reciprocal_rank_fusion(rankings: list[list[int]], k: int = 60) -> dict[int, float]:
    """Classic RRF: sum of 1 / (k + rank) over the rankings a key appears in."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return scores
