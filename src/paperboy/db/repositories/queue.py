"""The durable queue of papers whose search-index entry is stale.

Each row carries a generation that every re-enqueue bumps. The indexer acknowledges the generation it
read, so a change that lands while a batch is being indexed keeps its row and is indexed next time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from paperboy.clock import utcnow
from paperboy.db.models import IndexQueue

_ROWS_PER_STATEMENT = 500


def enqueue_for_index(session: Session, paper_ids: Iterable[int]) -> None:
    """Mark papers dirty; a paper already queued gets its generation bumped."""
    now = utcnow()
    rows = [
        {"paper_id": paper_id, "generation": 1, "enqueued_at": now} for paper_id in dict.fromkeys(paper_ids)
    ]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        statement = insert(IndexQueue).values(rows[start : start + _ROWS_PER_STATEMENT])
        statement = statement.on_conflict_do_update(
            index_elements=["paper_id"],
            set_={"generation": IndexQueue.generation + 1, "enqueued_at": statement.excluded.enqueued_at},
        )
        session.execute(statement)


def pending_count(session: Session) -> int:
    """How many papers wait for the indexer."""
    return session.scalar(select(func.count()).select_from(IndexQueue)) or 0


def take_batch(session: Session, limit: int) -> dict[int, int]:
    """The oldest `limit` dirty papers as {paper_id: generation}; they stay queued until acknowledged."""
    query = (
        select(IndexQueue.paper_id, IndexQueue.generation)
        .order_by(IndexQueue.enqueued_at, IndexQueue.paper_id)
        .limit(limit)
    )
    return {paper_id: generation for paper_id, generation in session.execute(query)}


def acknowledge(session: Session, taken: Mapping[int, int]) -> None:
    """Remove papers whose index entries are durable, unless they were re-enqueued meanwhile."""
    if not taken:
        return
    conditions = [
        and_(IndexQueue.paper_id == paper_id, IndexQueue.generation == generation)
        for paper_id, generation in taken.items()
    ]
    session.execute(delete(IndexQueue).where(or_(*conditions)))
