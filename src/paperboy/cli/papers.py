"""`paperboy papers ...`: look at what the system of record holds."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import typer

from paperboy.cli.context import fail
from paperboy.db.models import Paper
from paperboy.db.repositories.community import Totals, paper_totals, totals_of
from paperboy.db.repositories.papers import get_paper, recent_papers
from paperboy.feed.daily import period_items
from paperboy.feed.periods import Period

papers_app = typer.Typer(help="List and show papers.", no_args_is_help=True)


def paper_dict(paper: Paper, totals: Totals) -> dict[str, Any]:
    """The JSON shape of one paper in CLI output (totals as every other surface counts them)."""
    return {
        "id": paper.arxiv_id,
        "version": paper.version,
        "title": paper.title,
        "authors": paper.authors,
        "categories": paper.categories,
        "primary_category": paper.primary_category,
        "published": paper.published_at.isoformat() if paper.published_at else None,
        "updated": paper.updated_at.isoformat() if paper.updated_at else None,
        "upvotes": totals.upvotes,
        "num_comments": totals.comments,
        "abstract": paper.abstract,
    }


@papers_app.command("list")
def list_papers(
    ctx: typer.Context,
    on_date: str | None = typer.Option(
        None, "--date", help="The daily list of YYYY-MM-DD (most upvoted first)."
    ),
    limit: int = typer.Option(50, min=1, max=10_000, help="At most this many papers."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """The daily list of a date, or the newest papers."""
    ctx.obj.require_schema()
    rows: list[dict[str, Any]] = []
    with ctx.obj.sessions() as session:
        if on_date is not None:
            try:
                day = date.fromisoformat(on_date)
            except ValueError:
                fail(f"--date: expected YYYY-MM-DD, got {on_date!r}")
            for item in period_items(session, Period.day(day))[:limit]:
                row = paper_dict(item.paper, item.totals)
                row.update(submitted_by=item.entry.submitter_name, date=item.entry.date.isoformat())
                rows.append(row)
        else:
            papers = recent_papers(session, limit=limit)
            totals = paper_totals(session, [p.id for p in papers])
            rows = [paper_dict(p, totals[p.id]) for p in papers]
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for row in rows:
        typer.echo(f"{row['id']:<18} {row['upvotes']:>4}  {row['title'][:100]}")
    typer.echo(f"{len(rows)} paper(s)")


@papers_app.command("show")
def show_paper(
    ctx: typer.Context,
    arxiv_id: str = typer.Argument(..., help="arXiv id without version, e.g. 2410.17243."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One paper with its metadata and version history."""
    ctx.obj.require_schema()
    with ctx.obj.sessions() as session:
        paper = get_paper(session, arxiv_id)
        if paper is None:
            fail(f"no paper {arxiv_id!r}")
        row = paper_dict(paper, totals_of(session, paper.id))
        row.update(
            comments=paper.comments,
            journal_ref=paper.journal_ref,
            doi=paper.doi,
            license=paper.license,
            source=paper.source,
            withdrawn=paper.withdrawn,
            versions=[
                {
                    "version": v.version,
                    "submitted_at": v.submitted_at.isoformat() if v.submitted_at else None,
                    "size": v.size,
                }
                for v in paper.versions
            ],
        )
    if as_json:
        typer.echo(json.dumps(row, indent=2, ensure_ascii=False))
        return
    for key, value in row.items():
        shown = _plain(key, value)
        if shown:
            typer.echo(f"{key}: {shown}")


def _plain(key: str, value: Any) -> str:
    """A value as a person reads it: no Python `None`, `[]`, `True` or dicts (empty fields are left out)."""
    if value is None or value == [] or value == "":
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "versions":
        return "; ".join(
            f"{v['version']}" + (f" ({v['submitted_at'][:10]})" if v["submitted_at"] else "") for v in value
        )
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)
