"""The Qdrant backend: one collection with a sparse BM25 vector and, once computed, a dense vector per
paper.

The sparse vector holds Paperboy's own analysis (search/terms.py): each stem, and each exact word
(prefixed "="), hashed to a 31-bit index and weighted by BM25's saturated term frequency; the
collection's IDF modifier supplies the inverse document frequency at query time, and the query weighs
exact words by the same boost as the embedded index. A paper's point is written at keyword-indexing time
with its sparse vector only; the dense vector is added when the background embedding reaches it. The
backend returns candidates from both vectors, each cross-scored on the other through an id filter, and
the search service fuses them as for every backend. Filters are payload conditions; the exact words are
a keyword payload too (for "holds every word" and word counts).

A local path runs qdrant-client's local mode in-process (tests, small installs); an http(s) URL talks to
a Qdrant server or cluster. Rebuilds fill a new collection and move the alias atomically.
"""

from __future__ import annotations

import json
import os
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from threading import RLock
from typing import Any, cast

from paperboy.db.repositories.search_docs import PaperContent
from paperboy.locks import exclusive_lock
from paperboy.search.backend import FILTERED_DENSE_OVERSAMPLE, IndexBusy, IndexCounts, Mode, Vector
from paperboy.search.fusion import Candidates
from paperboy.search.qdrant_sparse import bm25_query_vector, contains_phrase, qdrant_models, stems_in_order
from paperboy.search.qdrant_writer import QdrantWriter
from paperboy.search.query import ParsedQuery, SearchFilters, day_number, tags_of, title_key
from paperboy.search.terms import exact_words, indexed_text, word_variants
from paperboy.search.vocabulary import Vocabulary
from paperboy.tex import tex_to_words

ALIAS = "papers"
ORIGINS = "qdrant-origins.json"
ALIAS_REFRESH_SECONDS = 1.0
_SCROLL_PAGE = 1000


