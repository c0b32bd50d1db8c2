"""Score fusion of lexical (BM25) and dense (cosine) candidates.

Both score lists are normalized over the candidate set (z-score by default, min-max as an option) and
combined as `alpha * dense + (1 - alpha) * lexical`. Reciprocal rank fusion is kept for comparison;
on SciFact train it loses to normalized score fusion (docs/EVALUATION.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
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


def fuse(
    lexical: Mapping[int, float], dense: Mapping[int, float], params: FusionParams
) -> dict[int, FusedScore]:
    """Fuse two score maps over the union of their keys.

    `lexical` holds BM25 for every candidate (0.0 where a candidate matches no query word); `dense`
    holds the cosine similarity of every candidate. A candidate missing from one map gets that map's
    lowest normalized value.
    """
    keys = set(lexical) | set(dense)
    lex_norm = _normalize(lexical, params.normalization)
    dense_norm = _normalize(dense, params.normalization)
    lex_floor = min(lex_norm.values(), default=0.0)
    dense_floor = min(dense_norm.values(), default=0.0)
    fused = {}
    for key in keys:
        value = params.alpha * dense_norm.get(key, dense_floor) + (1 - params.alpha) * lex_norm.get(
            key, lex_floor
        )
        fused[key] = FusedScore(lexical.get(key), dense.get(key), value)
    return fused


def reciprocal_rank_fusion(rankings: list[list[int]], k: int = 60) -> dict[int, float]:
    """Classic RRF: sum of 1 / (k + rank) over the rankings a key appears in."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, key in enumerate(ranking, start=1):
            scores[key] = scores.get(key, 0.0) + 1.0 / (k + rank)
    return scores
