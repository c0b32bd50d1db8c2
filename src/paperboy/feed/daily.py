"""Daily lists: entries of a day, week or month (or all of them), sorted by upvotes, date or trend."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from paperboy.config import Settings
from paperboy.db.models import DailyEntry, Paper
from paperboy.db.repositories.code import CodeLink, code_links, has_code
from paperboy.db.repositories.community import Totals, paper_totals, visible_entries, visible_entry
from paperboy.feed.periods import Period
from paperboy.feed.trending import active_code, trending_score

Sort = Literal["upvotes", "publishedAt", "trending"]
SORTS: tuple[Sort, ...] = ("upvotes", "publishedAt", "trending")


@dataclass(frozen=True)
class FeedItem:
    """A daily entry as lists show it: the paper, its total upvotes and comments, its trending score."""

    entry: DailyEntry
    paper: Paper
    totals: Totals
    score: float = 0.0
    code: tuple[CodeLink, ...] = ()
    """Its code repositories (with stars where known)."""

    @property
    def upvotes(self) -> int:
        return self.totals.upvotes

    @property
    def comments(self) -> int:
        return self.totals.comments


def _items(session: Session, entries: list[DailyEntry]) -> list[FeedItem]:
    totals = paper_totals(session, [e.paper_id for e in entries])
    code = code_links(session, [e.paper for e in entries])
    return [FeedItem(e, e.paper, totals[e.paper_id], code=code[e.paper_id]) for e in entries]


def _sort(items: list[FeedItem], sort: Sort, gravity: float, code_boost: float = 0.0) -> list[FeedItem]:
    """Stable multi-key sorts: ties fall back to the newest submission, then the arXiv id."""
    items.sort(key=lambda item: item.paper.arxiv_id)
    items.sort(key=lambda item: item.entry.submitted_at, reverse=True)
    if sort == "upvotes":
        items.sort(key=lambda item: item.upvotes, reverse=True)
    elif sort == "trending" and items:
        reference = max(item.entry.submitted_at for item in items)
        items = [
            replace(
                i,
                score=trending_score(i.upvotes, i.entry.submitted_at, reference, gravity)
                * (1 + code_boost if code_boost and active_code(i.code, reference) else 1),
            )
            for i in items
        ]
        items.sort(key=lambda item: item.score, reverse=True)
    return items


def period_items(
    session: Session,
    period: Period,
    sort: Sort = "upvotes",
    submitter: str | None = None,
    gravity: float = 1.5,
    with_code: bool = False,
    code_boost: float = 0.0,
) -> list[FeedItem]:
    """Visible entries of the period, sorted; one entry per paper (its first submission in the period);
    `with_code`: only papers that name a code repository."""
    query = visible_entries().where(DailyEntry.date >= period.start, DailyEntry.date <= period.end)
    if with_code:
        query = query.where(has_code())
    if submitter:
        query = query.where(func.lower(DailyEntry.submitter_name) == submitter.lower())
    entries = list(session.scalars(query.order_by(DailyEntry.date, DailyEntry.id)))
    first: dict[int, DailyEntry] = {}
    for entry in entries:
        first.setdefault(entry.paper_id, entry)
    return _sort(_items(session, list(first.values())), sort, gravity, code_boost)


def recent_items(session: Session, offset: int, limit: int, submitter: str | None = None) -> list[FeedItem]:
    """All visible entries, newest submission first, one page of them (for the API without a period)."""
    query = visible_entries()
    if submitter:
        query = query.where(func.lower(DailyEntry.submitter_name) == submitter.lower())
    query = query.order_by(DailyEntry.submitted_at.desc(), DailyEntry.id.desc()).offset(offset).limit(limit)
    return _items(session, list(session.scalars(query)))


def trending_items(
    session: Session,
    days: int,
    gravity: float,
    limit: int | None = None,
    submitter: str | None = None,
    code_boost: float = 0.0,
) -> list[FeedItem]:
    """The best-scoring papers of the `days` days up to the newest daily entry."""
    newest = latest_date(session)
    if newest is None:
        return []
    period = Period("day", newest - timedelta(days=days - 1), newest)
    return period_items(session, period, "trending", submitter, gravity, code_boost=code_boost)[:limit]


def site_trending(
    session: Session, settings: Settings, limit: int | None = None, submitter: str | None = None
) -> list[FeedItem]:
    """The trending list as the site configures it (window, gravity, code activity): what /trending, its
    feed, the API and digests show."""
    return trending_items(
        session,
        settings.trending_days,
        settings.trending_gravity,
        limit=limit,
        submitter=submitter,
        code_boost=settings.trending_code_boost,
    )


def latest_date(session: Session) -> date | None:
    """The newest date with a visible entry."""
    query = select(func.max(DailyEntry.date)).join(Paper, Paper.id == DailyEntry.paper_id)
    return session.scalar(query.where(visible_entry()))


def neighbour_dates(session: Session, period: Period) -> tuple[date | None, date | None]:
    """The nearest dates with entries before and after the period (to skip empty days when browsing)."""
    dates = (
        select(DailyEntry.date).join(Paper, Paper.id == DailyEntry.paper_id).where(visible_entry()).subquery()
    )
    before = session.scalar(select(func.max(dates.c.date)).where(dates.c.date < period.start))
    after = session.scalar(select(func.min(dates.c.date)).where(dates.c.date > period.end))
    return before, after