class _Serialized:
    """A client whose calls run one at a time (qdrant-client's local mode is not thread-safe)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._lock = RLock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return call


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
            # Local mode keeps the collection in numpy arrays that a write may resize under a concurrent
            # read (the server's indexer thread beside its request threads): one call at a time.
            self.client = cast(QdrantClient, _Serialized(QdrantClient(path=location)))
        else:
            self.client = QdrantClient(url=location)

    # --- collections -------------------------------------------------------------------------
    def payload(self, paper: PaperContent) -> dict[str, Any]:
        text = indexed_text(paper.title, paper.abstract)
        return {
            "arxiv_id": paper.arxiv_id,
            "title_key": title_key(paper.title),
            "day": day_number(paper.published_at.date()) if paper.published_at else None,
            "categories": [c.lower() for c in paper.categories],
            "tags": list(tags_of(paper)),
            "author_tokens": sorted({t for name in paper.authors for t in exact_words(name)}),
            "authors": list(paper.authors),
            "words": sorted(set(exact_words(text))),
            "title_words": sorted(set(exact_words(tex_to_words(paper.title)))),
            "title": tex_to_words(paper.title),
            "text": text,
        }

    def _create(self, name: str) -> None:
        models = qdrant_models()
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
                ("tags", models.PayloadSchemaType.KEYWORD),
                ("author_tokens", models.PayloadSchemaType.KEYWORD),
                ("title_key", models.PayloadSchemaType.KEYWORD),
                ("words", models.PayloadSchemaType.KEYWORD),
                ("title_words", models.PayloadSchemaType.KEYWORD),
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
        models = qdrant_models()
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

    def collection_counts(self, collection: str) -> IndexCounts:
        models = qdrant_models()
        with_vector = models.Filter(must=[models.HasVectorCondition(has_vector="dense")])
        return IndexCounts(
            int(self.client.count(collection, exact=True).count),
            int(self.client.count(collection, count_filter=with_vector, exact=True).count),
        )

    def vocabulary_of(self, collection: str) -> Vocabulary:
        return Vocabulary(self.home / "qdrant-vocabulary" / collection)

    # --- writing -------------------------------------------------------------------------------
    def lock(self) -> AbstractContextManager[None]:
        """One indexer per data dir. (Several machines indexing one cluster need one scheduler.)"""
        return exclusive_lock(
            self.home / "qdrant-indexer.lock",
            lambda: IndexBusy(f"another `paperboy index` is running on {self.home}"),
        )

    def exists(self) -> bool:
        return self._current() is not None

    def counts(self) -> IndexCounts:
        current = self._current()
        return self.collection_counts(current) if current else IndexCounts(0, 0)

    # Which database each collection was made from, kept beside the data dir (collections carry no notes).
    def _origins(self) -> dict[str, str]:
        try:
            loaded = json.loads((self.home / ORIGINS).read_text())
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}

    def _remember_origin(self, collection: str, database: str | None) -> None:
        origins = {k: v for k, v in self._origins().items() if self.client.collection_exists(k)}
        if database is not None:
            origins[collection] = database
        self.home.mkdir(parents=True, exist_ok=True)
        temporary = self.home / f"{ORIGINS}.tmp"
        temporary.write_text(json.dumps(origins))
        os.replace(temporary, self.home / ORIGINS)

    def database(self) -> str | None:
        current = self._current()
        return self._origins().get(current) if current else None

    def writer(self, database: str | None = None) -> QdrantWriter:
        current = self._current()
        if current is None:
            current = self._new_collection()
            self._remember_origin(current, database)
            self._point_alias(current)
        return QdrantWriter(self, current)

    @contextmanager
    def rebuild(self, database: str | None = None) -> Iterator[QdrantWriter]:
        previous = self._current()
        fresh = self._new_collection()
        try:
            yield QdrantWriter(self, fresh)
        except BaseException:
            self.client.delete_collection(fresh)
            raise
        self._remember_origin(fresh, database)
        self._point_alias(fresh)
        if previous is not None:
            self.client.delete_collection(previous)

    def discard(self) -> None:
        current = self._current()
        if current is not None:
            models = qdrant_models()
            self.client.update_collection_aliases(
                change_aliases_operations=[
                    models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=self.alias))
                ]
            )
            self.client.delete_collection(current)
            self._alias_checked = 0.0

    def remove_orphans(self) -> list[str]:
        """Collections of this alias's prefix that the alias does not point at (killed rebuilds)."""
        current = self._current()
        removed = []
        for collection in self.client.get_collections().collections:
            name = str(collection.name)
            if name.startswith(f"{self.alias}-") and name != current:
                self.client.delete_collection(name)
                removed.append(name)
        return removed

    # --- reading -------------------------------------------------------------------------------
    def _filter(self, parsed: ParsedQuery, filters: SearchFilters, ids: Sequence[int] = ()) -> Any:
        models = qdrant_models()
        must: list[Any] = []
        categories = [c.lower() for c in (*parsed.categories, *filters.categories)]
        if categories:
            must.append(models.FieldCondition(key="categories", match=models.MatchAny(any=categories)))
        for tag in (*parsed.tags, *filters.tags):
            must.append(models.FieldCondition(key="tags", match=models.MatchValue(value=tag)))
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
            for token in exact_words(name):
                must.append(models.FieldCondition(key="author_tokens", match=models.MatchValue(value=token)))
        if ids:
            must.append(models.HasIdCondition(has_id=list(ids)))
        return models.Filter(must=must) if must else None

    def _phrase_ok(self, parsed: ParsedQuery, payload: dict[str, Any] | None) -> bool:
        """Phrases are checked on the stored text: stems in a row, as the embedded index matches them."""
        if not parsed.phrases:
            return True
        stems = stems_in_order(str((payload or {}).get("text", "")))
        return all(contains_phrase(stems, stems_in_order(phrase)) for phrase in parsed.phrases)

    def _query(
        self,
        query: Any,
        using: str,
        parsed: ParsedQuery,
        filters: SearchFilters,
        limit: int,
        ids: Sequence[int] = (),
    ) -> dict[int, float]:
        need_text = bool(parsed.phrases)
        result = self.client.query_points(
            self.alias,
            query=query,
            using=using,
            query_filter=self._filter(parsed, filters, ids),
            limit=limit * FILTERED_DENSE_OVERSAMPLE if need_text and not ids else limit,
            with_payload=["text"] if need_text else False,
        )
        hits = [(int(p.id), float(p.score)) for p in result.points if self._phrase_ok(parsed, p.payload)]
        return dict(hits[:limit])

    def _matches(self, parsed: ParsedQuery, filters: SearchFilters) -> int:
        """Papers holding an exact word of the query (the payload's words; stems are not payload)."""
        models = qdrant_models()
        words = [w for text in parsed.words for w in exact_words(text)]
        if not words:
            return 0
        condition = models.FieldCondition(key="words", match=models.MatchAny(any=words))
        base = self._filter(parsed, filters)
        must = [*(base.must if base else []), condition]
        return int(self.client.count(self.alias, count_filter=models.Filter(must=must), exact=True).count)

    def candidates(
        self,
        parsed: ParsedQuery,
        mode: Mode,
        filters: SearchFilters,
        depth: int,
        embed: Callable[[], Vector],
        count: bool = False,
    ) -> Candidates:
        models = qdrant_models()
        if self._current() is None or not parsed.has_terms:
            return Candidates()
        indices, values = bm25_query_vector(parsed)
        sparse = models.SparseVector(indices=indices, values=values)
        lexical = self._query(sparse, "bm25", parsed, filters, depth) if mode != "dense" else {}
        dense: dict[int, float] = {}
        if mode != "lexical":
            vector = embed().astype(float).tolist()
            dense = self._query(vector, "dense", parsed, filters, depth)
            if mode == "hybrid":
                unscored = [pid for pid in dense if pid not in lexical]
                if unscored:
                    lexical.update(self._query(sparse, "bm25", parsed, filters, len(unscored), unscored))
                unembedded = [pid for pid in lexical if pid not in dense]
                if unembedded:  # papers without a vector yet are simply not returned
                    dense.update(self._query(vector, "dense", parsed, filters, len(unembedded), unembedded))
        matches = self._matches(parsed, filters) if count else len(lexical)
        return Candidates(lexical, dense, matches)

    def covering(
        self, groups: Sequence[tuple[str, ...]], paper_ids: Sequence[int], in_title: bool = False
    ) -> set[int]:
        """Single words through the `words` (or `title_words`) payload; compounds as stems in a row of the
        stored text (or title)."""
        models = qdrant_models()
        if not groups or not paper_ids or self._current() is None:
            return set()
        key = "title_words" if in_title else "words"
        must: list[Any] = [models.HasIdCondition(has_id=list(paper_ids))]
        must += [
            models.FieldCondition(key=key, match=models.MatchAny(any=list(word_variants(word))))
            for group in groups
            for word in group
        ]
        compounds = [stems_in_order(" ".join(group)) for group in groups if len(group) > 1]
        stored = "title" if in_title else "text"
        points, _ = self.client.scroll(
            self.alias,
            scroll_filter=models.Filter(must=must),
            limit=len(paper_ids),
            with_payload=[stored] if compounds else False,
        )
        if not compounds:
            return {int(p.id) for p in points}
        return {
            int(p.id)
            for p in points
            if all(
                contains_phrase(stems_in_order(str((p.payload or {}).get(stored, ""))), c) for c in compounds
            )
        }

    def newest(self, parsed: ParsedQuery, filters: SearchFilters, depth: int) -> list[int]:
        """Filter-only queries: newest first (by publication day, then id)."""
        if self._current() is None:
            return []
        found: list[tuple[int, int]] = []
        offset = None
        while True:
            points, offset = self.client.scroll(
                self.alias,
                scroll_filter=self._filter(parsed, filters),
                limit=_SCROLL_PAGE,
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
        return [pid for _, pid in found[:depth]]

    def exact_title(self, text: str) -> list[int]:
        models = qdrant_models()
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

    def similar(self, paper_id: int, k: int) -> list[tuple[int, float]] | None:
        if self._current() is None:
            return None
        found = self.client.retrieve(self.alias, [paper_id], with_vectors=["dense"], with_payload=False)
        stored: Any = found[0].vector if found else None
        vector = stored.get("dense") if isinstance(stored, dict) else stored
        if not vector:
            return None
        result = self.client.query_points(
            self.alias, query=vector, using="dense", limit=k + 1, with_payload=False
        )
        return [(int(p.id), float(p.score)) for p in result.points if int(p.id) != paper_id][:k]

    def word_counts(self, words: Sequence[str]) -> dict[str, int]:
        models = qdrant_models()
        if self._current() is None:
            return dict.fromkeys(words, 0)
        counts = {}
        for word in words:
            condition = models.FieldCondition(
                key="words", match=models.MatchAny(any=list(word_variants(word)))
            )
            counts[word] = int(
                self.client.count(self.alias, count_filter=models.Filter(must=[condition]), exact=True).count
            )
        return counts

    def together(self, word: str, others: Sequence[str]) -> int:
        models = qdrant_models()
        if self._current() is None or not others:
            return 0
        holding = models.FieldCondition(key="words", match=models.MatchAny(any=list(word_variants(word))))
        forms = [form for other in others for form in word_variants(other)]
        either = models.FieldCondition(key="words", match=models.MatchAny(any=forms))
        condition = models.Filter(must=[holding, either])
        return int(self.client.count(self.alias, count_filter=condition, exact=True).count)

    def vocabulary(self) -> Vocabulary | None:
        current = self._current()
        return self.vocabulary_of(current) if current else None

    def close(self) -> None:
        self.client.close()
