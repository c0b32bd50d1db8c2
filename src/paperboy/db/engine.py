"""Engine and session factory: the one place that knows how to connect."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from paperboy.config import Settings


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL for concurrent readers, enforced foreign keys, and waiting instead of failing on a busy lock."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


POOL_RECYCLE_SECONDS = 1800
"""Replace pooled PostgreSQL connections older than this (before a server or proxy idle timeout drops them)."""


def make_engine(url: str, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    """Create an engine for `url`, configured for the dialect.

    PostgreSQL: a pool of `pool_size` kept connections plus up to `max_overflow` extra ones under load
    (a request waits up to 30 s for a free one), checked before use and recycled every half hour, so a
    restarted server or a dropped idle connection costs a reconnect rather than a failed request.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        poolclass=QueuePool,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=POOL_RECYCLE_SECONDS,
    )


def engine_from_settings(settings: Settings) -> Engine:
    """Engine for the configured system of record; creates the data dir for SQLite."""
    if not settings.database_url:
        settings.home.mkdir(parents=True, exist_ok=True)
    return make_engine(
        settings.effective_database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )


def begin_write(session: Session) -> None:
    """Make the session's transaction a write transaction now, before it reads what it will change.

    SQLite (pysqlite) otherwise runs reads outside any transaction and opens one only at the first
    write, so a read-modify-write could act on rows another process changed in between (a lost update,
    or a duplicate insert that fails). `BEGIN IMMEDIATE` takes SQLite's single write lock up front
    (waiting up to busy_timeout), so everything the transaction reads stays current until it commits.
    PostgreSQL needs nothing here: callers lock the rows they change (SELECT ... FOR UPDATE).
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    dbapi_connection: Any = connection.connection.dbapi_connection
    if not dbapi_connection.in_transaction:  # already in one: pysqlite began it at a write, lock held
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back everything on any error."""
    with factory() as session, session.begin():
        yield session


def _read_only(home: Path) -> bool:
    try:
        return bool(os.statvfs(home).f_flag & os.ST_RDONLY)
    except OSError:
        return False


_STORAGE_PROBLEMS = (
    (("database or disk is full", "no space left", "could not extend file", "disk full"), "its disk is full"),
    (("disk i/o error",), "its disk cannot be read or written (full, or failing: an I/O error)"),
    (
        ("unable to open database file",),
        "its database file cannot be opened (missing, or a permission problem)",
    ),
    (("readonly database", "read-only"), "its data directory is read-only"),
    (("database is locked",), "the database stayed locked by another process"),
    (
        ("connection refused", "could not connect", "server closed the connection", "terminating connection"),
        "the database server does not answer",
    ),
)


def storage_problem(error: BaseException, home: Path | None = None) -> str:
    """What a database error means for an operator, in words ("its disk is full"), not driver jargon;
    `home` (the data dir) lets it tell a read-only file system from a missing file."""
    if home is not None and _read_only(home):
        return "its data directory is on a read-only file system"
    for cause in _chain(error):
        text = str(getattr(cause, "orig", None) or cause).lower()
        for needles, meaning in _STORAGE_PROBLEMS:
            if any(needle in text for needle in needles):
                return meaning
    return "the database reported an error"


def _chain(error: BaseException) -> list[BaseException]:
    """The error and those it was raised during: on a full disk SQLite rolls the whole transaction
    back, and the release of a savepoint that is then gone ("no such savepoint") hides the real cause."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain
