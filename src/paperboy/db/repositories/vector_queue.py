"""The durable queue of papers in the keyword index that wait for their vector.

Embedding is the slow part of indexing (tens of papers a second), so it runs in the background, in the
order a visitor meets papers: papers on daily lists first (newest list first: today's list, the recent
ones and trending come from them), then papers by publication date (newest first), then undated ones.
Removals (withdrawn or deleted papers) go first of all: they cost nothing. Each row carries a generation,
as in the keyword queue (db/repositories/queue.py), so a change that lands while a paper is being
embedded is embedded again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, tuple_, union, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from paperboy.clock import utcnow
from paperboy.db.models import DailyEntry, IndexQueue, Paper, VectorQueue

_ROWS_PER_STATEMENT = 500
_VECTOR_QUEUE = cast(Table, VectorQueue.__table__)
_TIER = 10_000_000
"""A priority is `tier * _TIER + (_TIER - 1 - day ordinal)`: lower is sooner, and newer days come sooner."""
TIER_REMOVAL, TIER_DAILY, TIER_DATED, TIER_UNDATED = range(4)
Cursor = tuple[int, int]
"""(priority, paper_id) of the last row taken: where the next batch starts."""


def embedding_priority(daily: date | None, published: datetime | None, present: bool = True) -> int:
    """The queue position of a paper (lower is sooner); see the module docstring for the order."""
    if not present:
        return TIER_REMOVAL * _TIER
    if daily is not None:
        return TIER_DAILY * _TIER + (_TIER - 1 - daily.toordinal())
    if published is not None:
        return TIER_DATED * _TIER + (_TIER - 1 - published.date().toordinal())
    return TIER_UNDATED * _TIER


_IDS_PER_QUERY = 2_000


def _priorities(session: Session, paper_ids: Sequence[int]) -> dict[int, int]:
    found: dict[int, int] = dict.fromkeys(paper_ids, embedding_priority(None, None, present=False))
    connection = session.connection()  # Core: a keyword pass over all of arXiv asks for 2.7M of these
    for start in range(0, len(paper_ids), _IDS_PER_QUERY):
        chunk = list(paper_ids[start : start + _IDS_PER_QUERY])
        newest_list = (
            select(DailyEntry.paper_id, func.max(DailyEntry.date).label("day"))
            .where(DailyEntry.paper_id.in_(chunk), DailyEntry.hidden.is_(False))
            .group_by(DailyEntry.paper_id)
            .subquery()
        )
        query = (
            select(Paper.id, Paper.published_at, Paper.withdrawn, newest_list.c.day)
            .outerjoin(newest_list, newest_list.c.paper_id == Paper.id)
            .where(Paper.id.in_(chunk))
        )
        for paper_id, published, withdrawn, day in connection.execute(query):
            found[paper_id] = embedding_priority(day, published, present=not withdrawn)
    return found


def enqueue_for_vectors(session: Session, paper_ids: Iterable[int]) -> None:
    """Queue papers for (re-)embedding at their current priority; a queued paper's generation is bumped.

    Rows are written in paper-id order, as `acknowledge_vectors` locks them, so that two writers wait
    for each other instead of deadlocking.
    """
    ids = sorted(set(paper_ids))
    if not ids:
        return
    now = utcnow()
    priorities = _priorities(session, ids)
    rows = [
        {"paper_id": pid, "generation": 1, "priority": priorities[pid], "enqueued_at": now} for pid in ids
    ]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(_VECTOR_QUEUE)  # the table, not the entity: Core's executemany, not the ORM's
    statement = statement.on_conflict_do_update(
        index_elements=["paper_id"],
        set_={
            "generation": _VECTOR_QUEUE.c.generation + 1,
            "priority": statement.excluded.priority,
            "enqueued_at": statement.excluded.enqueued_at,
        },
    )
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        # executemany of one compiled statement (as queue.enqueue_for_index): a VALUES list compiled per
        # chunk cost as much as building the keyword index of the same papers.
        session.execute(statement, rows[start : start + _ROWS_PER_STATEMENT])


def promote_for_vectors(session: Session, paper_ids: Sequence[int]) -> None:
    """Recompute the priority of queued papers (a paper just put on a daily list moves to the front)."""
    queued = list(
        session.scalars(select(VectorQueue.paper_id).where(VectorQueue.paper_id.in_(list(paper_ids))))
    )
    for paper_id, priority in sorted(_priorities(session, queued).items()):
        session.execute(
            update(VectorQueue)
            .where(VectorQueue.paper_id == paper_id, VectorQueue.priority > priority)
            .values(priority=priority)
        )


def vector_pending_count(session: Session) -> int:
    """How many papers wait for their vector."""
    return session.scalar(select(func.count()).select_from(VectorQueue)) or 0


def take_vector_batch(
    session: Session, limit: int, after: Cursor | None = None
) -> list[tuple[int, int, int]]:
    """Up to `limit` queued papers after `after`, in priority order, as (paper_id, generation, priority).

    They stay queued until acknowledged; an indexer pages through the queue with `after`.
    """
    query = select(VectorQueue.paper_id, VectorQueue.generation, VectorQueue.priority)
    if after is not None:
        query = query.where(tuple_(VectorQueue.priority, VectorQueue.paper_id) > tuple_(*after))
    query = query.order_by(VectorQueue.priority, VectorQueue.paper_id).limit(limit)
    return [(int(pid), int(gen), int(priority)) for pid, gen, priority in session.execute(query)]


def _waiting_ids() -> Any:
    return union(select(IndexQueue.paper_id.label("paper_id")), select(VectorQueue.paper_id)).subquery()


def waiting_for_vectors(session: Session, limit: int, after: int = 0) -> list[int]:
    """Papers that will need a vector, in id order: queued for the keyword index or for vectors
    (batch embedding on Ray works ahead of the indexer through these)."""
    waiting = _waiting_ids()
    query = (
        select(waiting.c.paper_id).where(waiting.c.paper_id > after).order_by(waiting.c.paper_id).limit(limit)
    )
    return [int(pid) for pid in session.scalars(query)]


def waiting_for_vectors_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(_waiting_ids())) or 0


def acknowledge_vectors(session: Session, taken: Mapping[int, int]) -> None:
    """Remove papers whose vectors are durable in the index, unless they were re-enqueued meanwhile.

    On PostgreSQL the rows are locked in paper-id order first, matching `enqueue_for_vectors`.
    """
    pairs = sorted(taken.items())
    postgres = session.get_bind().dialect.name == "postgresql"
    for start in range(0, len(pairs), _ROWS_PER_STATEMENT):
        chunk = pairs[start : start + _ROWS_PER_STATEMENT]
        if postgres:
            session.execute(
                select(VectorQueue.paper_id)
                .where(VectorQueue.paper_id.in_([paper_id for paper_id, _ in chunk]))
                .order_by(VectorQueue.paper_id)
                .with_for_update()
            ).all()
        session.execute(
            delete(VectorQueue).where(tuple_(VectorQueue.paper_id, VectorQueue.generation).in_(chunk))
        )
