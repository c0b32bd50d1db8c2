"""The secret address of a user's private "For you" feed: an HMAC, under the site key, of the user and a
random key kept with their preferences. Nobody can guess it, a database leak alone does not reveal it,
and a new key (one click) revokes the old address."""

from __future__ import annotations

import hmac
import secrets

from sqlalchemy.orm import Session

from paperboy.clock import utcnow
from paperboy.db.repositories.library import preferences
from paperboy.signing import keyed_digest

PURPOSE = "for-you-feed"


def _token(site_key: bytes, user_id: int, feed_key: str) -> str:
    return keyed_digest(site_key, PURPOSE, f"{user_id}:{feed_key}")[:40]


def feed_path(session: Session, site_key: bytes, user_id: int) -> str:
    """The feed's path (its key is created on first use)."""
    prefs = preferences(session, user_id, create=True)
    assert prefs is not None
    if not prefs.feed_key:
        prefs.feed_key = secrets.token_urlsafe(24)
        prefs.updated_at = utcnow()
    return f"/feeds/for-you/{user_id}/{_token(site_key, user_id, prefs.feed_key)}.atom"


def rotate(session: Session, user_id: int) -> None:
    prefs = preferences(session, user_id, create=True)
    assert prefs is not None
    prefs.feed_key = secrets.token_urlsafe(24)
    prefs.updated_at = utcnow()


def check(session: Session, site_key: bytes, user_id: int, token: str) -> bool:
    prefs = preferences(session, user_id)
    if prefs is None or not prefs.feed_key:
        return False
    return hmac.compare_digest(_token(site_key, user_id, prefs.feed_key), token)
