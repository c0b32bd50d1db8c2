"""Code repositories of papers as pages and the API show them: each repository a paper's text names, with
the stars and last push `paperboy enrich github` found (when it ran)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, String, and_, cast, select
from sqlalchemy.orm import Session

from paperboy.db.models import Paper, Repository

_IN_CHUNK = 500


@dataclass(frozen=True)
class CodeLink:
    url: str
    stars: int | None = None
    pushed_at: datetime | None = None

    @property
    def label(self) -> str:
        """github.com/owner/name, as the link reads."""
        return self.url.split("://", 1)[-1]

    @property
    def host(self) -> str:
        return self.label.split("/", 1)[0]


def has_code() -> ColumnElement[bool]:
    """The condition "the paper names a code repository" (its stored list is not empty)."""
    return and_(Paper.code_urls.is_not(None), cast(Paper.code_urls, String) != "[]")


def repository_stats(session: Session, urls: Iterable[str]) -> dict[str, Repository]:
    wanted = list(dict.fromkeys(urls))
    found: dict[str, Repository] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        chunk = wanted[start : start + _IN_CHUNK]
        found.update({r.url: r for r in session.scalars(select(Repository).where(Repository.url.in_(chunk)))})
    return found


def code_links(session: Session, papers: Sequence[Paper]) -> dict[int, tuple[CodeLink, ...]]:
    """Each paper's repositories, in the order its text names them (stars where known)."""
    stats = repository_stats(session, (url for paper in papers for url in paper.code_urls or ()))
    return {
        paper.id: tuple(
            CodeLink(
                url,
                stats[url].stars if url in stats else None,
                stats[url].pushed_at if url in stats else None,
            )
            for url in paper.code_urls or ()
        )
        for paper in papers
    }


def repositories_to_check(session: Session, host: str, stale_before: datetime, limit: int) -> list[str]:
    """Up to `limit` repositories on `host` that papers name and that were never checked, or not since
    `stale_before` (never checked first; one pass over the papers that have code)."""
    prefix = f"https://{host}/"
    named: dict[str, None] = {}
    after = 0
    while True:
        query = select(Paper.id, Paper.code_urls).where(has_code(), Paper.id > after).order_by(Paper.id)
        rows = session.execute(query.limit(2000)).all()
        if not rows:
            break
        for row in rows:
            for url in row.code_urls or ():
                if url.startswith(prefix):
                    named.setdefault(url, None)
        after = rows[-1].id
    known = repository_stats(session, named)
    never = [url for url in named if url not in known]
    stale = sorted(
        (url for url, repo in known.items() if repo.checked_at is None or repo.checked_at < stale_before),
        key=lambda url: known[url].checked_at or datetime.min,
    )
    return (never + stale)[:limit]


def record_repository(
    session: Session,
    url: str,
    status: str,
    checked_at: datetime,
    stars: int | None,
    pushed_at: datetime | None,
) -> None:
    """Store what the host said of a repository (kept from an earlier check when it says nothing new)."""
    repo = session.get(Repository, url)
    if repo is None:
        repo = Repository(url=url)
        session.add(repo)
    repo.status, repo.checked_at = status, checked_at
    if status == "ok":
        repo.stars, repo.pushed_at = stars, pushed_at
