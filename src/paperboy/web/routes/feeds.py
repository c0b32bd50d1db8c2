"""RSS 2.0 and Atom feeds of the daily list, trending papers and any search query."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Annotated, Literal
from urllib.parse import urlencode
from xml.etree.ElementTree import Element, SubElement, tostring

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from paperboy.clock import utcnow
from paperboy.db.repositories.community import Totals
from paperboy.feed.daily import FeedItem, latest_date, period_items, site_trending
from paperboy.feed.periods import Period, PeriodError, parse_period
from paperboy.links import paper_path
from paperboy.search.query import QueryError
from paperboy.search.service import SearchRequest
from paperboy.web.context import ApiError, base_url
from paperboy.web.deps import Shared
from paperboy.web.openapi import FEED_RESPONSES

router = APIRouter(prefix="/feeds", tags=["feeds"])
Format = Literal["rss", "atom"]
ATOM_NS = "http://www.w3.org/2005/Atom"
MEDIA_TYPES = {"rss": "application/rss+xml; charset=utf-8", "atom": "application/atom+xml; charset=utf-8"}
# Characters XML 1.0 cannot hold even escaped (ElementTree writes them as they are, breaking the feed).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True)
class FeedEntry:
    arxiv_id: str
    title: str
    summary: str
    authors: Sequence[str]
    updated: datetime


def _summary(abstract: str, totals: Totals) -> str:
    return f"{abstract}\n\n{totals.describe()}"


def _entries_of(items: Sequence[FeedItem]) -> list[FeedEntry]:
    return [
        FeedEntry(
            i.paper.arxiv_id,
            i.paper.title,
            _summary(i.paper.abstract, i.totals),
            i.paper.authors,
            i.entry.submitted_at,
        )
        for i in items
    ]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC)


def _document(root: Element) -> bytes:
    for node in root.iter():
        if node.text:
            node.text = _NOT_XML.sub("", node.text)
        for name, value in list(node.attrib.items()):
            node.set(name, _NOT_XML.sub("", value))
    body: bytes = tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body


def render_feed(
    fmt: Format, title: str, self_url: str, site_url: str, base: str, entries: list[FeedEntry]
) -> bytes:
    """The feed document; ElementTree escapes every text, so paper text cannot break the XML."""
    updated = max((e.updated for e in entries), default=utcnow())
    if fmt == "rss":
        rss = Element("rss", {"version": "2.0", "xmlns:atom": ATOM_NS})
        channel = SubElement(rss, "channel")
        SubElement(channel, "title").text = title
        SubElement(channel, "link").text = site_url
        SubElement(channel, "description").text = f"{title} — Paperboy"
        SubElement(channel, "atom:link", {"href": self_url, "rel": "self", "type": "application/rss+xml"})
        SubElement(channel, "lastBuildDate").text = format_datetime(_utc(updated))
        for entry in entries:
            item = SubElement(channel, "item")
            link = f"{base}{paper_path(entry.arxiv_id)}"
            SubElement(item, "title").text = entry.title
            SubElement(item, "link").text = link
            SubElement(item, "guid", {"isPermaLink": "true"}).text = link
            SubElement(item, "description").text = entry.summary
            SubElement(item, "pubDate").text = format_datetime(_utc(entry.updated))
            if entry.authors:
                SubElement(item, "author").text = ", ".join(entry.authors)
        return _document(rss)
    feed = Element("feed", {"xmlns": ATOM_NS})
    SubElement(feed, "title").text = title
    SubElement(feed, "id").text = self_url
    SubElement(feed, "updated").text = _utc(updated).isoformat()
    SubElement(feed, "link", {"href": self_url, "rel": "self"})
    SubElement(feed, "link", {"href": site_url, "rel": "alternate"})
    for entry in entries:
        node = SubElement(feed, "entry")
        link = f"{base}{paper_path(entry.arxiv_id)}"
        SubElement(node, "title").text = entry.title
        SubElement(node, "id").text = link
        SubElement(node, "link", {"href": link})
        SubElement(node, "updated").text = _utc(entry.updated).isoformat()
        SubElement(node, "summary").text = entry.summary
        for name in entry.authors:
            SubElement(SubElement(node, "author"), "name").text = name
    return _document(feed)


def _response(
    request: Request, fmt: Format, title: str, site_path: str, entries: list[FeedEntry]
) -> Response:
    base = base_url(request)
    self_url = f"{base}{request.url.path}" + (f"?{request.url.query}" if request.url.query else "")
    body = render_feed(fmt, title, self_url, f"{base}{site_path}", base, entries)
    return Response(body, media_type=MEDIA_TYPES[fmt], headers={"Cache-Control": "public, max-age=300"})


@router.get(
    "/daily.{fmt}", summary="The daily list as a feed", response_class=Response, responses=FEED_RESPONSES
)
def daily_feed(
    request: Request,
    shared: Shared,
    fmt: Annotated[Format, Path(description="rss or atom")],
    date: Annotated[str | None, Query(max_length=20)] = None,
    week: Annotated[str | None, Query(max_length=20)] = None,
    month: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    try:
        period = parse_period(date, week, month)
    except PeriodError as exc:
        raise ApiError(400, str(exc), exc.parameter) from None
    with shared.sessions() as session:
        if period is None:
            newest = latest_date(session)
            period = Period.day(newest) if newest else None
        items = (
            period_items(session, period, "upvotes", gravity=shared.settings.trending_gravity)
            if period
            else []
        )
    entries = _entries_of(items)
    label = period.label if period else "no papers yet"
    site = f"/papers?{period.parameter}={period.key}" if period else "/"
    return _response(request, fmt, f"Daily papers — {label}", site, entries)


@router.get(
    "/trending.{fmt}", summary="Trending papers as a feed", response_class=Response, responses=FEED_RESPONSES
)
def trending_feed(
    request: Request, shared: Shared, fmt: Annotated[Format, Path(description="rss or atom")]
) -> Response:
    settings = shared.settings
    with shared.sessions() as session:
        items = site_trending(session, settings, limit=50)
    return _response(request, fmt, "Trending papers", "/trending", _entries_of(items))


@router.get(
    "/search.{fmt}", summary="Search results as a feed", response_class=Response, responses=FEED_RESPONSES
)
def search_feed(
    request: Request,
    shared: Shared,
    fmt: Annotated[Format, Path(description="rss or atom")],
    q: Annotated[str, Query(max_length=5000, description="The search query.")],
    limit: Annotated[int, Query(ge=1, le=100)] = 30,
) -> Response:
    try:
        result = shared.search().search(SearchRequest(q, k=limit))
    except QueryError as exc:
        raise ApiError(400, str(exc), "q") from None
    now = utcnow()
    entries = [
        FeedEntry(
            h.paper.arxiv_id,
            h.paper.title,
            _summary(h.paper.abstract, h.totals),
            h.paper.authors,
            h.paper.published_at or now,
        )
        for h in result.hits
    ]
    return _response(request, fmt, f"Search: {q}", "/search?" + urlencode({"q": q}), entries)
