"""The Qdrant backend: one collection with a dense vector (cosine) and a sparse BM25 vector per paper.

The sparse vector holds Paperboy's own analysis (the same stemming as the embedded index): each stem,
hashed to a 31-bit index, weighted by BM25's saturated term frequency; the collection's IDF modifier
supplies the inverse document frequency at query time. Hybrid search is one Query API call that
prefetches candidates from both vectors and fuses them (distribution-based score fusion, Qdrant's
counterpart of the embedded backend's z-score fusion). Filters are payload conditions.

A local path runs qdrant-client's local mode in-process (tests, small installs); an http(s) URL talks to
a Qdrant server or cluster. Rebuilds fill a new collection and move the alias atomically.
"""

from __future__ import annotations

import hashlib
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from paperboy.db.repositories.search_docs import PaperContent
from paperboy.locks import exclusive_lock
from paperboy.search.backend import FILTERED_DENSE_OVERSAMPLE, IndexBusy, Mode, Ranked, Vector
from paperboy.search.fusion import FusedScore
from paperboy.search.lexical import SearchFilters, day_number
from paperboy.search.query import ParsedQuery, title_key
from paperboy.search.terms import analyzer

K1 = 1.2
B = 0.75
AVERAGE_TOKENS = 204.0
"""Mean analyzed length of title + abstract on the real arXiv sample (../shared/data): BM25's avgdl."""
ALIAS = "papers"
ALIAS_REFRESH_SECONDS = 1.0
_UPSERT_CHUNK = 256


def _models() -> Any:
    try:
        from qdrant_client import models
    except ImportError:  # pragma: no cover - the extra is installed in CI
        raise RuntimeError("the Qdrant backend needs qdrant-client: pip install 'paperboy[scale]'") from None
    return models


def term_index(term: str) -> int:
    """A stable 31-bit index for a stem (collisions are negligible at arXiv's vocabulary size)."""
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "big") & 0x7FFFFFFF


def bm25_document_vector(text: str) -> tuple[list[int], list[float]]:
    """Stems of `text` with BM25-saturated term frequencies (the IDF comes from the collection)."""
    tokens = analyzer().analyze(text)
    counts = Counter(tokens)
    norm = K1 * (1 - B + B * len(tokens) / AVERAGE_TOKENS)
    merged: dict[int, float] = {}
    for term, tf in counts.items():
        index = term_index(term)
        merged[index] = merged.get(index, 0.0) + tf * (K1 + 1) / (tf + norm)
    return list(merged), list(merged.values())


def bm25_query_vector(parsed: ParsedQuery) -> tuple[list[int], list[float]]:
    terms = dict.fromkeys(t for text in (*parsed.words, *parsed.phrases) for t in analyzer().analyze(text))
    indices = list(dict.fromkeys(term_index(t) for t in terms))
    return indices, [1.0] * len(indices)


def _stems_in_order(text: str) -> list[str]:
    return list(analyzer().analyze(text))


def _contains_phrase(stems: list[str], phrase: list[str]) -> bool:
    if not phrase:
        return True
    width = len(phrase)
    return any(stems[i : i + width] == phrase for i in range(len(stems) - width + 1))


class QdrantWriter:
    def __init__(self, backend: QdrantBackend, collection: str) -> None:
        self.backend = backend
        self.collection = collection

    def upsert(self, papers: Sequence[PaperContent], vectors: Vector) -> None:
        models = _models()
        points = []
        for row, paper in enumerate(papers):
            text = f"{paper.title} {paper.abstract}"
            indices, values = bm25_document_vector(text)
            points.append(
                models.PointStruct(
                    id=paper.paper_id,
                    vector={
                        "dense": vectors[row].astype(float).tolist(),
                        "bm25": models.SparseVector(indices=indices, values=values),
                    },
                    payload=self.backend.payload(paper),
                )
            )
        for start in range(0, len(points), _UPSERT_CHUNK):
            self.backend.client.upsert(self.collection, points[start : start + _UPSERT_CHUNK], wait=True)

    def delete(self, paper_ids: Sequence[int]) -> None:
        models = _models()
        self.backend.client.delete(self.collection, models.PointIdsList(points=list(paper_ids)), wait=True)

    def commit(self) -> None:
        """Upserts are acknowledged durable (`wait=True`): nothing is pending."""

    def count(self) -> int:
        return int(self.backend.client.count(self.collection, exact=True).count)


