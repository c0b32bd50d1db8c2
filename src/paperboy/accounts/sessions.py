"""Sign-in sessions kept in the database, so logging out or changing a password really ends them."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import CursorResult, delete
from sqlalchemy.orm import Session

from paperboy.clock import utcnow
from paperboy.db.models import User, UserSession


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user: User, days: int) -> str:
    """A new sign-in for `user`; returns the token for the cookie (the database keeps only its hash)."""
    purge_expired(session)  # sign-ins are rare enough to tidy the table as they happen
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        UserSession(
            token_hash=_hash(token), user_id=user.id, created_at=now, expires_at=now + timedelta(days=days)
        )
    )
    return token


def user_for_session(session: Session, token: str) -> User | None:
    if not token or len(token) > 200:
        return None
    row = session.get(UserSession, _hash(token))
    if row is None or row.expires_at <= utcnow():
        return None
    return session.get(User, row.user_id)


def end_session(session: Session, token: str) -> None:
    session.execute(delete(UserSession).where(UserSession.token_hash == _hash(token)))


def end_other_sessions(session: Session, user: User, keep_token: str | None) -> int:
    """Sign the user out everywhere else (after a password change); returns how many ended."""
    query = delete(UserSession).where(UserSession.user_id == user.id)
    if keep_token:
        query = query.where(UserSession.token_hash != _hash(keep_token))
    result: CursorResult[Any] = session.execute(query)  # type: ignore[assignment]
    return result.rowcount or 0


def purge_expired(session: Session) -> int:
    result: CursorResult[Any] = session.execute(delete(UserSession).where(UserSession.expires_at <= utcnow()))  # type: ignore[assignment]
    return result.rowcount or 0
