"""Stored embedding vectors, per paper and model: computed once, reused by every index rebuild."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from paperboy.clock import utcnow
from paperboy.db.models import Embedding

_IN_CHUNK = 500


def load_embeddings(
    session: Session, model: str, paper_ids: Sequence[int]
) -> dict[int, tuple[str, npt.NDArray[np.float32]]]:
    """{paper_id: (content_hash, vector)} for the papers that have a vector under `model`."""
    found: dict[int, tuple[str, npt.NDArray[np.float32]]] = {}
    for start in range(0, len(paper_ids), _IN_CHUNK):
        chunk = list(paper_ids[start : start + _IN_CHUNK])
        query = select(Embedding.paper_id, Embedding.content_hash, Embedding.vector).where(
            Embedding.model == model, Embedding.paper_id.in_(chunk)
        )
        for paper_id, content_hash, blob in session.execute(query):
            found[paper_id] = (content_hash, np.frombuffer(blob, dtype=np.float32))
    return found


def load_content_hashes(session: Session, model: str, paper_ids: Sequence[int]) -> dict[int, tuple[str, int]]:
    """{paper_id: (content_hash, dim)} for the papers that have a vector under `model` (vectors not read)."""
    found: dict[int, tuple[str, int]] = {}
    for start in range(0, len(paper_ids), _IN_CHUNK):
        chunk = list(paper_ids[start : start + _IN_CHUNK])
        query = select(Embedding.paper_id, Embedding.content_hash, Embedding.dim).where(
            Embedding.model == model, Embedding.paper_id.in_(chunk)
        )
        for paper_id, content_hash, dim in session.execute(query):
            found[paper_id] = (content_hash, int(dim))
    return found


def store_embeddings(
    session: Session, model: str, vectors: Mapping[int, tuple[str, npt.NDArray[np.float32]]]
) -> None:
    """Insert or replace vectors (delete-then-insert keeps it portable across SQLite and PostgreSQL)."""
    if not vectors:
        return
    ids = list(vectors)
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        session.execute(delete(Embedding).where(Embedding.model == model, Embedding.paper_id.in_(chunk)))
    now = utcnow()
    session.add_all(
        Embedding(
            paper_id=paper_id,
            model=model,
            dim=int(vector.shape[0]),
            vector=np.asarray(vector, dtype=np.float32).tobytes(),
            content_hash=content_hash,
            created_at=now,
        )
        for paper_id, (content_hash, vector) in vectors.items()
    )


def count_embeddings(session: Session, model: str) -> int:
    """How many papers have a vector under `model`."""
    return session.scalar(select(func.count()).select_from(Embedding).where(Embedding.model == model)) or 0
