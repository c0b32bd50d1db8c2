"""`paperboy index`, `paperboy search` and `paperboy eval`: the search engine from the command line."""

from __future__ import annotations

import json
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import typer

from paperboy.cli.context import AppContext, fail
from paperboy.cli.progress import RichProgress
from paperboy.config import Settings
from paperboy.db.engine import engine_from_settings, session_factory
from paperboy.db.migrate import upgrade
from paperboy.ingest.records import IngestError
from paperboy.ingest.runner import run_ingest
from paperboy.search.backend import IndexBusy, Mode
from paperboy.search.batch_embed import EXECUTORS, BatchEmbedError, batch_embed
from paperboy.search.embedder import Embedder, EmbedderUnavailable
from paperboy.search.evaluation import BeirCorpusSource, evaluate, load_beir
from paperboy.search.factory import make_embedder, make_indexer, make_search_service
from paperboy.search.query import QueryError, SearchFilters
from paperboy.search.service import MODES, Hit, SearchRequest

eval_app = typer.Typer(help="Measure search quality.", no_args_is_help=True)


def _embedder(settings: Settings) -> Embedder:
    try:
        return make_embedder(settings)
    except EmbedderUnavailable as exc:
        fail(str(exc))


def _mode(value: str) -> Mode:
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
    embedder = _embedder(context.settings)
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
        "score": round(hit.score, 6),
        "explain": {"bm25": hit.lexical, "vector": hit.dense, "fused": hit.fused, "match": hit.match},
    }


def search_command(
    ctx: typer.Context,
    query: str = typer.Argument(..., help='Words, "quoted phrases", author:name, cat:cs.LG.'),
    k: int = typer.Option(10, "--k", help="Results per page (1-100)."),
    page: int = typer.Option(1, "--page", help="Page of results (1-100)."),
    mode: str = typer.Option("hybrid", "--mode", help="hybrid, lexical (BM25) or dense (vectors)."),
    date_from: str | None = typer.Option(None, "--from", help="Published on or after YYYY-MM-DD."),
    date_to: str | None = typer.Option(None, "--to", help="Published on or before YYYY-MM-DD."),
    categories: list[str] = typer.Option([], "--cat", help="Only these arXiv categories (repeatable)."),
    explain: bool = typer.Option(False, "--explain", help="Show each hit's BM25, vector and fused scores."),
    as_json: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Search titles and abstracts (hybrid BM25 + semantic vectors by default)."""
    context: AppContext = ctx.obj
    context.require_schema()
    service = make_search_service(context.settings, context.sessions, _embedder(context.settings))
    filters = SearchFilters(_day(date_from, "--from"), _day(date_to, "--to"), tuple(categories))
    try:
        result = service.search(SearchRequest(query, k=k, page=page, mode=_mode(mode), filters=filters))
    except QueryError as exc:
        fail(str(exc))
    offset = (page - 1) * k
    rows = [_hit_dict(hit, offset + rank) for rank, hit in enumerate(result.hits, start=1)]
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "query": query,
                    "mode": mode,
                    "page": page,
                    "took_ms": round(result.took_ms, 2),
                    "has_more": result.has_more,
                    "results": rows,
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    if not rows:
        typer.echo("No results. Try fewer or other words, remove filters, or --mode dense for related ideas.")
    for row in rows:
        typer.secho(f"{row['rank']:>3}. {row['title']}", bold=True)
        authors = ", ".join(row["authors"][:4]) + (", et al." if len(row["authors"]) > 4 else "")
        typer.echo(f"     {row['id']} · {row['published'] or 'undated'} · {authors}")
        abstract = row["abstract"]
        typer.echo(f"     {abstract[:240]}{'…' if len(abstract) > 240 else ''}")
        if explain:
            e = row["explain"]
            typer.echo(f"     bm25={e['bm25']} vector={e['vector']} fused={e['fused']} match={e['match']}")
    typer.echo(
        f"{len(rows)} result(s) in {result.took_ms:.1f} ms"
        + (" (more on the next page)" if result.has_more else "")
    )


@eval_app.command("beir")
def eval_beir(
    ctx: typer.Context,
    directory: Path = typer.Argument(..., help="A BEIR dataset directory (corpus, queries.jsonl, qrels/)."),
    split: str = typer.Option("test", "--split", help="Which qrels/<split>.tsv to evaluate."),
    mode: str = typer.Option("hybrid", "--mode", help="hybrid, lexical or dense."),
    data_dir: Path | None = typer.Option(
        None,
        "--data-dir",
        help="Keep the loaded corpus and index here and reuse them (default: a throw-away directory).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object with the metrics."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Load a BEIR corpus into its own data dir, index it, and report nDCG@10, Recall@10/100 and MRR@10."""
    context: AppContext = ctx.obj
    try:
        data = load_beir(directory, split)
    except IngestError as exc:
        fail(str(exc))
    progress = RichProgress(enabled=not quiet and not as_json)
    with tempfile.TemporaryDirectory(prefix="paperboy-eval-") as scratch:
        home = data_dir or Path(scratch)
        settings = context.settings.model_copy(update={"home": home, "database_url": ""})
        engine = engine_from_settings(settings)
        upgrade(engine)
        sessions = session_factory(engine)
        for path in data.corpus_files:
            run_ingest(sessions, BeirCorpusSource(path), progress)
        embedder = _embedder(settings)
        make_indexer(settings, sessions, embedder).run(progress)
        service = make_search_service(settings, sessions, embedder)
        progress.start(f"queries ({mode})", len(data.queries), "queries")
        try:
            metrics = evaluate(service, data, _mode(mode), progress)
        finally:
            progress.finish()
        engine.dispose()
    result = metrics.as_dict()
    if as_json:
        typer.echo(json.dumps(result))
        return
    typer.echo(f"{directory} split={split} mode={mode} queries={metrics.queries}")
    for key in ("ndcg@10", "recall@10", "recall@100", "mrr@10"):
        typer.echo(f"  {key:<11} {result[key]:.4f}")
