"""`paperboy index` and `paperboy search`: the search engine from the command line."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import typer

from paperboy.cli.context import AppContext, fail
from paperboy.cli.progress import RichProgress
from paperboy.config import Settings
from paperboy.search.backend import IndexBusy, Mode
from paperboy.search.batch_embed import EXECUTORS, BatchEmbedError, batch_embed
from paperboy.search.embedder import Embedder, EmbedderUnavailable
from paperboy.search.factory import make_embedder, make_indexer, make_search_service
from paperboy.search.query import QueryError, SearchFilters
from paperboy.search.service import MODES, Hit, SearchRequest


def load_embedder(settings: Settings) -> Embedder:
    try:
        return make_embedder(settings)
    except EmbedderUnavailable as exc:
        fail(str(exc))


def parse_mode(value: str) -> Mode:
    if value not in MODES:
        fail(f"--mode must be one of {', '.join(MODES)}, got {value!r}")
    return value


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option}: expected YYYY-MM-DD, got {value!r}")


def index_command(
    ctx: typer.Context,
    rebuild: bool = typer.Option(
        False, "--rebuild", help="Recreate the indexes from the database (stored vectors are reused)."
    ),
    executor: str = typer.Option(
        "local",
        "--executor",
        help="Where new vectors are computed: local (in this process) or ray (Ray Data actors; "
        "needs the scale extra), before indexing.",
    ),
    ray_address: str | None = typer.Option(
        None,
        "--ray-address",
        help="Ray cluster to use with --executor ray (default: start a local instance).",
    ),
    workers: int | None = typer.Option(
        None, "--workers", help="Ray actors embedding in parallel, one CPU each (--executor ray; default 1)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Embed and index new or changed papers, remove withdrawn ones (resumable; safe to run from cron)."""
    context: AppContext = ctx.obj
    if executor not in EXECUTORS:
        fail(f"--executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if executor != "ray" and (ray_address is not None or workers is not None):
        fail("--ray-address and --workers need --executor ray")
    if workers is not None and workers < 1:
        fail(f"--workers must be at least 1, got {workers}")
    if ray_address is not None and not ray_address.strip():
        fail("--ray-address must not be empty")
    context.require_schema()
    embedder = load_embedder(context.settings)
    indexer = make_indexer(context.settings, context.sessions, embedder)
    progress = RichProgress(enabled=not quiet)
    try:
        if executor == "ray":
            with indexer.backend.lock():  # no other indexer (cron, `paperboy serve`) embeds meanwhile
                embedded = batch_embed(
                    context.sessions,
                    embedder,
                    "ray",
                    workers=workers or 1,
                    ray_address=ray_address,
                    progress=progress,
                )
            typer.echo(embedded.line())
        summary = indexer.rebuild(progress) if rebuild else indexer.run(progress)
    except (IndexBusy, BatchEmbedError) as exc:
        fail(str(exc))
    for note in summary.notes:
        typer.secho(f"note: {note}", err=True, fg=typer.colors.YELLOW)
    typer.echo(summary.line())


def _hit_dict(hit: Hit, rank: int) -> dict[str, Any]:
    paper = hit.paper
    return {
        "rank": rank,
        "id": paper.arxiv_id,
        "title": paper.title,
        "authors": list(paper.authors),
        "published": paper.published_at.date().isoformat() if paper.published_at else None,
        "categories": list(paper.categories),
        "abstract": paper.abstract,
        "upvotes": hit.totals.upvotes,
        "num_comments": hit.totals.comments,
        "counts": hit.totals.describe(),
        "score": round(hit.score, 6),
        "explain": {"bm25": hit.lexical, "vector": hit.dense, "fused": hit.fused, "match": hit.match},
    }


def _print_hits(rows: list[dict[str, Any]], explain: bool) -> None:
    for row in rows:
        typer.secho(f"{row['rank']:>3}. {row['title']}", bold=True)
        authors = ", ".join(row["authors"][:4]) + (", et al." if len(row["authors"]) > 4 else "")
        typer.echo(f"     {row['id']} · {row['published'] or 'undated'} · {row['counts']} · {authors}")
        abstract = row["abstract"]
        typer.echo(f"     {abstract[:240]}{'…' if len(abstract) > 240 else ''}")
        if explain:
            e = row["explain"]
            typer.echo(f"     bm25={e['bm25']} vector={e['vector']} fused={e['fused']} match={e['match']}")


def search_command(
    ctx: typer.Context,
    query: str = typer.Argument(..., help='Words, "quoted phrases", author:name, cat:cs.LG, or an arXiv id.'),
    k: int = typer.Option(10, "--k", help="Results per page (1-100)."),
    page: int = typer.Option(1, "--page", help="Page of results (1-100)."),
    mode: str = typer.Option("hybrid", "--mode", help="hybrid, lexical (BM25) or dense (vectors)."),
    date_from: str | None = typer.Option(None, "--from", help="Published on or after YYYY-MM-DD."),
    date_to: str | None = typer.Option(None, "--to", help="Published on or before YYYY-MM-DD."),
    categories: list[str] = typer.Option([], "--cat", help="Only these arXiv categories (repeatable)."),
    correct: bool = typer.Option(True, "--correct/--no-correct", help="Correct misspelled words."),
    related: bool = typer.Option(
        False, "--related", help="For an arXiv id: also list related papers after it (else it alone)."
    ),
    explain: bool = typer.Option(False, "--explain", help="Show each hit's BM25, vector and fused scores."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Search titles and abstracts (hybrid BM25 + semantic vectors by default; typos are corrected)."""
    context: AppContext = ctx.obj
    context.require_schema()
    service = make_search_service(context.settings, context.sessions, load_embedder(context.settings))
    filters = SearchFilters(_day(date_from, "--from"), _day(date_to, "--to"), tuple(categories))
    request = SearchRequest(
        query,
        k=k,
        page=page,
        mode=parse_mode(mode),
        filters=filters,
        correct=correct,
        related=related,
        count=True,
    )
    try:
        result = service.search(request)
    except QueryError as exc:
        fail(str(exc))
    status = service.status()
    if result.index_unavailable or status.state == "missing":
        fail(
            "the search index is missing or damaged: run `paperboy index` to rebuild it from the database "
            "(a running `paperboy serve` does so by itself)"
        )
    offset = (page - 1) * k
    rows = [_hit_dict(hit, offset + rank) for rank, hit in enumerate(result.hits, start=1)]
    if as_json:
        document = {
            "query": query,
            "searched_for": result.searched_for,
            "corrected": dict(result.correction.changes) if result.correction else None,
            "relaxed": dict(result.relaxed) or None,
            "mode": mode,
            "page": page,
            "took_ms": round(result.took_ms, 2),
            "total": result.total,
            "total_estimated": result.total_estimated,
            "has_more": result.has_more,
            "index": status.as_json(),
            "results": rows,
        }
        typer.echo(json.dumps(document, indent=2, ensure_ascii=False))
        return
    if status.notice():
        typer.secho(f"note: {status.notice()}", err=True, fg=typer.colors.YELLOW)
    if result.correction:
        typer.echo(f"Showing results for: {result.correction.text}  (--no-correct searches as typed)")
    for compound, head in result.relaxed:
        typer.echo(f"No paper holds '{compound}' as one term: showing papers on '{head}'.")
    if not rows:
        if status.state == "empty":
            typer.echo(
                "No results: the library is empty. Load papers with `paperboy ingest starter` (or see --help)."
            )
        elif result.unknown_words:
            words = ", ".join(f"'{w}'" for w in result.unknown_words)
            typer.echo(f"No results: no paper in the library contains {words}.")
        else:
            typer.echo(
                "No results. Try fewer or other words, remove filters, or --mode dense for related ideas."
            )
    _print_hits(rows, explain)
    more = f"; more on the next page: --page {page + 1}" if result.has_more else ""
    shown = f"{offset + 1}-{offset + len(rows)}" if rows else "0"
    about = "about " if result.total_estimated else ""
    typer.echo(f"{about}{result.total:,} paper(s) match, showing {shown}, in {result.took_ms:.1f} ms{more}")
