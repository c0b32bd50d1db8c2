"""The `paperboy` command line: one Typer app, one sub-app per concern."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

import typer
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from paperboy.cli.context import EXIT_ERROR, AppContext, fail
from paperboy.cli.db import db_app, init_data_dir
from paperboy.cli.digest import digest_app, subscribe_command, unsubscribe_command
from paperboy.cli.enrich import enrich_app
from paperboy.cli.evaluate import eval_app
from paperboy.cli.ingest import ingest_app
from paperboy.cli.papers import papers_app
from paperboy.cli.recommend import recommend_command
from paperboy.cli.search import index_command, search_command
from paperboy.cli.users import users_app
from paperboy.config import Settings
from paperboy.db.engine import storage_problem

app = typer.Typer(
    name="paperboy",
    help="Paperboy: a self-hostable research-paper discovery service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db_app, name="db")
app.add_typer(ingest_app, name="ingest")
app.add_typer(papers_app, name="papers")
app.add_typer(eval_app, name="eval")
app.add_typer(enrich_app, name="enrich")
app.add_typer(users_app, name="users")
app.command("recommend")(recommend_command)
app.add_typer(digest_app, name="digest")
app.command("subscribe")(subscribe_command)
app.command("unsubscribe")(unsubscribe_command)
app.command("index")(index_command)
app.command("search")(search_command)


MAX_WORKERS = 32


@app.callback()
def main_callback(ctx: typer.Context) -> None:
    """Read and check the settings once, before any command runs."""
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"PAPERBOY_{'_'.join(str(p) for p in error['loc']).upper()}: {error['msg']}"
            for error in exc.errors()
        )
        fail(f"invalid setting: {problems}")
    ctx.obj = AppContext(settings)


@app.command("config")
def show_config(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the settings as JSON."),
) -> None:
    """Show every setting, its environment variable, its current value and what it does."""
    rows = ctx.obj.settings.describe()
    if as_json:
        typer.echo(json.dumps({row["setting"]: row["value"] for row in rows}, indent=2))
        return
    for row in rows:
        env = f" ({row['env']})" if row["env"] else ""
        typer.echo(f"{row['setting']}{env} = {row['value']}")
        typer.echo(f"    {row['description']}")


@app.command("init")
def init(ctx: typer.Context) -> None:
    """Create the data directory and bring the database schema up to date (safe to run again)."""
    init_data_dir(ctx.obj)


@app.command("serve")
def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(None, help="Listen address (default: PAPERBOY_HOST)."),
    port: int | None = typer.Option(None, help="Port (default: PAPERBOY_PORT)."),
    workers: int = typer.Option(
        1,
        "--workers",
        help="Server processes sharing the port: more answer more requests at once on more cores "
        "(each adds its model and heap, about 300 MB at 1M papers; the indexes are memory-mapped and shared). "
        "As many as cores; default 1.",
    ),
) -> None:
    """Start the web service."""
    import uvicorn

    from paperboy.digest.scheduler import background_digests
    from paperboy.search.factory import make_embedder, make_indexer
    from paperboy.search.scheduler import background_indexer
    from paperboy.web import supervisor
    from paperboy.web.app import create_app
    from paperboy.web.worker import WORKERS_ENV

    if port is not None and not 1 <= port <= 65535:
        fail(f"--port must be between 1 and 65535, got {port}")
    if not 1 <= workers <= MAX_WORKERS:
        fail(f"--workers must be between 1 and {MAX_WORKERS}, got {workers}")
    # The address served at is the one links in emails point to (without PAPERBOY_BASE_URL).
    settings = ctx.obj.settings.model_copy(
        update={"host": host or ctx.obj.settings.host, "port": port or ctx.obj.settings.port}
    )
    ctx.obj.require_schema()
    _log_to_stderr()
    if settings.mail_outbox is not None:
        logging.getLogger("paperboy.serve").info(
            "no mail is sent: emails (sign-up links, confirmations, digests) are saved in %s "
            "(PAPERBOY_MAIL_OUTBOX; set PAPERBOY_SMTP_HOST and unset it to send)",
            settings.mail_outbox,
        )
    background = settings.index_interval > 0 or settings.digest_interval > 0
    # One model in memory, shared by searches, the indexer and digests (workers load their own).
    embedder = make_embedder(settings) if workers == 1 or background else None
    jobs = []
    if embedder is not None and settings.index_interval > 0:
        jobs.append(
            background_indexer(make_indexer(settings, ctx.obj.sessions, embedder), settings.index_interval)
        )
    if embedder is not None and settings.digest_interval > 0:
        jobs.append(background_digests(settings, ctx.obj.sessions, embedder, settings.digest_interval))
    for job in jobs:
        job.start()
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
        # Forwarded headers only from configured proxies: anyone else could forge the client address
        # that rate limits count (uvicorn would otherwise believe any local process).
        "proxy_headers": bool(settings.trusted_proxies.strip()),
        "forwarded_allow_ips": settings.trusted_proxies.strip() or None,
    }
    try:
        if workers == 1:
            uvicorn.run(create_app(settings, embedder=embedder), **options)
        else:
            # Each worker reads its settings from the environment (paperboy/web/worker.py).
            os.environ.update(
                {
                    "PAPERBOY_HOST": settings.host,
                    "PAPERBOY_PORT": str(settings.port),
                    WORKERS_ENV: str(workers),
                }
            )
            if supervisor.supported():  # a socket per worker: connections spread evenly (web/supervisor.py)
                status = supervisor.Supervisor("paperboy.web.worker:app", workers, options).run()
                if status:
                    raise typer.Exit(status)
            else:
                uvicorn.run("paperboy.web.worker:app", factory=True, workers=workers, **options)
    finally:
        for job in jobs:
            job.stop()


def _log_to_stderr() -> None:
    """Paperboy's own log lines (the background indexer's progress, digest runs) beside uvicorn's."""
    logger = logging.getLogger("paperboy")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def main() -> None:
    """Console-script entry point: unexpected errors get one line, the traceback only with PAPERBOY_DEBUG=1."""
    try:
        app()
    except OperationalError as exc:  # the data cannot be written or read: say why, in words
        if os.environ.get("PAPERBOY_DEBUG"):
            raise
        typer.secho(
            f"error: the database cannot be used: {storage_problem(exc)} ({str(exc.orig).splitlines()[0]}); "
            "what was committed before is kept, and running the command again resumes",
            err=True,
            fg=typer.colors.RED,
        )
        sys.exit(EXIT_ERROR)
    except Exception as exc:
        if os.environ.get("PAPERBOY_DEBUG"):
            raise
        typer.secho(
            f"error: unexpected {type(exc).__name__}: {exc} (set PAPERBOY_DEBUG=1 for the traceback)",
            err=True,
            fg=typer.colors.RED,
        )
        sys.exit(EXIT_ERROR)
