"""`paperboy eval`: search quality on BEIR data (clean and misspelled queries) and on half-remembered
titles, through the same ingest, indexer and search service as production."""

from __future__ import annotations

import json
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from paperboy.cli.context import AppContext, fail
from paperboy.cli.progress import RichProgress
from paperboy.cli.search import load_embedder, parse_mode
from paperboy.config import Settings
from paperboy.db.engine import engine_from_settings, session_factory
from paperboy.db.migrate import upgrade
from paperboy.db.repositories.search_docs import all_titles
from paperboy.ingest.records import IngestError
from paperboy.ingest.runner import run_ingest
from paperboy.ingest.sources.files import JsonLinesSource
from paperboy.personal.evaluation import evaluate_recommendations
from paperboy.search.backend import Mode
from paperboy.search.embedder import MINILM_NAME, Embedder
from paperboy.search.evaluation import (
    BeirCorpusSource,
    BeirData,
    evaluate,
    load_beir,
    misspelled,
    title_queries,
)
from paperboy.search.factory import make_indexer, make_search_service
from paperboy.search.service import MODES, SearchService

eval_app = typer.Typer(help="Measure search quality.", no_args_is_help=True)


def _prepared(
    context: AppContext, home: Path, sources: list[Any], progress: RichProgress
) -> tuple[sessionmaker[Session], Settings, Embedder, Engine]:
    """A data dir of its own, loaded through the real ingest and indexer."""
    settings = context.settings.model_copy(update={"home": home, "database_url": ""})
    engine = engine_from_settings(settings)
    upgrade(engine)
    sessions = session_factory(engine)
    for source in sources:
        run_ingest(sessions, source, progress)
    embedder = load_embedder(settings)
    make_indexer(settings, sessions, embedder).run(progress)
    return sessions, settings, embedder, engine


def _report(
    label: str,
    data: BeirData,
    service: SearchService,
    modes: list[Mode],
    misspell_seed: int | None,
    correct: bool,
    progress: RichProgress,
    as_json: bool,
) -> None:
    """Evaluate each mode on the queries as given and, with a seed, misspelled; print a row for each."""
    sets = [("clean", data)] + ([("misspelled", misspelled(data, misspell_seed))] if misspell_seed else [])
    rows = []
    for mode in modes:
        for name, queries in sets:
            progress.start(f"{name} queries ({mode})", len(queries.queries), "queries")
            try:
                metrics = evaluate(service, queries, mode, progress, correct=correct)
            finally:
                progress.finish()
            rows.append({"queries_set": name, "correct": correct, **metrics.as_dict()})
    if as_json:
        typer.echo(json.dumps(rows if len(rows) > 1 else rows[0]))
        return
    typer.echo(f"{label} queries={len(data.queries)} typo correction {'on' if correct else 'off'}")
    typer.echo(
        f"  {'mode':<8} {'queries':<11} {'ndcg@10':>8} {'recall@10':>10} {'recall@100':>11} {'mrr@10':>8}"
    )
    for row in rows:
        typer.echo(
            f"  {row['mode']:<8} {row['queries_set']:<11} {row['ndcg@10']:>8.4f} {row['recall@10']:>10.4f} "
            f"{row['recall@100']:>11.4f} {row['mrr@10']:>8.4f}"
        )


def _modes(value: str) -> list[Mode]:
    return [parse_mode(part) for part in value.split(",")] if value != "all" else list(MODES)


_MISSPELL_HELP = "Also evaluate the queries with one random edit in every word of 5+ letters, from this seed."


