"""Builds the search components from settings, so web, CLI and digests configure them one way."""

from __future__ import annotations

import atexit
from pathlib import Path
from threading import Lock

from sqlalchemy.orm import Session, sessionmaker

from paperboy.config import Settings
from paperboy.search.backend import SearchBackend
from paperboy.search.embedded import EmbeddedBackend
from paperboy.search.embedder import Embedder, EmbedderUnavailable, MiniLmOnnxEmbedder
from paperboy.search.fusion import FusionParams
from paperboy.search.indexer import Indexer
from paperboy.search.service import SearchService

EMBEDDERS = ("minilm-int8",)


def make_embedder(settings: Settings, query_threads: int = 2) -> Embedder:
    """The configured embedder; EmbedderUnavailable says what to install when its files are missing.
    `query_threads`: 2 answers one query fastest; 1 when several server processes share the cores."""
    if settings.embedder not in EMBEDDERS:
        raise EmbedderUnavailable(
            f"PAPERBOY_EMBEDDER: unknown model {settings.embedder!r} (known: {', '.join(EMBEDDERS)})"
        )
    return MiniLmOnnxEmbedder(
        threads=settings.embed_threads or None,
        batch_size=settings.embed_batch_size,
        max_chunks=settings.embed_max_chunks,
        quantize=settings.embed_quantize,
        cache_dir=settings.model_cache,
        query_threads=query_threads,
        device=settings.embed_device,
    )


def fusion_params(settings: Settings) -> FusionParams:
    return FusionParams(
        alpha=settings.search_alpha,
        normalization="minmax" if settings.search_normalization == "minmax" else "zscore",
        candidates=settings.search_candidates,
    )


_backends: dict[tuple[str, str, int], SearchBackend] = {}
_backends_lock = Lock()


def make_backend(settings: Settings, dim: int) -> SearchBackend:
    """The configured backend; one per location and process (Qdrant's local mode allows one client)."""
    if settings.search_backend == "qdrant":
        location = settings.qdrant_url or str(Path(settings.home) / "qdrant")
        key = ("qdrant", location, dim)
        with _backends_lock:
            if key not in _backends:
                from paperboy.search.qdrant import QdrantBackend

                if not _backends:
                    atexit.register(close_backends)
                _backends[key] = QdrantBackend(
                    location,
                    dim,
                    Path(settings.home),
                    shards=settings.qdrant_shards,
                    replicas=settings.qdrant_replicas,
                    collection_prefix=settings.qdrant_collection,
                )
            return _backends[key]
    return EmbeddedBackend(Path(settings.home), dim, fusion_params(settings))


def close_backends() -> None:
    """Close the shared backends (at exit: qdrant-client's local mode complains when left to the GC)."""
    with _backends_lock:
        for backend in _backends.values():
            backend.close()
        _backends.clear()


def make_search_service(
    settings: Settings, sessions: sessionmaker[Session], embedder: Embedder
) -> SearchService:
    backend = make_backend(settings, embedder.dim)
    return SearchService(sessions, backend, embedder, fusion_params(settings))


def make_indexer(settings: Settings, sessions: sessionmaker[Session], embedder: Embedder) -> Indexer:
    backend = make_backend(settings, embedder.dim)
    return Indexer(sessions, backend, embedder, settings.index_batch_size, settings.index_flush_every)
