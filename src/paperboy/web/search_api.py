"""`GET /api/papers/search` (Hugging Face-style paper objects) and `GET /api/index/status`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from paperboy.search.backend import Mode
from paperboy.search.lexical import EXACT_COUNT_UP_TO
from paperboy.search.query import QueryError, SearchFilters
from paperboy.search.service import Hit, SearchRequest, SearchService
from paperboy.web.hf_json import iso_millis, paper_json
from paperboy.web.openapi import errors


def hit_json(hit: Hit) -> dict[str, Any]:
    """One result: a Hugging Face-shaped `paper` object plus the scores that explain its rank."""
    paper = hit.paper
    return {
        "paper": {**paper_json(paper, hit.totals), "categories": list(paper.categories)},
        "title": paper.title,
        "publishedAt": iso_millis(paper.published_at),
        "numComments": hit.totals.comments,
        "score": hit.score,
        "explain": {"bm25": hit.lexical, "vector": hit.dense, "fused": hit.fused, "match": hit.match},
    }


class IndexStatusOut(BaseModel):
    """How much of the library the search index covers."""

    papers: int = Field(description="Papers in the library (withdrawn ones left out).")
    lexical: int = Field(description="Papers in the keyword (BM25) index.")
    embedded: int = Field(description="Papers with a vector in the index (meaning search).")
    queued: int = Field(description="Papers waiting for their vector.")
    keyword_queued: int = Field(description="Papers waiting to enter the keyword index (seconds of work).")
    state: str = Field(description="empty, missing (being built), indexing, embedding or ready.")
    semantic_complete: bool = Field(description="Whether meaning search covers every paper.")
    embedding_rate: float | None = Field(description="Papers embedded per second by the last indexer run.")
    seconds_left: int | None = Field(description="Estimated seconds until every paper has a vector.")
    indexer_active: bool = Field(description="Whether an indexer reported in the last five minutes.")
    backend: str = Field(description="The search backend: embedded or qdrant.")


def search_router(service: Callable[[], SearchService]) -> APIRouter:
    router = APIRouter(tags=["papers"])

    @router.get(
        "/api/papers/search",
        summary="Search papers",
        responses=errors(400, 503),
        response_description="Hits, best first. Headers: X-Search-Total (papers that match), "
        "X-Search-Total-Estimated (true when that is an estimate: more than "
        f"{EXACT_COUNT_UP_TO:,} matches are not counted one by one), X-Search-Corrected-Query (the query searched when misspelled words were corrected, percent-encoded "
        "UTF-8), X-Search-Took-Ms.",
    )
    def read_search(
        q: Annotated[
            str, Query(description='Search text: words, "phrases", author:, cat:, has:code, or an arXiv id')
        ],
        limit: Annotated[int, Query(ge=1, le=100)] = 10,
        page: Annotated[int, Query(ge=1, le=100)] = 1,
        mode: Annotated[Mode, Query()] = "hybrid",
        date_from: Annotated[date | None, Query(alias="from")] = None,
        date_to: Annotated[date | None, Query(alias="to")] = None,
        cat: Annotated[list[str] | None, Query()] = None,
        has: Annotated[
            Literal["code"] | None, Query(description="code: only papers that name a code repository.")
        ] = None,
        correct: Annotated[
            bool, Query(description="Correct misspelled words (false: search as typed).")
        ] = True,
        related: Annotated[
            bool, Query(description="For an arXiv id: also list related papers after it (else it alone).")
        ] = False,
    ) -> JSONResponse:
        filters = SearchFilters(date_from, date_to, tuple(cat or ()), (has,) if has else ())
        request = SearchRequest(
            q, k=limit, page=page, mode=mode, filters=filters, correct=correct, related=related, count=True
        )
        try:
            result = service().search(request)
        except QueryError as exc:
            return JSONResponse({"error": str(exc), "parameter": "q"}, status_code=400)
        if result.index_unavailable:
            return JSONResponse(
                {"error": "the search index is being rebuilt; try again in a minute"},
                status_code=503,
                headers={"Retry-After": "30"},
            )
        headers = {"X-Search-Took-Ms": f"{result.took_ms:.2f}", "X-Search-Total": str(result.total)}
        if result.total_estimated:
            headers["X-Search-Total-Estimated"] = "true"
        if result.correction:
            headers["X-Search-Corrected-Query"] = quote(result.correction.text, safe=" ")
        return JSONResponse([hit_json(hit) for hit in result.hits], headers=headers)

    @router.get(
        "/api/index/status",
        tags=["meta"],
        summary="How much of the library search covers",
        responses=errors(),
    )
    def read_index_status() -> IndexStatusOut:
        return IndexStatusOut(**service().status().as_json())

    return router
