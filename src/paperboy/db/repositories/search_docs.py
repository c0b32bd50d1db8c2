"""Reads the search indexer and search service need: paper content by id, and id ranges for rebuilds."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, bindparam, func, select, type_coerce
from sqlalchemy.orm import Session

from paperboy.db.models import Embedding, Paper

_IN_CHUNK = 500


@dataclass(frozen=True)
class PaperContent:
    """The fields of a paper that the search indexes hold."""

    paper_id: int
    arxiv_id: str
    title: str
    abstract: str
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    published_at: datetime | None
    withdrawn: bool
    code_urls: tuple[str, ...] = ()
    project_page: str | None = None

    @property
    def id(self) -> int:
        return self.paper_id

    @property
    def has_code(self) -> bool:
        """Its text names a code repository (the `has:code` filter)."""
        return bool(self.code_urls)


# JSON and dates come back as the driver gives them (text on SQLite) and are decoded below: SQLAlchemy's
# result processors for them were a third of reading a paper's content, which every search and every
# indexed paper does (an index of all of arXiv reads 2.7M).
_COLUMNS = (
    Paper.id,
    Paper.arxiv_id,
    Paper.title,
    Paper.abstract,
    type_coerce(Paper.authors, Text),
    type_coerce(Paper.categories, Text),
    type_coerce(Paper.published_at, Text),
    Paper.withdrawn,
    type_coerce(Paper.code_urls, Text),
    Paper.project_page,
)


def _strings(value: Any) -> tuple[str, ...]:
    """A JSON list of strings, as text (SQLite) or already decoded (PostgreSQL)."""
    if isinstance(value, str):
        value = json.loads(value)
    return tuple(value or ())


def _moment(value: Any) -> datetime | None:
    """A stored date and time, as text (SQLite, as SQLAlchemy writes it) or already a datetime."""
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def _content(row: Any) -> PaperContent:
    paper_id, arxiv_id, title, abstract, authors, categories, published, withdrawn, code, page = row
    return PaperContent(
        paper_id=int(paper_id),
        arxiv_id=str(arxiv_id),
        title=str(title),
        abstract=str(abstract),
        authors=_strings(authors),
        categories=_strings(categories),
        published_at=_moment(published),
        withdrawn=bool(withdrawn),
        code_urls=_strings(code),
        project_page=page,
    )


_CONTENTS = select(*_COLUMNS).where(Paper.id.in_(bindparam("ids", expanding=True)))
"""Built once: SQLAlchemy then finds its compiled form without walking the statement on every search."""


def paper_contents(session: Session, paper_ids: Sequence[int]) -> dict[int, PaperContent]:
    """Content of the given papers that still exist."""
    found: dict[int, PaperContent] = {}
    connection = session.connection()  # Core: no ORM loading for plain columns
    for start in range(0, len(paper_ids), _IN_CHUNK):
        chunk = list(paper_ids[start : start + _IN_CHUNK])
        for row in connection.execute(_CONTENTS, {"ids": chunk}):
            content = _content(row)
            found[content.paper_id] = content
    return found


def paper_ids_after(session: Session, after: int, limit: int) -> list[int]:
    """The next `limit` paper ids above `after` (keyset pagination: constant memory, stable under inserts)."""
    return list(session.scalars(select(Paper.id).where(Paper.id > after).order_by(Paper.id).limit(limit)))


def count_searchable(session: Session) -> int:
    """Papers that belong in the search index (not withdrawn)."""
    return session.scalar(select(func.count()).select_from(Paper).where(Paper.withdrawn.is_(False))) or 0


def paper_id_for(session: Session, arxiv_id: str) -> int | None:
    """The internal id of the paper with this arXiv id (or source-prefixed id)."""
    return session.scalar(select(Paper.id).where(Paper.arxiv_id == arxiv_id))


def all_titles(session: Session) -> list[tuple[str, str]]:
    """(arXiv id, title) of every paper that is not withdrawn, by id (for evaluations)."""
    query = select(Paper.arxiv_id, Paper.title).where(Paper.withdrawn.is_(False)).order_by(Paper.id)
    return [(str(arxiv_id), str(title)) for arxiv_id, title in session.execute(query)]


def searchable_paper_ids(session: Session) -> list[int]:
    """Ids of every paper that belongs in the search index (not withdrawn)."""
    return [int(pid) for pid in session.scalars(select(Paper.id).where(Paper.withdrawn.is_(False)))]


def papers_needing_keywords(session: Session, model: str, limit: int) -> list[tuple[int, str, str, bytes]]:
    """(id, title, abstract, vector) of papers whose keyphrases are to do and whose vector exists."""

    query = (
        select(Paper.id, Paper.title, Paper.abstract, Embedding.vector)
        .join(Embedding, (Embedding.paper_id == Paper.id) & (Embedding.model == model))
        .where(Paper.keywords_at.is_(None), Paper.withdrawn.is_(False))
        .order_by(Paper.id.desc())
        .limit(limit)
    )
    return [(int(r[0]), str(r[1]), str(r[2]), bytes(r[3])) for r in session.execute(query)]


def store_keywords(session: Session, found: dict[int, list[str]], when: datetime) -> None:
    for paper_id, keywords in found.items():
        paper = session.get(Paper, paper_id)
        if paper is not None:
            paper.keywords, paper.keywords_at = keywords, when


def keywords_pending(session: Session) -> int:
    query = (
        select(func.count()).select_from(Paper).where(Paper.keywords_at.is_(None), Paper.withdrawn.is_(False))
    )
    return int(session.scalar(query) or 0)
