"""Papers: the idempotent upsert every ingester shares, and the reads the CLI and web need.

Merging rule: a record overwrites a paper's metadata when it is at least as fresh (higher arXiv version,
else a later update date); an older or undated record only fills fields the paper lacks. So sources can
be ingested in any order, any number of times, and converge on the newest metadata.

Concurrency: the upsert locks the papers it merges into before reading them (PostgreSQL: row locks taken
in arXiv-id order, so two writers never deadlock; SQLite: the database's write lock), so concurrent
writers apply the rule to each other's results instead of overwriting them; a paper that another
transaction inserts at the same moment is merged into on a retry instead of failing the batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from paperboy.arxiv_ids import parse_arxiv_id
from paperboy.clock import utcnow
from paperboy.code_links import PaperLinks, find_links
from paperboy.db.bulk import bulk_insert
from paperboy.db.engine import begin_write
from paperboy.db.models import Paper, PaperVersion
from paperboy.db.records import DeletedRecord, PaperRecord, RecordError, VersionRecord
from paperboy.db.repositories.authors import store_author_rows
from paperboy.db.repositories.queue import enqueue_for_index

# Fields copied from a record onto a paper; `None` in the record means "not said".
MERGED_FIELDS = (
    "title",
    "abstract",
    "authors",
    "categories",
    "primary_category",
    "comments",
    "journal_ref",
    "doi",
    "license",
    "published_at",
    "updated_at",
    "withdrawn",
)
# A change in any of these makes the paper's search-index entry stale.
INDEXED_FIELDS = frozenset(
    {
        "title",
        "abstract",
        "authors",
        "categories",
        "primary_category",
        "published_at",
        "withdrawn",
        "code_urls",
    }
)
LINKED_FIELDS = frozenset({"abstract", "comments", "journal_ref"})
"""The fields code and project links are found in."""
_IN_CHUNK = 500
_UPSERT_ATTEMPTS = 5
_PAPERS = cast(Table, Paper.__table__)
_VERSIONS = cast(Table, PaperVersion.__table__)
_INSERTED_COLUMNS = tuple(column.key for column in _PAPERS.columns if column.key != "id")


@dataclass
class UpsertCounts:
    """Outcome of an upsert, per record."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def add(self, other: UpsertCounts) -> None:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.deleted += other.deleted


@dataclass(slots=True)
class NewVersion:
    """A version row of a paper not inserted yet."""

    version: int
    submitted_at: datetime | None
    size: str | None


@dataclass(slots=True)
class NewPaper:
    """A paper this batch brings, before it is inserted: plain attributes with the names of `Paper`'s
    columns, so the merge rule below applies to both. (A snapshot brings millions of new papers, and an
    ORM object, its version objects and their events cost more than inserting the rows.)"""

    arxiv_id: str
    title: str
    abstract: str
    source: str
    created_at: datetime
    modified_at: datetime
    id: int = 0
    """Given by `_insert_new`."""
    version: int | None = None
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    primary_category: str | None = None
    comments: str | None = None
    journal_ref: str | None = None
    doi: str | None = None
    license: str | None = None
    published_at: datetime | None = None
    updated_at: datetime | None = None
    withdrawn: bool = False
    upvotes_imported: int = 0
    code_urls: list[str] = field(default_factory=list)
    project_page: str | None = None
    keywords: list[str] = field(default_factory=list)
    keywords_at: datetime | None = None
    versions: list[NewVersion] = field(default_factory=list)


AnyPaper = Paper | NewPaper


def load_papers(session: Session, arxiv_ids: Iterable[str], lock: bool = False) -> dict[str, Paper]:
    """Papers by arXiv id (with version history), querying in chunks to stay under parameter limits.

    `lock`: lock the rows until the transaction ends, in arXiv-id (byte) order so that concurrent lockers
    cannot deadlock, and read their latest committed state (PostgreSQL `FOR NO KEY UPDATE`, which still
    lets votes and comments reference the papers meanwhile; on SQLite the caller holds the write lock).
    """
    ids = sorted(set(arxiv_ids)) if lock else list(dict.fromkeys(arxiv_ids))
    postgres = lock and session.get_bind().dialect.name == "postgresql"
    found: dict[str, Paper] = {}
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        query = select(Paper).where(Paper.arxiv_id.in_(chunk)).options(selectinload(Paper.versions))
        if lock:
            query = query.execution_options(populate_existing=True)
        if postgres:
            query = query.order_by(Paper.arxiv_id.collate("C")).with_for_update(key_share=True)
        found.update((paper.arxiv_id, paper) for paper in session.scalars(query))
    return found


def _record_value(record: PaperRecord, name: str) -> Any:
    value = getattr(record, name)
    return list(value) if isinstance(value, tuple) else value


