"""`paperboy recommend --user NAME`: a user's recommendations with their reasons, as text or JSON."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import typer
from sqlalchemy import func, select

from paperboy.cli.context import AppContext, fail
from paperboy.db.models import User
from paperboy.personal.recommender import MAX_LIMIT, Window, WindowError, recommend
from paperboy.search.embedder import MINILM_NAME


def _day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        fail(f"{option} {value!r}: not a day (YYYY-MM-DD)")


def recommend_command(
    ctx: typer.Context,
    username: str = typer.Option(..., "--user", help="The account's username or email."),
    since: str | None = typer.Option(None, "--since", help="First publication day, YYYY-MM-DD."),
    until: str | None = typer.Option(None, "--until", help="Last publication day, YYYY-MM-DD."),
    limit: int = typer.Option(20, "--limit", min=1, max=MAX_LIMIT, help="How many papers."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON array."),
) -> None:
    """Rank the window's papers (by default the last 30 days of the library) for one user, with reasons."""
    context: AppContext = ctx.obj
    context.require_schema()
    first, last = _day(since, "--since"), _day(until, "--until")
    with context.sessions() as session:
        column = User.email if "@" in username else User.username
        user = session.scalar(select(User).where(func.lower(column) == username.strip().lower()))
        if user is None:
            fail(f"--user {username!r}: no such account")
        try:
            window = Window.of(session, first, last)
        except WindowError as exc:
            fail(f"--{exc.parameter}: {exc}")
        result = recommend(session, user, MINILM_NAME, window, limit)
        rows: list[dict[str, Any]] = [
            {
                "id": item.paper.arxiv_id,
                "title": item.paper.title,
                "published": item.paper.published_at.date().isoformat() if item.paper.published_at else None,
                "score": round(item.score, 4),
                "reasons": [reason.json() for reason in item.reasons],
            }
            for item in result.items
        ]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    typer.echo(f"For {user.username}, papers published {window.label} ({result.candidates} candidates):")
    for note in result.notes:
        typer.echo(note)
    for n, row in enumerate(rows, start=1):
        typer.echo(f"{n:>3}. {row['id']}  {row['title']}")
        typer.echo("      " + " · ".join(reason["text"] for reason in row["reasons"]))
