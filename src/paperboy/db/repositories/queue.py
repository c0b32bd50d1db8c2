"""The durable queue of papers whose search-index entry is stale.

Each row carries a generation that every re-enqueue bumps. The indexer acknowledges the generation it
read, so a change that lands while a batch is being indexed keeps its row and is indexed next time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import cast

from sqlalchemy import Table, bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from paperboy.clock import utcnow
from paperboy.db.models import IndexQueue, Paper

_ROWS_PER_STATEMENT = 500
_QUEUE = cast(Table, IndexQueue.__table__)
_DELETE_ACKNOWLEDGED = delete(_QUEUE).where(
    _QUEUE.c.paper_id == bindparam("paper"), _QUEUE.c.generation == bindparam("generation")
)
"""One compiled statement, run for many rows (a row-value IN list is compiled afresh for each chunk)."""


def enqueue_for_index(session: Session, paper_ids: Iterable[int], bump: bool = True) -> None:
    """Mark papers dirty; a paper already queued gets its generation bumped (`bump=False`: it is left as it
    is, when all that matters is that every paper is queued).

    Rows are written in paper-id order, the order `acknowledge` locks them in, so an ingest and the
    indexer working on the same rows wait for each other instead of deadlocking.
    """
    now = utcnow()
    rows = [
        {"paper_id": paper_id, "generation": 1, "enqueued_at": now} for paper_id in sorted(set(paper_ids))
    ]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(_QUEUE)  # the table, not the entity: Core's executemany, not the ORM's bulk path
    if bump:
        statement = statement.on_conflict_do_update(
            index_elements=["paper_id"],
            set_={"generation": _QUEUE.c.generation + 1, "enqueued_at": statement.excluded.enqueued_at},
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=["paper_id"])
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        # executemany of one compiled statement: a 500-row VALUES list compiled afresh costs more than
        # the rows (a snapshot enqueues millions).
        session.execute(statement, rows[start : start + _ROWS_PER_STATEMENT])


def everything_queued(session: Session) -> bool:
    """Whether every paper waits for the indexer (after an ingest into an empty library: then a new index
    need not queue them again). Queue rows always name existing papers (a foreign key)."""
    papers = session.scalar(select(func.count()).select_from(Paper)) or 0
    return pending_count(session) >= papers


def pending_count(session: Session) -> int:
    """How many papers wait for the indexer."""
    return session.scalar(select(func.count()).select_from(IndexQueue)) or 0


def has_pending(session: Session) -> bool:
    """Whether any paper waits for the indexer (cheap at any queue size)."""
    return session.scalar(select(IndexQueue.paper_id).limit(1)) is not None


def take_batch(session: Session, limit: int, after: int = 0) -> dict[int, int]:
    """Up to `limit` dirty papers with ids above `after`, as {paper_id: generation}, in id order.

    They stay queued until acknowledged; an indexer pages through the queue with `after`.
    """
    query = (
        select(IndexQueue.paper_id, IndexQueue.generation)
        .where(IndexQueue.paper_id > after)
        .order_by(IndexQueue.paper_id)
        .limit(limit)
    )
    return {paper_id: generation for paper_id, generation in session.execute(query)}


def queued_generations(session: Session, paper_ids: Sequence[int]) -> dict[int, int]:
    """{paper_id: generation} for those of `paper_ids` that are queued.

    Read this before reading the papers themselves: a change committed in between then leaves a newer
    generation behind, which `acknowledge` does not remove, so the change is indexed on the next run.
    """
    found: dict[int, int] = {}
    for start in range(0, len(paper_ids), _ROWS_PER_STATEMENT):
        chunk = list(paper_ids[start : start + _ROWS_PER_STATEMENT])
        query = select(IndexQueue.paper_id, IndexQueue.generation).where(IndexQueue.paper_id.in_(chunk))
        found.update((paper_id, generation) for paper_id, generation in session.execute(query))
    return found


def acknowledge(session: Session, taken: Mapping[int, int]) -> None:
    """Remove papers whose index entries are durable, unless they were re-enqueued meanwhile.

    On PostgreSQL the rows are locked in paper-id order first (a DELETE locks them in whatever order it
    scans them), matching `enqueue_for_index`, so a concurrent ingest re-enqueuing some of them cannot
    deadlock with the indexer.
    """
    pairs = sorted(taken.items())
    postgres = session.get_bind().dialect.name == "postgresql"
    for start in range(0, len(pairs), _ROWS_PER_STATEMENT):
        chunk = pairs[start : start + _ROWS_PER_STATEMENT]
        if postgres:
            session.execute(
                select(IndexQueue.paper_id)
                .where(IndexQueue.paper_id.in_([paper_id for paper_id, _ in chunk]))
                .order_by(IndexQueue.paper_id)
                .with_for_update()
            ).all()
        session.execute(_DELETE_ACKNOWLEDGED, [{"paper": p, "generation": g} for p, g in chunk])