def _is_fresher(paper: AnyPaper, record: PaperRecord) -> bool:
    """Whether the record may overwrite the paper's metadata (True) or only fill gaps (False)."""
    if record.version is not None and paper.version is not None and record.version != paper.version:
        return record.version > paper.version
    # Metadata with neither a version nor an update date (a Hugging Face daily entry, a plain corpus) cannot
    # show which arXiv version it reflects: it never overwrites metadata that can, and always yields to it.
    # (Its publication date says nothing about freshness: comparing it with a date-only arXiv update date
    # would let a same-day daily entry overwrite arXiv's title and abstract.)
    record_unknown = record.version is None and record.updated_at is None
    paper_unknown = paper.version is None and paper.updated_at is None
    if record_unknown != paper_unknown:
        return paper_unknown
    record_date = record.updated_at or record.published_at
    paper_date = paper.updated_at or paper.published_at
    if record_date is not None and paper_date is not None and record_date != paper_date:
        return record_date > paper_date
    if record_date is None and paper_date is not None:
        return False
    # Same freshness: a versioned source wins over an unversioned one, never the reverse.
    return record.version is not None or paper.version is None


def _merge_versions(paper: AnyPaper, versions: Sequence[VersionRecord]) -> bool:
    by_number: dict[int, PaperVersion | NewVersion] = {v.version: v for v in paper.versions}
    changed = False
    for incoming in versions:
        row = by_number.get(incoming.version)
        if row is None:
            if isinstance(paper, NewPaper):
                row = NewVersion(incoming.version, incoming.submitted_at, incoming.size)
                paper.versions.append(row)
            else:
                row = PaperVersion(
                    version=incoming.version, submitted_at=incoming.submitted_at, size=incoming.size
                )
                paper.versions.append(row)
            by_number[incoming.version] = row
            changed = True
            continue
        if row.submitted_at is None and incoming.submitted_at is not None:
            row.submitted_at = incoming.submitted_at
            changed = True
        if row.size is None and incoming.size is not None:
            row.size = incoming.size
            changed = True
    return changed


def _apply(paper: AnyPaper, record: PaperRecord, overwrite: bool) -> set[str]:
    """Copy the record's fields onto the paper; return the names of the fields that changed."""
    changed: set[str] = set()
    for name in MERGED_FIELDS:
        value = _record_value(record, name)
        if value is None:
            continue
        current = getattr(paper, name)
        if not overwrite and current not in (None, [], ""):
            continue
        if current != value:
            setattr(paper, name, value)
            changed.add(name)
    # A record that does not state its version (OAI `arXiv` format: only the v1 date) adds history rows,
    # but its history says nothing about the latest version.
    history = (v.version for v in record.versions) if record.version is not None else ()
    known_versions = [v for v in (record.version, paper.version, *history) if v]
    newest = max(known_versions, default=None)
    if newest != paper.version:
        paper.version = newest
        changed.add("version")
    if record.upvotes is not None and record.upvotes != paper.upvotes_imported:
        paper.upvotes_imported = record.upvotes
        changed.add("upvotes_imported")
    if overwrite and changed - {"upvotes_imported"} and paper.source != record.source:
        paper.source = record.source
    return changed


def _new_paper(record: PaperRecord, now: datetime) -> NewPaper:
    paper = NewPaper(record.arxiv_id, record.title, record.abstract, record.source, now, now)
    _apply(paper, record, overwrite=True)
    _merge_versions(paper, record.versions)
    _find_links(paper, record.links)  # a new paper's linked fields are its record's
    return paper


def _find_links(paper: AnyPaper, found: PaperLinks | None = None) -> set[str]:
    """Store the repositories and project page its own text names (`found` when already known); the
    fields that changed."""
    links = found if found is not None else find_links(paper.abstract, paper.comments, paper.journal_ref)
    changed = set()
    if list(links.repositories) != list(paper.code_urls or []):
        paper.code_urls = list(links.repositories)
        changed.add("code_urls")
    if links.project_page != paper.project_page:
        paper.project_page = links.project_page
        changed.add("project_page")
    return changed


