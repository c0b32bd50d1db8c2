"""`paperboy db ...` and `paperboy init`: schema migrations and the data directory."""

from __future__ import annotations

import typer
from sqlalchemy.exc import OperationalError

from paperboy.cli.context import AppContext, fail
from paperboy.db.migrate import current_revision, downgrade, head_revision, upgrade

db_app = typer.Typer(help="Database schema migrations.", no_args_is_help=True)


def init_data_dir(context: AppContext) -> None:
    """Create the data dir and migrate; shared by `init` and `db upgrade`."""
    settings = context.settings
    settings.home.mkdir(parents=True, exist_ok=True)
    try:
        before = current_revision(context.engine)
        upgrade(context.engine)
    except OperationalError as exc:
        fail(f"cannot open the database {context.engine.url!r}: {exc.orig}")
    after = current_revision(context.engine)
    state = "already up to date" if before == after else f"upgraded {before or 'empty'} -> {after}"
    typer.echo(f"data dir {settings.home.resolve()} ready; database {context.engine.url!r}: {state}")


@db_app.command("upgrade")
def upgrade_schema(ctx: typer.Context) -> None:
    """Apply all pending migrations (idempotent)."""
    init_data_dir(ctx.obj)


@db_app.command("current")
def show_current(ctx: typer.Context) -> None:
    """Show the schema revision of the database and the newest one available."""
    try:
        current = current_revision(ctx.obj.engine)
    except OperationalError as exc:
        fail(f"cannot open the database: {exc.orig}")
    typer.echo(f"current: {current or 'empty'}; head: {head_revision()}")


@db_app.command("downgrade")
def downgrade_schema(
    ctx: typer.Context,
    revision: str = typer.Argument(..., help="Target revision, e.g. 'base' or '-1'."),
) -> None:
    """Revert migrations down to REVISION (destroys data in dropped tables)."""
    downgrade(ctx.obj.engine, revision)
    typer.echo(f"downgraded to {current_revision(ctx.obj.engine) or 'base'}")
