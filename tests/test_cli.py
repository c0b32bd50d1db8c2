"""The command line: help everywhere, settings shown and checked, docs kept honest, clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from paperboy.cli import app
from paperboy.config import Settings
from paperboy.db.migrate import head_revision
from web_support import HF_DAILY

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def _all_command_paths() -> list[list[str]]:
    root = get_command(app)
    paths: list[list[str]] = []

    def walk(command: Any, prefix: list[str]) -> None:
        paths.append(prefix)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*prefix, name])

    walk(root, [])
    return paths


COMMAND_PATHS = _all_command_paths()


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda p: " ".join(p) or "paperboy")
def test_every_command_has_help(path: list[str]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
    docstring_line = result.output.split("Usage:", 1)[1]
    assert len(docstring_line.strip()) > 20


@pytest.mark.parametrize("path", [p for p in COMMAND_PATHS if len(p) >= 1], ids=lambda p: " ".join(p))
def test_every_command_is_documented_in_the_readme(path: list[str]) -> None:
    assert f"paperboy {path[0]}" in README
    if len(path) == 2:
        assert path[1] in README, f"`paperboy {' '.join(path)}` is not in README.md"


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_every_setting_is_documented_in_the_readme(name: str) -> None:
    assert f"PAPERBOY_{name.upper()}" in README


def test_config_shows_settings_from_the_environment(tmp_path: Path) -> None:
    runner = CliRunner(env={"PAPERBOY_HOME": str(tmp_path / "h"), "PAPERBOY_PORT": "9123"})
    result = runner.invoke(app, ["config", "--json"])
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["home"] == str(tmp_path / "h")
    assert shown["port"] == "9123"
    assert shown["effective_database_url"] == f"sqlite:///{(tmp_path / 'h' / 'paperboy.db').resolve()}"
    text = runner.invoke(app, ["config"]).output
    assert "PAPERBOY_DATABASE_URL" in text and "PAPERBOY_SHARED_DATA" in text


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"PAPERBOY_PORT": "eighty"}, "PAPERBOY_PORT"),
        ({"PAPERBOY_DATABASE_URL": "mysql://x/y"}, "PAPERBOY_DATABASE_URL"),
        ({"PAPERBOY_HTTP_DELAY": "-1"}, "PAPERBOY_HTTP_DELAY"),
    ],
)
def test_bad_settings_are_named(env: dict[str, str], named: str) -> None:
    result = CliRunner().invoke(app, ["config"], env=env)
    assert result.exit_code == 2
    assert named in result.output
    assert "Traceback" not in result.output


def test_commands_refuse_an_uninitialized_database(tmp_path: Path) -> None:
    runner = CliRunner(env={"PAPERBOY_HOME": str(tmp_path / "empty")})
    result = runner.invoke(app, ["papers", "list"])
    assert result.exit_code == 2
    assert "paperboy init" in result.output


def test_init_is_idempotent(cli: CliRunner) -> None:
    first = cli.invoke(app, ["init"])
    assert first.exit_code == 0, first.output
    assert "upgraded" in first.output or "up to date" in first.output
    second = cli.invoke(app, ["init"])
    assert second.exit_code == 0
    assert "already up to date" in second.output
    current = cli.invoke(app, ["db", "current"])
    assert f"current: {head_revision()}" in current.output


def test_unknown_paper_and_bad_date_are_clear_errors(cli: CliRunner) -> None:
    cli.invoke(app, ["init"])
    missing = cli.invoke(app, ["papers", "show", "9999.99999"])
    assert missing.exit_code == 2
    assert "no paper '9999.99999'" in missing.output
    bad_date = cli.invoke(app, ["papers", "list", "--date", "2024-13-01"])
    assert bad_date.exit_code == 2
    assert "--date" in bad_date.output


def test_missing_input_file_is_named(cli: CliRunner, tmp_path: Path) -> None:
    cli.invoke(app, ["init"])
    result = cli.invoke(app, ["ingest", "jsonl", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "nope.jsonl: no such file" in result.output
    folder = cli.invoke(app, ["ingest", "jsonl", str(tmp_path)])
    assert folder.exit_code == 2
    assert f"{tmp_path} is a directory: name the files in it" in " ".join(folder.output.split())


def test_papers_show_prints_no_python_values(cli: CliRunner, shared_data: Path) -> None:
    cli.invoke(app, ["init"])
    loaded = cli.invoke(app, ["ingest", "hf-daily", str(shared_data / HF_DAILY)])
    assert loaded.exit_code == 0, loaded.output
    shown = cli.invoke(app, ["papers", "show", "2410.17243"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert "upvotes: 64" in lines and "num_comments: 3" in lines
    assert any(line.startswith("authors: ") and "', '" not in line and "[" not in line for line in lines)
    for value in (": None", ": []", ": True", ": False", "{'"):
        assert value not in shown.output, value


def test_progress_off_a_terminal_prints_plain_lines_with_counts_and_rate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bar cannot redraw in a log file or a pipe (cron, `paperboy index > log`): without plain lines,
    a 40-minute vector pass would print nothing until it ends."""
    import io

    from rich.console import Console

    from paperboy.cli import progress as module

    out = io.StringIO()
    progress = module.RichProgress(Console(file=out, force_terminal=False, width=200))
    monkeypatch.setattr(module, "PLAIN_LINE_SECONDS", 0.0)
    progress.start("vectors", 400, "papers")
    progress.advance(100, 100)
    progress.advance(100, 100)
    progress.finish()
    lines = [line for line in out.getvalue().splitlines() if line.startswith("vectors: ")]
    assert len(lines) == 2, out.getvalue()
    assert "100 papers" in lines[0] and "(25.0%)" in lines[0] and "/s" in lines[0]
    assert "200 papers" in lines[1] and "(50.0%)" in lines[1]
