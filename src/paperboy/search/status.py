"""What the search index knows right now: how many papers are keyword-searchable, how many have a
vector, how many wait, and how long the rest will take. One computation for `/api/index/status`, the
notices on the search and paper pages, `paperboy search`, `paperboy index` and the server's log."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from threading import Lock
from typing import Any, Literal

from sqlalchemy.orm import Session, sessionmaker

from paperboy.clock import utcnow
from paperboy.db.repositories.ingest_state import get_state, set_state
from paperboy.db.repositories.queue import pending_count
from paperboy.db.repositories.search_docs import count_searchable
from paperboy.db.repositories.vector_queue import vector_pending_count
from paperboy.search.backend import SearchBackend

State = Literal["empty", "missing", "indexing", "embedding", "ready"]
_PROGRESS = ("index", "embedding")
MIN_RATE_SAMPLE = 16
"""Papers embedded in a run before its rate replaces the remembered one."""
ACTIVE_SECONDS = 300.0
"""An indexer that reported within this many seconds counts as running."""


def record_progress(session: Session, embedded: int, seconds: float) -> None:
    """Remember the indexer's embedding rate and that it is alive (for the time-left estimate)."""
    state = get_state(session, *_PROGRESS) or {}
    if embedded >= MIN_RATE_SAMPLE and seconds > 0:
        state["rate"] = embedded / seconds
    state["heartbeat"] = utcnow().isoformat()
    set_state(session, *_PROGRESS, state)


@dataclass(frozen=True)
class IndexStatus:
    """Counts of the library and of what the index holds."""

    papers: int
    lexical: int
    embedded: int
    queued: int
    """Papers waiting for their vector."""
    keyword_queued: int
    """Papers waiting to enter the keyword index (seconds of work)."""
    rate: float | None
    """Papers embedded per second by the last indexer run."""
    indexer_active: bool
    backend: str

    @property
    def state(self) -> State:
        if self.papers == 0:
            return "empty"
        if self.lexical == 0 and self.keyword_queued == 0:
            return "missing"
        if self.keyword_queued or self.lexical < self.papers:
            return "indexing"
        if self.queued or self.embedded < self.lexical:
            return "embedding"
        return "ready"

    @property
    def semantic_complete(self) -> bool:
        """Whether meaning search covers the whole library."""
        return self.papers > 0 and self.embedded >= self.papers and self.queued == 0

    @property
    def seconds_left(self) -> float | None:
        """Time until every paper has a vector, at the last measured rate (None when not known)."""
        if self.semantic_complete:
            return 0.0
        if not self.rate:
            return None
        return (self.queued or max(self.papers - self.embedded, 0)) / self.rate

    def as_json(self) -> dict[str, Any]:
        left = self.seconds_left
        return {
            "papers": self.papers,
            "lexical": self.lexical,
            "embedded": self.embedded,
            "queued": self.queued,
            "keyword_queued": self.keyword_queued,
            "state": self.state,
            "semantic_complete": self.semantic_complete,
            "embedding_rate": round(self.rate, 2) if self.rate else None,
            "seconds_left": round(left) if left is not None else None,
            "indexer_active": self.indexer_active,
            "backend": self.backend,
        }

    def notice(self) -> str | None:
        """One plain sentence for readers when search does not yet cover the whole library."""
        if self.state == "empty":
            return "The library is empty: load papers with `paperboy ingest` (see `paperboy ingest --help`)."
        if self.state == "missing":
            return "The search index is being built: results will appear within a minute."
        if self.lexical < self.papers:
            return (
                f"Keyword search covers {self.lexical:,} of {self.papers:,} papers so far; "
                "the rest are being added now."
            )
        if not self.semantic_complete:
            left = self.seconds_left
            eta = f", about {_duration(left)} left" if left else ""
            return (
                f"Meaning search covers {self.embedded:,} of {self.papers:,} papers so far{eta}; "
                "keyword search already covers all of them."
            )
        return None


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{max(round(seconds), 1)} seconds"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} minutes"
    return f"{seconds / 3600:.1f} hours"


def index_status(sessions: sessionmaker[Session], backend: SearchBackend) -> IndexStatus:
    counts = backend.counts()
    with sessions() as session:
        papers = count_searchable(session)
        queued = vector_pending_count(session)
        keyword_queued = pending_count(session)
        progress = get_state(session, *_PROGRESS) or {}
    heartbeat = progress.get("heartbeat")
    active = False
    if isinstance(heartbeat, str):
        try:
            active = (utcnow() - datetime.fromisoformat(heartbeat)).total_seconds() < ACTIVE_SECONDS
        except ValueError:
            active = False
    rate = progress.get("rate")
    return IndexStatus(
        papers=papers,
        lexical=counts.lexical,
        embedded=counts.embedded,
        queued=queued,
        keyword_queued=keyword_queued,
        rate=float(rate) if isinstance(rate, int | float) and rate > 0 else None,
        indexer_active=active,
        backend=backend.name,
    )


class CachedStatus:
    """`index_status` at most every `seconds` (counting a large library is not free)."""

    def __init__(self, sessions: sessionmaker[Session], backend: SearchBackend, seconds: float = 2.0) -> None:
        self.sessions = sessions
        self.backend = backend
        self.seconds = seconds
        self._value: IndexStatus | None = None
        self._at = 0.0
        self._lock = Lock()

    def get(self) -> IndexStatus:
        with self._lock:
            if self._value is None or time.monotonic() - self._at > self.seconds:
                self._value = index_status(self.sessions, self.backend)
                self._at = time.monotonic()
            return self._value
