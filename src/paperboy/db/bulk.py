"""Inserting many rows at once (an ingest of all of arXiv writes tens of millions).

On SQLite the rows go straight to the driver's executemany, their values turned into what SQLAlchemy
itself would store: a date and time as `YYYY-MM-DD HH:MM:SS.ffffff` text, JSON as `json.dumps` text.
SQLAlchemy's own executemany runs a Python bind processor per value and builds a parameter dictionary
per row, which cost a snapshot ingest's committing process about a quarter of its time. Other databases
(PostgreSQL: psycopg adapts the values natively) take SQLAlchemy Core's executemany.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, DateTime, Table, insert
from sqlalchemy.orm import Session

Convert = Callable[[Any], Any]


def _datetime(value: date | None) -> str | None:
    # SQLAlchemy's SQLite DATETIME format (a date alone at midnight); a time zone is not stored (as there).
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _date(value: date | None) -> str | None:
    # SQLAlchemy's SQLite DATE format: the day only, also of a datetime.
    return None if value is None else date(value.year, value.month, value.day).isoformat()


def _json(value: Any) -> str:
    return json.dumps(value)  # None too: JSON's `null`, as SQLAlchemy stores it unless none_as_null


def _json_or_null(value: Any) -> str | None:
    return None if value is None else json.dumps(value)


def _boolean(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _sqlite_converter(column_type: Any) -> Convert | None:
    if isinstance(column_type, DateTime):
        return _datetime
    if isinstance(column_type, Date):
        return _date
    if isinstance(column_type, JSON):
        return _json_or_null if column_type.none_as_null else _json
    if isinstance(column_type, Boolean):
        return _boolean
    return None


def bulk_insert(session: Session, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (each with the same keys) into `table` in the session's transaction.

    Columns left out take their SQL defaults; one with a Python-side default must be given (raw inserts
    do not run it), and this refuses a table whose left-out columns need one.
    """
    if not rows:
        return
    session.flush()  # as session.execute(insert(...)) would: pending ORM changes go first
    names = list(rows[0])
    missing_defaults = [c.key for c in table.columns if c.key not in names and c.default is not None]
    if missing_defaults:
        raise ValueError(
            f"bulk insert into {table.name}: give {', '.join(missing_defaults)} (Python defaults)"
        )
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        session.execute(insert(table), list(rows))
        return
    converters = [_sqlite_converter(table.columns[name].type) for name in names]
    plan = list(zip(names, converters, strict=True))
    values = [
        tuple(row[name] if convert is None else convert(row[name]) for name, convert in plan) for row in rows
    ]
    quote = connection.dialect.identifier_preparer.quote
    statement = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name in names)}) "
        f"VALUES ({', '.join('?' for _ in names)})"
    )
    connection.exec_driver_sql(statement, values)
