"""Writes to one Qdrant collection: a paper's point gets its sparse BM25 vector and payload when it is
keyword-indexed, and its dense vector later, when the background embedding reaches it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from paperboy.db.repositories.search_docs import PaperContent
from paperboy.search.backend import IndexCounts, Vector
from paperboy.search.qdrant_sparse import bm25_document_vector, qdrant_models
from paperboy.search.terms import indexed_text
from paperboy.search.vocabulary import Vocabulary

if TYPE_CHECKING:
    from paperboy.search.qdrant import QdrantBackend

_UPSERT_CHUNK = 256
_SCROLL_PAGE = 1000


class QdrantWriter:
    def __init__(self, backend: QdrantBackend, collection: str) -> None:
        self.backend = backend
        self.collection = collection

    def _existing(self, paper_ids: Sequence[int], with_dense: bool = False) -> dict[int, Any]:
        """The points of `paper_ids` that exist, with their dense vectors when asked."""
        found = self.backend.client.retrieve(
            self.collection,
            list(paper_ids),
            with_payload=False,
            with_vectors=["dense"] if with_dense else False,
        )
        return {int(point.id): point.vector for point in found}

    def upsert_text(self, papers: Sequence[PaperContent], replace: bool = True) -> None:
        models = qdrant_models()
        for start in range(0, len(papers), _UPSERT_CHUNK):
            chunk = papers[start : start + _UPSERT_CHUNK]
            existing = self._existing([p.paper_id for p in chunk], with_dense=True) if replace else {}
            points = []
            for paper in chunk:
                indices, values = bm25_document_vector(indexed_text(paper.title, paper.abstract))
                vector: dict[str, Any] = {"bm25": models.SparseVector(indices=indices, values=values)}
                kept = existing.get(paper.paper_id)
                if isinstance(kept, dict) and kept.get("dense") is not None:
                    vector["dense"] = kept["dense"]  # a text update keeps the paper's vector
                points.append(
                    models.PointStruct(id=paper.paper_id, vector=vector, payload=self.backend.payload(paper))
                )
            self.backend.client.upsert(self.collection, points, wait=True)

    def delete_text(self, paper_ids: Sequence[int]) -> None:
        if paper_ids:
            models = qdrant_models()
            self.backend.client.delete(
                self.collection, models.PointIdsList(points=list(paper_ids)), wait=True
            )

    def upsert_vectors(self, paper_ids: Sequence[int], vectors: Vector) -> None:
        models = qdrant_models()
        existing = self._existing(paper_ids)
        points = [
            models.PointVectors(id=pid, vector={"dense": vectors[row].astype(float).tolist()})
            for row, pid in enumerate(paper_ids)
            if pid in existing
        ]
        for start in range(0, len(points), _UPSERT_CHUNK):
            self.backend.client.update_vectors(
                self.collection, points[start : start + _UPSERT_CHUNK], wait=True
            )

    def delete_vectors(self, paper_ids: Sequence[int]) -> None:
        existing: list[Any] = list(self._existing(paper_ids)) if paper_ids else []
        if existing:
            self.backend.client.delete_vectors(self.collection, ["dense"], existing, wait=True)

    def commit_text(self, final: bool = True) -> None:
        """Writes are acknowledged durable (`wait=True`): nothing is pending."""

    def commit_vectors(self) -> None:
        """Writes are acknowledged durable (`wait=True`): nothing is pending."""

    def counts(self) -> IndexCounts:
        return self.backend.collection_counts(self.collection)

    def ids(self) -> tuple[set[int], set[int]]:
        models = qdrant_models()
        with_vector = models.Filter(must=[models.HasVectorCondition(has_vector="dense")])
        return self._scroll_ids(None), self._scroll_ids(with_vector)

    def _scroll_ids(self, condition: Any) -> set[int]:
        found: set[int] = set()
        offset = None
        while True:
            points, offset = self.backend.client.scroll(
                self.collection,
                scroll_filter=condition,
                limit=_SCROLL_PAGE,
                offset=offset,
                with_payload=False,
            )
            found.update(int(point.id) for point in points)
            if offset is None:
                return found

    def vocabulary(self) -> Vocabulary:
        return self.backend.vocabulary_of(self.collection)

    def words(self) -> list[tuple[str, int]]:
        counts: Counter[str] = Counter()
        offset = None
        while True:
            points, offset = self.backend.client.scroll(
                self.collection, limit=_SCROLL_PAGE, offset=offset, with_payload=["words"]
            )
            for point in points:
                counts.update((point.payload or {}).get("words") or ())
            if offset is None:
                return list(counts.items())
