"""`paperboy enrich ...`: optional jobs that ask other services about the library's papers."""

from __future__ import annotations

import typer

from paperboy.cli.progress import RichProgress

enrich_app = typer.Typer(
    help="Add what other services know (GitHub stars and activity).", no_args_is_help=True
)


@enrich_app.command("github")
def enrich_github(
    ctx: typer.Context,
    limit: int = typer.Option(500, min=1, max=100_000, help="Check at most this many repositories."),
    refresh_days: int = typer.Option(7, min=1, max=365, help="Check again repositories older than this."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Stars and last push of the GitHub repositories papers name (PAPERBOY_GITHUB_TOKEN helps: 5,000
    requests an hour instead of 60). Resumable: each answer is kept as it comes."""
    from paperboy.enrich.github import GithubEnricher

    ctx.obj.require_schema()
    enricher = GithubEnricher(ctx.obj.settings, ctx.obj.sessions)
    summary = enricher.run(limit, refresh_days, RichProgress(enabled=not quiet))
    line = f"{summary.checked} repositories checked, {summary.missing} gone, {summary.failed} not answered"
    typer.echo(f"{line}; {summary.remaining} left for a later run")
    if summary.rate_limited_until is not None:
        typer.echo(
            f"GitHub's rate limit ran out: run again after {summary.rate_limited_until:%Y-%m-%d %H:%M} UTC "
            "(set PAPERBOY_GITHUB_TOKEN for a higher limit)",
            err=True,
        )
