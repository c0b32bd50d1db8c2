"""Helpers shared by the network-source ingest tests: run the CLI against the fixture server, read back."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload, sessionmaker
from typer.testing import CliRunner, Result

from paperboy.cli import app
from paperboy.db.models import Paper, PaperVersion

Invoke = Callable[..., Result]


def cli_ingest(cli: CliRunner, source: str, url: str) -> Invoke:
    """`paperboy ingest SOURCE --url URL --delay 0 --json ARGS`, after `paperboy init`."""
    init = cli.invoke(app, ["init"])
    assert init.exit_code == 0, init.output

    def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
        return cli.invoke(app, ["ingest", source, "--url", url, "--delay", "0", "--json", *args], env=env)

    return invoke


def summary_of(result: Result) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def all_papers(sessions: sessionmaker[Session]) -> dict[str, Paper]:
    with sessions() as session:
        query = select(Paper).options(selectinload(Paper.versions))
        return {paper.arxiv_id: paper for paper in session.scalars(query)}


def dump_tables(engine: Engine) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every column of every row of papers and paper_versions."""
    papers, versions = Paper.__table__, PaperVersion.__table__
    with engine.connect() as connection:
        return (
            [tuple(row) for row in connection.execute(select(papers).order_by(papers.c.id))],
            [tuple(row) for row in connection.execute(select(versions).order_by(versions.c.id))],
        )
