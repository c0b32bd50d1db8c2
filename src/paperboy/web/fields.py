"""Typed request fields shared by the routes: text that the database can store, and row ids in range.

An attacker chooses every byte of a request. Text with a NUL character is refused up front (PostgreSQL
cannot store it, and no real name, comment or password contains one), and numeric ids are bounded to the
database's integer range, so neither ever reaches the database as a 500.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Path
from pydantic import AfterValidator

MAX_ROW_ID = 2**31 - 1
"""The largest id an integer primary key holds (PostgreSQL `integer`; SQLite's limit is larger)."""


def storable(value: str) -> str:
    """Refuse text the database cannot store (a NUL character)."""
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


FormText = Annotated[str, Form(max_length=2000), AfterValidator(storable)]
"""A short form field: a name, an email address, a password, a login."""
LongFormText = Annotated[str, Form(max_length=20_000), AfterValidator(storable)]
"""A long form field: a comment."""
NextPath = Annotated[str, Form(alias="next", max_length=500), AfterValidator(storable)]
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="A row id (1 to 2^31 - 1).")]
OptionalFormRowId = Annotated[int | None, Form(ge=1, le=MAX_ROW_ID, description="A row id (1 to 2^31 - 1).")]
