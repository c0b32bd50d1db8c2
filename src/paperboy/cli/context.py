"""What every command shares: settings, a lazily created engine, and uniform error exits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn

import typer
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from paperboy.config import Settings
from paperboy.db.engine import engine_from_settings, session_factory
from paperboy.db.migrate import current_revision, head_revision

EXIT_REJECTED = 1
EXIT_ERROR = 2


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    """Print a one-line error (no traceback) and exit."""
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


@dataclass
class AppContext:
    """Per-invocation state handed to commands through `ctx.obj`."""

    settings: Settings
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = engine_from_settings(self.settings)
        return self._engine

    @property
    def sessions(self) -> sessionmaker[Session]:
        return session_factory(self.engine)

    def require_schema(self) -> None:
        """Refuse to run against a database that `paperboy init` has not prepared."""
        try:
            current = current_revision(self.engine)
        except OperationalError as exc:
            fail(f"cannot open the database {self.engine.url!r}: {exc.orig}")
        if current is None:
            fail("the database is empty: run `paperboy init` first")
        if current != head_revision():
            fail(
                f"the database schema is at {current}, this Paperboy needs {head_revision()}: run `paperboy db upgrade`"
            )
