"""`paperboy ingest <source>`: every source shares the runner, the progress bar, the summary and exit codes.

Exit status: 0 when everything was accepted, 1 when some records were rejected (the rest is kept),
2 when the input could not be read at all (nothing of the failing page or file was written).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import typer
from rich.markup import escape

from paperboy.cli.context import EXIT_REJECTED, AppContext, fail
from paperboy.cli.progress import RichProgress
from paperboy.ingest.http import PoliteClient
from paperboy.ingest.records import IngestError
from paperboy.ingest.runner import IngestSummary, Source, run_ingest
from paperboy.ingest.sources.arxiv_api import ArxivApiSource
from paperboy.ingest.sources.arxiv_oai import ArxivOaiSource
from paperboy.ingest.sources.files import CsvSource, JsonLinesSource, SnapshotSource
from paperboy.ingest.sources.hf_daily import HfDailySource
from paperboy.ingest.starter import starter_sources

ingest_app = typer.Typer(
    help="Load papers from arXiv, Hugging Face and files (idempotent, resumable).", no_args_is_help=True
)

JSON_OPTION = typer.Option(False, "--json", help="Print the summary as one JSON object on stdout.")
QUIET_OPTION = typer.Option(False, "--quiet", "-q", help="No progress bar.")
FORCE_OPTION = typer.Option(
    False, "--force", help="Read files again even if they were ingested unchanged before."
)
DELAY_OPTION = typer.Option(
    None, "--delay", min=0, help="Seconds between requests (default: PAPERBOY_HTTP_DELAY, 3)."
)


def _client(context: AppContext, delay: float | None, reporter: RichProgress) -> PoliteClient:
    settings = context.settings
    return PoliteClient(
        delay=settings.http_delay if delay is None else delay,
        timeout=settings.http_timeout,
        max_retries=settings.http_max_retries,
        on_wait=lambda message: reporter.console.print(f"[dim]{escape(message)}[/]", highlight=False),
    )


def _run_all(
    context: AppContext,
    make_sources: Callable[[], Sequence[Source]],
    as_json: bool,
    quiet: bool,
    force: bool = False,
    reporter: RichProgress | None = None,
) -> None:
    """Run sources in order, print one summary each, and exit with the status the module doc states."""
    context.require_schema()
    progress = reporter or RichProgress(enabled=not quiet and not as_json)
    summaries: list[IngestSummary] = []
    try:
        for source in make_sources():
            summary = run_ingest(context.sessions, source, progress, force=force)
            summaries.append(summary)
            for note in getattr(source, "notes", []):
                progress.console.print(f"note: {note}", highlight=False, markup=False)
            if not as_json:
                typer.echo(summary.line())
    except IngestError as exc:
        done = "; ".join(s.line() for s in summaries)
        fail(
            f"{exc}"
            + (f" (completed before the error: {done})" if done else "")
            + ("; rerun the command to resume from the failed page" if exc.resumable else "")
        )
    finally:
        if as_json:
            data = [s.as_dict() for s in summaries]
            typer.echo(json.dumps(data[0] if len(data) == 1 else data, indent=2, default=str))
    rejected = sum(s.rejected for s in summaries)
    if rejected:
        typer.secho(
            f"{rejected} record(s) rejected; everything else was kept", err=True, fg=typer.colors.YELLOW
        )
        raise typer.Exit(EXIT_REJECTED)


def _existing_files(paths: list[Path]) -> list[Path]:
    for path in paths:
        if path.is_dir():
            fail(f"{path} is a directory: name the files in it (for example {path}/*.jsonl)")
        if not path.is_file():
            fail(f"{path}: no such file")
    return paths


@ingest_app.command("jsonl")
def ingest_jsonl(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(
        ..., help="JSON-lines files (.jsonl or .jsonl.gz); BEIR corpus files work."
    ),
    id_prefix: str = typer.Option("doc", help="Prefix for ids that are not arXiv ids (e.g. 'scifact')."),
    as_json: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
    force: bool = FORCE_OPTION,
) -> None:
    """Any corpus with title and abstract, one JSON object per line (id, authors, date, categories optional)."""
    batch = ctx.obj.settings.ingest_batch_size
    _run_all(
        ctx.obj,
        lambda: [JsonLinesSource(p, batch, id_prefix=id_prefix) for p in _existing_files(files)],
        as_json,
        quiet,
        force,
    )


@ingest_app.command("csv")
def ingest_csv(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(
        ..., help="CSV files with a header row naming at least title and abstract."
    ),
    id_prefix: str = typer.Option("doc", help="Prefix for ids that are not arXiv ids."),
    as_json: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
    force: bool = FORCE_OPTION,
) -> None:
    """A CSV corpus: columns title, abstract, and optionally id, authors (';'-separated), date, categories."""
    batch = ctx.obj.settings.ingest_batch_size
    _run_all(
        ctx.obj,
        lambda: [CsvSource(p, batch, id_prefix=id_prefix) for p in _existing_files(files)],
        as_json,
        quiet,
        force,
    )


@ingest_app.command("arxiv-snapshot")
def ingest_snapshot(
    ctx: typer.Context,
    file: Path = typer.Argument(..., help="arxiv-metadata-oai-snapshot.json (JSON lines; may be .gz)."),
    as_json: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
    force: bool = FORCE_OPTION,
) -> None:
    """The Kaggle arXiv metadata snapshot, streamed in constant memory and resumable."""
    batch = ctx.obj.settings.ingest_batch_size
    _run_all(
        ctx.obj, lambda: [SnapshotSource(p, batch) for p in _existing_files([file])], as_json, quiet, force
    )


@ingest_app.command("hf-daily")
def ingest_hf_daily(
    ctx: typer.Context,
    location: str = typer.Argument(..., help="A saved /api/daily_papers JSON file, or the API URL."),
    as_json: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """A Hugging Face daily_papers response: papers, daily entries (date, submitter) and upvotes."""
    _run_all(ctx.obj, lambda: [HfDailySource(location)], as_json, quiet)


@ingest_app.command("arxiv-api")
def ingest_arxiv_api(
    ctx: typer.Context,
    ids: str | None = typer.Option(
        None, "--ids", help="Comma-separated arXiv ids (e.g. 2410.17243,1706.03762v5)."
    ),
    query: str | None = typer.Option(
        None, "--query", help="arXiv search query, e.g. 'cat:cs.CL AND ti:transformer'."
    ),
    max_results: int | None = typer.Option(
        None, "--max-results", min=1, help="Stop after this many results."
    ),
    page_size: int = typer.Option(100, "--page-size", min=1, max=2000, help="Results per request."),
    days: int | None = typer.Option(None, "--days", min=1, help="Only papers submitted in the last N days."),
    url: str | None = typer.Option(None, "--url", help="API endpoint (default: PAPERBOY_ARXIV_API_URL)."),
    delay: float | None = DELAY_OPTION,
    as_json: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """The arXiv Atom API, by id list or by search query, with paging."""
    reporter = RichProgress(enabled=not quiet and not as_json)
    id_list = [part.strip() for part in (ids or "").split(",") if part.strip()]

    def sources() -> list[Source]:
        client = _client(ctx.obj, delay, reporter)
        endpoint = url or ctx.obj.settings.arxiv_api_url
        return [ArxivApiSource(client, endpoint, id_list, query, page_size, max_results, days)]

    _run_all(ctx.obj, sources, as_json, quiet, reporter=reporter)


@ingest_app.command("arxiv-oai")
def ingest_arxiv_oai(
    ctx: typer.Context,
    from_date: str | None = typer.Option(
        None,
        "--from",
        help="Harvest records changed on/after YYYY-MM-DD (default: where the last completed harvest ended).",
    ),
    until_date: str | None = typer.Option(
        None, "--until", help="Harvest records changed on/before YYYY-MM-DD."
    ),
    set_spec: str | None = typer.Option(None, "--set", help="OAI set, e.g. 'cs' or 'physics:hep-th'."),
    metadata_format: str = typer.Option("arXiv", "--format", help="Metadata format: arXiv or arXivRaw."),
    url: str | None = typer.Option(None, "--url", help="OAI-PMH endpoint (default: PAPERBOY_ARXIV_OAI_URL)."),
    delay: float | None = DELAY_OPTION,
    as_json: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Harvest arXiv over OAI-PMH, page by page; an interrupted harvest resumes where it stopped."""
    reporter = RichProgress(enabled=not quiet and not as_json)

    def sources() -> list[Source]:
        client = _client(ctx.obj, delay, reporter)
        endpoint = url or ctx.obj.settings.arxiv_oai_url
        return [ArxivOaiSource(client, endpoint, metadata_format, from_date, until_date, set_spec)]

    _run_all(ctx.obj, sources, as_json, quiet, reporter=reporter)


@ingest_app.command("starter")
def ingest_starter(
    ctx: typer.Context,
    as_json: bool = JSON_OPTION,
    quiet: bool = QUIET_OPTION,
) -> None:
    """Load a starting corpus: the real papers under PAPERBOY_SHARED_DATA when present, else recent arXiv."""
    reporter = RichProgress(enabled=not quiet and not as_json)
    settings = ctx.obj.settings
    _run_all(
        ctx.obj,
        lambda: starter_sources(settings, _client(ctx.obj, None, reporter)),
        as_json,
        quiet,
        reporter=reporter,
    )
