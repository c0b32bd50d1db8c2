"""The daily list (day, week, month) and trending pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from paperboy.clock import utcnow
from paperboy.community.votes import voted_paper_ids
from paperboy.feed.daily import FeedItem, Sort, latest_date, neighbour_dates, period_items, site_trending
from paperboy.feed.periods import Period, PeriodError, parse_period
from paperboy.feed.trending import formula_text
from paperboy.web.context import current_viewer, render, web
from paperboy.web.deps import AppSettings, ReadSession

router = APIRouter(include_in_schema=False)


def _voted(request: Request, items: list[FeedItem]) -> set[int]:
    viewer = current_viewer(request)
    if viewer is None:
        return set()
    with web(request).sessions() as session:
        return voted_paper_ids(session, viewer.id, [item.paper.id for item in items])


def _period_page(request: Request, period: Period, sort: str, with_code: bool = False) -> HTMLResponse:
    shared = web(request)
    with shared.sessions() as session:
        chosen: Sort = "trending" if sort == "trending" else "upvotes"
        items = period_items(
            session,
            period,
            chosen,
            gravity=shared.settings.trending_gravity,
            with_code=with_code,
            code_boost=shared.settings.trending_code_boost,
        )
        before, after = neighbour_dates(session, period)
    today = utcnow().date()
    if period.kind == "day":
        # Days step to the nearest day with papers, not one calendar day at a time.
        previous = Period.day(before) if before else None
        following = Period.day(after) if after else None
    else:
        previous, following = period.shifted(-1), period.shifted(1)
        if following.start > today:
            following = None
    return render(
        request,
        "daily.html",
        {
            "items": items,
            "period": period,
            "previous": previous,
            "following": following,
            "views": {
                "day": Period.day(period.start),
                "week": Period.week_of(period.start),
                "month": Period.month_of(period.start),
            },
            "sort": chosen,
            "with_code": with_code,
            "is_today": period.start <= today <= period.end,
            "today": today,
            "voted": _voted(request, items),
            "page_title": f"Daily papers — {period.label}",
        },
    )


def _check_linkable(period: Period) -> None:
    """The page links the periods around this one: at the ends of the calendar (years 1 and 9999) they
    do not exist, and the page is a 400 naming the parameter instead of a 500."""
    try:
        period.shifted(-1), period.shifted(1), Period.week_of(period.start), Period.month_of(period.start)
    except (OverflowError, ValueError):
        raise PeriodError(
            period.parameter, f"{period.parameter} {period.key} is out of range (years 1 to 9999)"
        ) from None


@router.get("/", response_class=HTMLResponse)
def read_home(request: Request, session: ReadSession) -> HTMLResponse:
    """Today's list: the newest day that has entries."""
    newest = latest_date(session)
    return _period_page(request, Period.day(newest or utcnow().date()), "upvotes")


@router.get("/papers", response_model=None)
def read_period(
    request: Request,
    date_: Annotated[str | None, Query(alias="date", max_length=20)] = None,
    week: Annotated[str | None, Query(max_length=20)] = None,
    month: Annotated[str | None, Query(max_length=20)] = None,
    sort: Annotated[str, Query(pattern="^(upvotes|trending)$")] = "upvotes",
    has: Annotated[str, Query(pattern="^(code)?$")] = "",
) -> HTMLResponse | RedirectResponse:
    try:
        period = parse_period(date_, week, month)
        if period is not None:
            _check_linkable(period)
    except PeriodError as exc:
        return render(request, "error.html", {"title": "Not a valid date", "message": str(exc)}, 400)
    if period is None:
        return RedirectResponse("/", status_code=303)
    return _period_page(request, period, sort, with_code=has == "code")


@router.get("/trending", response_class=HTMLResponse)
def read_trending(request: Request, session: ReadSession, settings: AppSettings) -> HTMLResponse:
    items = site_trending(session, settings, limit=50)
    return render(
        request,
        "trending.html",
        {
            "items": items,
            "voted": _voted(request, items),
            "formula": formula_text(settings.trending_gravity),
            "days": settings.trending_days,
            "page_title": "Trending papers",
        },
    )
