"""Checkpoints and completion marks of ingest jobs, written in the same transaction as their records."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from paperboy.clock import utcnow
from paperboy.db.models import IngestState


def get_state(session: Session, source: str, key: str) -> dict[str, Any] | None:
    """The saved state of one job, or None."""
    row = session.scalars(
        select(IngestState).where(IngestState.source == source, IngestState.key == key)
    ).first()
    return dict(row.state) if row else None


def set_state(session: Session, source: str, key: str, state: dict[str, Any]) -> None:
    """Save (replace) the state of one job."""
    row = session.get(IngestState, (source, key))
    if row is None:
        session.add(IngestState(source=source, key=key, state=state, updated_at=utcnow()))
    else:
        row.state = state
        row.updated_at = utcnow()


def clear_state(session: Session, source: str, key: str) -> None:
    """Forget the state of one job."""
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