def upsert_papers(session: Session, records: Sequence[PaperRecord]) -> UpsertCounts:
    """Insert or merge records by arXiv id; enqueue papers whose indexed content changed.

    Safe to run from several processes at once (see the module doc). When a concurrent transaction
    inserts one of the new papers first, the unique arXiv id refuses ours once theirs commits: the work is
    rolled back to a savepoint and redone, merging into their row.
    """
    if not records:
        return UpsertCounts()
    begin_write(session)
    # Arrival order is kept for records of the same paper; new papers are inserted in arXiv-id order.
    ordered = sorted(records, key=lambda record: record.arxiv_id)
    for attempt in range(1, _UPSERT_ATTEMPTS + 1):
        try:
            with session.begin_nested():
                return _upsert(session, ordered)
        except IntegrityError:
            if attempt == _UPSERT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _upsert(session: Session, records: Sequence[PaperRecord]) -> UpsertCounts:
    counts = UpsertCounts()
    now = utcnow()
    papers: dict[str, AnyPaper] = dict(load_papers(session, (r.arxiv_id for r in records), lock=True))
    stale: list[AnyPaper] = []
    authored: list[AnyPaper] = []  # new papers and changed author lists: their author rows are rewritten
    fresh: list[NewPaper] = []  # inserted in bulk after the loop (a later record may still merge into one)
    for record in records:
        paper = papers.get(record.arxiv_id)
        if paper is None:
            paper = _new_paper(record, now)
            fresh.append(paper)
            papers[record.arxiv_id] = paper
            stale.append(paper)
            authored.append(paper)
            counts.new += 1
            continue
        changed = _apply(paper, record, overwrite=_is_fresher(paper, record))
        if _merge_versions(paper, record.versions):
            changed.add("versions")
        if changed & LINKED_FIELDS:
            changed |= _find_links(paper)
        if changed & {"title", "abstract"}:
            paper.keywords_at = None  # its keyphrases are extracted again
        if not changed:
            counts.unchanged += 1
            continue
        paper.modified_at = now
        counts.updated += 1
        if "authors" in changed:
            authored.append(paper)
        if changed & INDEXED_FIELDS:
            stale.append(paper)
    _insert_new(session, fresh)
    session.flush()
    store_author_rows(session, authored)
    enqueue_for_index(session, (paper.id for paper in stale))
    return counts


def _insert_new(session: Session, papers: list[NewPaper]) -> None:
    """Insert new papers and their versions in two bulk statements and give the objects their ids.

    The rows go in without the ORM: its unit of work (identity map, events, one flush plan per object)
    cost four times what the rows do.
    """
    if not papers:
        return
    rows = [{key: getattr(paper, key) for key in _INSERTED_COLUMNS} for paper in papers]
    # One executemany, then the ids by arXiv id. (The ORM's bulk insert starts a new statement whenever
    # the set of NULL columns changes, and RETURNING in parameter order makes SQLite insert row by row.)
    bulk_insert(session, _PAPERS, rows)
    by_arxiv_id = {paper.arxiv_id: paper for paper in papers}
    keys = list(by_arxiv_id)
    for start in range(0, len(keys), _IN_CHUNK):
        query = select(Paper.arxiv_id, Paper.id).where(Paper.arxiv_id.in_(keys[start : start + _IN_CHUNK]))
        for arxiv_id, paper_id in session.execute(query):
            by_arxiv_id[arxiv_id].id = paper_id
    versions = [
        {"paper_id": paper.id, "version": v.version, "submitted_at": v.submitted_at, "size": v.size}
        for paper in papers
        for v in paper.versions
    ]
    bulk_insert(session, _VERSIONS, versions)


def mark_deleted(session: Session, records: Sequence[DeletedRecord]) -> UpsertCounts:
    """A source reports papers as deleted: keep the row (votes, comments) but withdraw it from search."""
    counts = UpsertCounts()
    papers = load_papers(session, (r.arxiv_id for r in records))
    stale = []
    for record in records:
        paper = papers.get(record.arxiv_id)
        if paper is None or paper.withdrawn:
            counts.unchanged += 1
            continue
        paper.withdrawn = True
        paper.modified_at = utcnow()
        stale.append(paper.id)
        counts.deleted += 1
    enqueue_for_index(session, stale)
    return counts


def get_paper(session: Session, arxiv_id: str) -> Paper | None:
    """One paper by arXiv id, with its version history."""
    if "\x00" in arxiv_id:  # no id has one, and PostgreSQL refuses NUL in a query parameter
        return None
    query = select(Paper).where(Paper.arxiv_id == arxiv_id).options(selectinload(Paper.versions))
    return session.scalars(query).first()


def find_paper(session: Session, identifier: str) -> Paper | None:
    """A paper by its id as stored, or by any other form of its arXiv id (2410.17243v2, an arXiv URL)."""
    paper = get_paper(session, identifier)
    if paper is not None:
        return paper
    try:
        canonical, _ = parse_arxiv_id(identifier)
    except RecordError:
        return None
    return get_paper(session, canonical) if canonical != identifier else None


def count_papers(session: Session) -> int:
    """How many papers the system of record holds."""
    return session.scalar(select(func.count()).select_from(Paper)) or 0


def recent_papers(session: Session, limit: int = 50, offset: int = 0) -> list[Paper]:
    """Newest papers first (by publication date, then id)."""
    query = (
        select(Paper)
        .where(Paper.withdrawn.is_(False))
        .order_by(Paper.published_at.desc().nulls_last(), Paper.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(query))


def papers_before(session: Session, before: int | None, limit: int) -> list[Paper]:
    """Up to `limit` papers (not withdrawn) with ids below `before`, highest first: keyset pages of all
    papers, constant cost at any depth."""
    query = select(Paper).where(Paper.withdrawn.is_(False)).order_by(Paper.id.desc()).limit(limit)
    if before is not None:
        query = query.where(Paper.id < before)
    return list(session.scalars(query))
