"""Checkpoints and completion marks of ingest jobs, written in the same transaction as their records."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from paperboy.clock import utcnow
from paperboy.db.models import IngestState

KEY_LENGTH = 255
"""The column's size (IngestState.key): PostgreSQL refuses longer values, SQLite would keep them."""


def stored_key(key: str) -> str:
    """The key as stored: as given when it fits, else its start and a hash of the whole (a file in a
    deep directory has a path longer than the column; two such paths still get different keys)."""
    if len(key) <= KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{key[: KEY_LENGTH - 34]}…{digest}"


def get_state(session: Session, source: str, key: str) -> dict[str, Any] | None:
    """The saved state of one job, or None."""
    key = stored_key(key)
    row = session.scalars(
        select(IngestState).where(IngestState.source == source, IngestState.key == key)
    ).first()
    return dict(row.state) if row else None


def set_state(session: Session, source: str, key: str, state: dict[str, Any]) -> None:
    """Save (replace) the state of one job."""
    key = stored_key(key)
    row = session.get(IngestState, (source, key))
    if row is None:
        session.add(IngestState(source=source, key=key, state=state, updated_at=utcnow()))
    else:
        row.state = state
        row.updated_at = utcnow()


def clear_state(session: Session, source: str, key: str) -> None:
    """Forget the state of one job."""
    key = stored_key(key)
    session.execute(delete(IngestState).where(IngestState.source == source, IngestState.key == key))


def instance_id(session: Session) -> str:
    """This database's identity (a random id made once): a derived index records it, so an index built
    from another database (a restored backup, a copied data dir) is recognised and rebuilt."""
    state = get_state(session, "instance", "id")
    if state and isinstance(state.get("id"), str):
        return str(state["id"])
    created = uuid.uuid4().hex
    set_state(session, "instance", "id", {"id": created})
    session.flush()
    return created
