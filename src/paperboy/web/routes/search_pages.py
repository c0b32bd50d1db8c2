"""The search page: hybrid results with the query's words highlighted, date and category filters."""

from __future__ import annotations

import logging
import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperboy.feed.periods import PeriodError, parse_day
from paperboy.links import paper_path
from paperboy.search.backend import Mode
from paperboy.search.query import TAGS, QueryError, SearchFilters
from paperboy.search.service import MODES, SearchRequest, SearchResult
from paperboy.search.terms import query_stems
from paperboy.web.context import render
from paperboy.web.deps import Shared

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)
PER_PAGE = 20
_CATEGORY = re.compile(r"^[A-Za-z][A-Za-z.\-]{0,31}$")


def parse_categories(text: str) -> tuple[str, ...]:
    """'cs.LG, stat.ML' → ('cs.LG', 'stat.ML'); QueryError names a malformed one."""
    found = [part for part in re.split(r"[\s,]+", text.strip()) if part]
    for part in found:
        if not _CATEGORY.match(part):
            raise QueryError(f"{part!r} is not an arXiv category (like cs.LG or astro-ph.GA)")
    return tuple(dict.fromkeys(found))


def _filters(date_from: str, date_to: str, categories: str, has: str = "") -> SearchFilters:
    try:
        start = parse_day(date_from, "from") if date_from.strip() else None
        end = parse_day(date_to, "to") if date_to.strip() else None
    except PeriodError as exc:
        raise QueryError(str(exc)) from None
    if has and has not in TAGS:
        raise QueryError(f"has={has} is not a filter: it takes {', '.join(TAGS)}")
    return SearchFilters(start, end, parse_categories(categories), (has,) if has else ())


@router.get("/search", response_class=HTMLResponse, response_model=None)
def read_search(
    request: Request,
    shared: Shared,
    q: Annotated[str, Query(max_length=5000)] = "",
    mode: Annotated[str, Query(max_length=20)] = "hybrid",
    date_from: Annotated[str, Query(alias="from", max_length=20)] = "",
    date_to: Annotated[str, Query(alias="to", max_length=20)] = "",
    cat: Annotated[str, Query(max_length=500)] = "",
    has: Annotated[str, Query(max_length=20)] = "",
    page: Annotated[int, Query(ge=1, le=100)] = 1,
    correct: Annotated[str, Query(max_length=5)] = "1",
) -> Response:
    context: dict[str, object] = {
        "q": q,
        "mode": mode if mode in MODES else "hybrid",
        "date_from": date_from,
        "date_to": date_to,
        "cat": cat,
        "has": has,
        "page": page,
        "result": None,
        "error": None,
        "stems": frozenset(),
        "status": None,
        "page_title": f"{q} — search" if q else "Search",
    }
    service = shared.search()
    if not q.strip():
        context["status"] = service.status()
        return render(request, "search.html", context)
    try:
        chosen: Mode = mode if mode in MODES else "hybrid"  # type: ignore[assignment,unused-ignore]
        search_request = SearchRequest(
            q,
            k=PER_PAGE,
            page=page,
            mode=chosen,
            filters=_filters(date_from, date_to, cat, has),
            correct=correct != "0",
            count=True,
        )
        result: SearchResult = service.search(search_request)
    except QueryError as exc:
        context["error"] = str(exc)
        return render(request, "search.html", context, 400)
    if result.exact_id and len(result.hits) == 1 and not search_request.filters.active:
        return RedirectResponse(paper_path(result.exact_id), status_code=303)
    context.update(result=result, stems=query_stems(result.searched_for), status=service.status())
    return render(request, "search.html", context)