class QdrantBackend:
    name = "qdrant"

    def __init__(
        self,
        location: str,
        dim: int,
        home: Path,
        shards: int = 1,
        replicas: int = 1,
        collection_prefix: str = "paperboy",
    ) -> None:
        from qdrant_client import QdrantClient

        self.dim = dim
        self.home = home
        self.shards = shards
        self.replicas = replicas
        self.alias = f"{collection_prefix}-{ALIAS}"
        self._alias_target: str | None = None
        self._alias_checked = 0.0
        self.local = not location.startswith(("http://", "https://"))
        if self.local:
            Path(location).mkdir(parents=True, exist_ok=True)
            self.client = QdrantClient(path=location)
        else:
            self.client = QdrantClient(url=location)

    # --- collections -------------------------------------------------------------------------
    def payload(self, paper: PaperContent) -> dict[str, Any]:
        author_tokens = sorted({t for name in paper.authors for t in analyzer().analyze(name)})
        return {
            "arxiv_id": paper.arxiv_id,
            "title_key": title_key(paper.title),
            "day": day_number(paper.published_at.date()) if paper.published_at else None,
            "categories": [c.lower() for c in paper.categories],
            "author_tokens": author_tokens,
            "authors": list(paper.authors),
            "text": f"{paper.title} {paper.abstract}",
        }

    def _create(self, name: str) -> None:
        models = _models()
        self.client.create_collection(
            name,
            vectors_config={"dense": models.VectorParams(size=self.dim, distance=models.Distance.COSINE)},
            sparse_vectors_config={"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)},
            shard_number=self.shards,
            replication_factor=self.replicas,
        )
        if not self.local:  # local mode has no payload indexes (and warns); a server needs them at scale
            for field, schema in (
                ("day", models.PayloadSchemaType.INTEGER),
                ("categories", models.PayloadSchemaType.KEYWORD),
                ("author_tokens", models.PayloadSchemaType.KEYWORD),
                ("title_key", models.PayloadSchemaType.KEYWORD),
            ):
                self.client.create_payload_index(name, field, field_schema=schema)

    def _current(self) -> str | None:
        """The collection the alias points at (looked up at most once a second)."""
        now = time.monotonic()
        if now - self._alias_checked > ALIAS_REFRESH_SECONDS:
            self._alias_target = next(
                (
                    str(a.collection_name)
                    for a in self.client.get_aliases().aliases
                    if a.alias_name == self.alias
                ),
                None,
            )
            self._alias_checked = now
        return self._alias_target

    def _point_alias(self, collection: str) -> None:
        models = _models()
        operations: list[Any] = []
        if self._current() is not None:
            operations.append(
                models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=self.alias))
            )
        operations.append(
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=collection, alias_name=self.alias)
            )
        )
        self.client.update_collection_aliases(change_aliases_operations=operations)
        self._alias_checked = 0.0

    def _new_collection(self) -> str:
        name = f"{self.alias}-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:6]}"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._create(name)
        return name

    # --- writing -------------------------------------------------------------------------------
    def lock(self) -> AbstractContextManager[None]:
        """One indexer per data dir. (Several machines indexing one cluster need one scheduler.)"""
        return exclusive_lock(
            self.home / "qdrant-indexer.lock",
            lambda: IndexBusy(f"another `paperboy index` is running on {self.home}"),
        )

    def exists(self) -> bool:
        return self._current() is not None

    def count(self) -> int:
        current = self._current()
        return int(self.client.count(current, exact=True).count) if current else 0

    def writer(self) -> QdrantWriter:
        current = self._current()
        if current is None:
            current = self._new_collection()
            self._point_alias(current)
        return QdrantWriter(self, current)

    @contextmanager
    def rebuild(self) -> Iterator[QdrantWriter]:
        previous = self._current()
        fresh = self._new_collection()
        try:
            yield QdrantWriter(self, fresh)
        except BaseException:
            self.client.delete_collection(fresh)
            raise
        self._point_alias(fresh)
        if previous is not None:
            self.client.delete_collection(previous)

    # --- reading -------------------------------------------------------------------------------
    def _filter(self, parsed: ParsedQuery, filters: SearchFilters, ids: Sequence[int] = ()) -> Any:
        models = _models()
        must: list[Any] = []
        categories = [c.lower() for c in (*parsed.categories, *filters.categories)]
        if categories:
            must.append(models.FieldCondition(key="categories", match=models.MatchAny(any=categories)))
        if filters.date_from or filters.date_to:
            must.append(
                models.FieldCondition(
                    key="day",
                    range=models.Range(
                        gte=day_number(filters.date_from) if filters.date_from else None,
                        lte=day_number(filters.date_to) if filters.date_to else None,
                    ),
                )
            )
        for name in parsed.authors:
            for token in analyzer().analyze(name):
                must.append(models.FieldCondition(key="author_tokens", match=models.MatchValue(value=token)))
        if ids:
            must.append(models.HasIdCondition(has_id=list(ids)))
        return models.Filter(must=must) if must else None

    def _phrase_ok(self, parsed: ParsedQuery, payload: dict[str, Any] | None) -> bool:
        """Phrases are checked on the stored text: stems in a row, as the embedded index matches them."""
        if not parsed.phrases:
            return True
        stems = _stems_in_order(str((payload or {}).get("text", "")))
        return all(_contains_phrase(stems, _stems_in_order(phrase)) for phrase in parsed.phrases)

    def _query(
        self,
        query: Any,
        using: str | None,
        parsed: ParsedQuery,
        filters: SearchFilters,
        limit: int,
        **extra: Any,
    ) -> list[tuple[int, float]]:
        need_text = bool(parsed.phrases)
        result = self.client.query_points(
            self.alias,
            query=query,
            using=using,
            query_filter=self._filter(parsed, filters),
            limit=limit * FILTERED_DENSE_OVERSAMPLE if need_text else limit,
            with_payload=["text"] if need_text else False,
            **extra,
        )
        hits = [(int(p.id), float(p.score)) for p in result.points if self._phrase_ok(parsed, p.payload)]
        return hits[:limit]

    def rank(
        self, parsed: ParsedQuery, mode: Mode, filters: SearchFilters, depth: int, embed: Callable[[], Vector]
    ) -> Ranked:
        models = _models()
        if self._current() is None:
            return []
        if not parsed.has_terms:
            return [(pid, FusedScore(None, None, 0.0)) for pid in self._newest(parsed, filters, depth)]
        indices, values = bm25_query_vector(parsed)
        sparse = models.SparseVector(indices=indices, values=values)
        lexical = dict(self._query(sparse, "bm25", parsed, filters, depth)) if mode != "dense" else {}
        if mode == "lexical":
            ranked = sorted(lexical.items(), key=lambda item: (-item[1], item[0]))
            return [(pid, FusedScore(score, None, score)) for pid, score in ranked]
        vector = embed().astype(float).tolist()
        dense = dict(self._query(vector, "dense", parsed, filters, depth))
        if mode == "dense":
            ranked = sorted(dense.items(), key=lambda item: (-item[1], item[0]))
            return [(pid, FusedScore(None, score, score)) for pid, score in ranked]
        fused = self._query(
            models.FusionQuery(fusion=models.Fusion.DBSF),
            None,
            parsed,
            filters,
            depth,
            prefetch=[
                models.Prefetch(
                    query=sparse, using="bm25", limit=depth, filter=self._filter(parsed, filters)
                ),
                models.Prefetch(
                    query=vector, using="dense", limit=depth, filter=self._filter(parsed, filters)
                ),
            ],
        )
        return [(pid, FusedScore(lexical.get(pid), dense.get(pid), score)) for pid, score in fused]

    def _newest(self, parsed: ParsedQuery, filters: SearchFilters, limit: int) -> list[int]:
        """Filter-only queries: newest first (by publication day, then id)."""
        found: list[tuple[int, int]] = []
        offset = None
        while True:
            points, offset = self.client.scroll(
                self.alias,
                scroll_filter=self._filter(parsed, filters),
                limit=1000,
                offset=offset,
                with_payload=["day", "text"] if parsed.phrases else ["day"],
            )
            found += [
                (int((p.payload or {}).get("day") or 0), int(p.id))
                for p in points
                if self._phrase_ok(parsed, p.payload)
            ]
            if offset is None:
                break
        found.sort(reverse=True)
        return [pid for _, pid in found[:limit]]

    def exact_title(self, text: str) -> list[int]:
        models = _models()
        key = title_key(text)
        if not key or self._current() is None:
            return []
        condition = models.Filter(
            must=[models.FieldCondition(key="title_key", match=models.MatchValue(value=key))]
        )
        points, _ = self.client.scroll(self.alias, scroll_filter=condition, limit=5, with_payload=False)
        return sorted(int(p.id) for p in points)

    def passing(self, parsed: ParsedQuery, paper_ids: Sequence[int], filters: SearchFilters) -> set[int]:
        if not paper_ids or self._current() is None:
            return set()
        points, _ = self.client.scroll(
            self.alias,
            scroll_filter=self._filter(parsed, filters, paper_ids),
            limit=len(paper_ids),
            with_payload=["text"] if parsed.phrases else False,
        )
        return {int(p.id) for p in points if self._phrase_ok(parsed, p.payload)}

    def similar(self, paper_id: int, k: int) -> list[tuple[int, float]]:
        if self._current() is None:
            return []
        found = self.client.retrieve(self.alias, [paper_id], with_vectors=["dense"], with_payload=False)
        if not found or not found[0].vector:
            return []
        vector = found[0].vector["dense"] if isinstance(found[0].vector, dict) else found[0].vector
        result = self.client.query_points(
            self.alias, query=vector, using="dense", limit=k + 1, with_payload=False
        )
        return [(int(p.id), float(p.score)) for p in result.points if int(p.id) != paper_id][:k]

    def close(self) -> None:
        self.client.close()