@eval_app.command("beir")
def eval_beir(
    ctx: typer.Context,
    directory: Path = typer.Argument(..., help="A BEIR dataset directory (corpus, queries.jsonl, qrels/)."),
    split: str = typer.Option("test", "--split", help="Which qrels/<split>.tsv to evaluate."),
    mode: str = typer.Option("hybrid", "--mode", help="hybrid, lexical, dense, a comma list, or all."),
    data_dir: Path | None = typer.Option(
        None,
        "--data-dir",
        help="Keep the loaded corpus and index here and reuse them (default: a throw-away directory).",
    ),
    misspell_seed: int | None = typer.Option(None, "--misspell", help=_MISSPELL_HELP),
    correct: bool = typer.Option(True, "--correct/--no-correct", help="Correct misspelled query words."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Load a BEIR corpus into its own data dir, index it, and report nDCG@10, Recall@10/100 and MRR@10."""
    context: AppContext = ctx.obj
    modes = _modes(mode)
    try:
        data = load_beir(directory, split)
    except IngestError as exc:
        fail(str(exc))
    progress = RichProgress(enabled=not quiet and not as_json)
    with tempfile.TemporaryDirectory(prefix="paperboy-eval-") as scratch:
        home = data_dir or Path(scratch)
        sources = [BeirCorpusSource(path) for path in data.corpus_files]
        sessions, settings, embedder, engine = _prepared(context, home, sources, progress)
        service = make_search_service(settings, sessions, embedder)
        label = f"{directory} split={split}"
        _report(label, data, service, modes, misspell_seed, correct, progress, as_json)
        engine.dispose()


@eval_app.command("titles")
def eval_titles(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(
        None, help="JSONL files of papers (default: the arXiv sample under PAPERBOY_SHARED_DATA)."
    ),
    queries: int = typer.Option(300, "--queries", help="How many half-remembered titles to ask."),
    seed: int = typer.Option(1, "--seed", help="Seed that picks the papers and the words of their titles."),
    mode: str = typer.Option("hybrid", "--mode", help="hybrid, lexical, dense, a comma list, or all."),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Keep the loaded library here and reuse it."
    ),
    misspell_seed: int | None = typer.Option(None, "--misspell", help=_MISSPELL_HELP),
    correct: bool = typer.Option(True, "--correct/--no-correct", help="Correct misspelled query words."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Half-remembered titles: three or four words of a real paper's title must find that paper."""
    context: AppContext = ctx.obj
    modes = _modes(mode)
    if not 1 <= queries <= 100_000:
        fail(f"--queries must be between 1 and 100000, got {queries}")
    paths = files or sorted((context.settings.shared_data / "arxiv").glob("arxiv_api_*.jsonl"))
    if not paths:
        fail(f"no JSONL files given and none in {context.settings.shared_data / 'arxiv'}")
    progress = RichProgress(enabled=not quiet and not as_json)
    with tempfile.TemporaryDirectory(prefix="paperboy-eval-") as scratch:
        home = data_dir or Path(scratch)
        try:
            sources = [JsonLinesSource(path) for path in paths]
        except IngestError as exc:
            fail(str(exc))
        sessions, settings, embedder, engine = _prepared(context, home, sources, progress)
        with sessions() as session:
            titles = all_titles(session)
        data = title_queries(titles, queries, seed)
        service = make_search_service(settings, sessions, embedder)
        _report(
            f"titles of {len(titles)} papers", data, service, modes, misspell_seed, correct, progress, as_json
        )
        engine.dispose()


@eval_app.command("recommendations")
def eval_recommendations(
    ctx: typer.Context,
    split: str | None = typer.Option(
        None,
        "--split",
        help="Train on signals before this day (YYYY-MM-DD); default: when 80% had been given.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """Replay this instance's signals with a temporal split; nDCG@10, MRR and balanced accuracy per ranker."""
    context: AppContext = ctx.obj
    context.require_schema()
    when = None
    if split is not None:
        try:
            when = datetime.strptime(split, "%Y-%m-%d")
        except ValueError:
            fail(f"--split {split!r}: not a day (YYYY-MM-DD)")
    with context.sessions() as session:
        report = evaluate_recommendations(session, MINILM_NAME, when)
    if report is None or report.users == 0:
        fail(
            "not enough signals to replay: users need upvotes, saves or seeds on both sides of the split date"
        )
    rows = [
        {
            "ranker": r.name,
            "ndcg@10": round(r.mean(r.ndcg), 4),
            "mrr": round(r.mean(r.mrr), 4),
            "balanced_accuracy": round(r.mean(r.balanced), 4),
        }
        for r in report.results
    ]
    if as_json:
        data = {"split": report.split.isoformat(), "users": report.users, "candidates": report.candidates}
        typer.echo(json.dumps({**data, "rankers": rows}, indent=2))
        return
    typer.echo(f"split {report.split:%Y-%m-%d}: {report.users} users, {report.candidates} papers to rank")
    typer.echo(f"{'ranker':34} {'nDCG@10':>8} {'MRR':>8} {'bal.acc':>8}")
    for row in rows:
        typer.echo(
            f"{row['ranker']:34} {row['ndcg@10']:>8.4f} {row['mrr']:>8.4f} {row['balanced_accuracy']:>8.4f}"
        )
