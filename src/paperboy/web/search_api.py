"""`GET /api/papers/search`: the search service over HTTP (Hugging Face-style paper objects)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from paperboy.search.backend import Mode
from paperboy.search.query import QueryError, SearchFilters
from paperboy.search.service import Hit, SearchRequest, SearchService


def _iso(value: Any) -> str | None:
    return value.isoformat() + "Z" if value is not None else None


def hit_json(hit: Hit) -> dict[str, Any]:
    """One result: a Hugging Face-shaped `paper` object plus the scores that explain its rank."""
    paper = hit.paper
    return {
        "paper": {
            "id": paper.arxiv_id,
            "title": paper.title,
            "summary": paper.abstract,
            "authors": [{"name": name} for name in paper.authors],
            "publishedAt": _iso(paper.published_at),
            "categories": list(paper.categories),
        },
        "title": paper.title,
        "publishedAt": _iso(paper.published_at),
        "score": hit.score,
        "explain": {"bm25": hit.lexical, "vector": hit.dense, "fused": hit.fused, "match": hit.match},
    }


def search_router(service: Callable[[], SearchService]) -> APIRouter:
    router = APIRouter(tags=["papers"])

    @router.get("/api/papers/search")
    def read_search(
        q: Annotated[str, Query(description='Search text: words, "phrases", author:, cat:')],
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
        page: Annotated[int, Query(ge=1, le=100)] = 1,
        mode: Annotated[Mode, Query()] = "hybrid",
        date_from: Annotated[date | None, Query(alias="from")] = None,
        date_to: Annotated[date | None, Query(alias="to")] = None,
        cat: Annotated[list[str] | None, Query()] = None,
    ) -> JSONResponse:
        filters = SearchFilters(date_from, date_to, tuple(cat or ()))
        try:
            result = service().search(SearchRequest(q, k=limit, page=page, mode=mode, filters=filters))
        except QueryError as exc:
            return JSONResponse({"error": str(exc), "parameter": "q"}, status_code=400)
        return JSONResponse(
            [hit_json(hit) for hit in result.hits], headers={"X-Search-Took-Ms": f"{result.took_ms:.2f}"}
        )

    return router
