"""Builds the search components from settings, so web, CLI and digests configure them one way."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from paperboy.config import Settings
from paperboy.search.embedder import Embedder, EmbedderUnavailable, MiniLmOnnxEmbedder
from paperboy.search.fusion import FusionParams
from paperboy.search.indexer import Indexer
from paperboy.search.service import SearchService

EMBEDDERS = ("minilm-int8",)


def make_embedder(settings: Settings) -> Embedder:
    """The configured embedder; EmbedderUnavailable says what to install when its files are missing."""
    if settings.embedder not in EMBEDDERS:
        raise EmbedderUnavailable(
            f"PAPERBOY_EMBEDDER: unknown model {settings.embedder!r} (known: {', '.join(EMBEDDERS)})"
        )
    return MiniLmOnnxEmbedder(
        threads=settings.embed_threads or None,
        batch_size=settings.embed_batch_size,
        max_chunks=settings.embed_max_chunks,
    )


def fusion_params(settings: Settings) -> FusionParams:
    return FusionParams(
        alpha=settings.search_alpha,
        normalization="minmax" if settings.search_normalization == "minmax" else "zscore",
        candidates=settings.search_candidates,
    )


def make_search_service(
    settings: Settings, sessions: sessionmaker[Session], embedder: Embedder
) -> SearchService:
    return SearchService(sessions, settings.home, embedder, fusion_params(settings))


def make_indexer(settings: Settings, sessions: sessionmaker[Session], embedder: Embedder) -> Indexer:
    return Indexer(sessions, settings.home, embedder, settings.index_batch_size, settings.index_flush_every)
