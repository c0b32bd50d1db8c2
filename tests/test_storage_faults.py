"""A full disk and a read-only data dir, for real: the data dir is a small tmpfs mount (skipped, with a
message, where this machine cannot mount one). Writes answer 503 with a message that says what is wrong
and a log line for the operator, reads keep working, the CLI exits with a clear line instead of a
traceback, and nothing committed before is lost; freeing the disk brings writes back."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from paperboy.config import Settings
from paperboy.db.engine import engine_from_settings, session_factory, storage_problem
from paperboy.db.migrate import upgrade
from web_support import ingest_hf_daily, make_client, sign_up

PAPERBOY = Path(sys.executable).parent / "paperboy"


def _mount(target: Path, size: str) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(target)], capture_output=True
    )
    return done.returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MB tmpfs as the data dir."""
    home = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    if os.geteuid() != 0 or not _mount(home, "24m"):
        pytest.skip(
            "this machine cannot mount a tmpfs (needs root and mount rights): full-disk tests skipped"
        )
    try:
        yield home
    finally:
        subprocess.run(["umount", "-l", str(home)], capture_output=True)


def _fill(home: Path, leave: int = 0) -> Path:
    """Fill the disk to the last byte but `leave` (unbuffered writes, so no byte waits in a buffer)."""
    filler = home / "filler"
    descriptor = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for block in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(descriptor, b"\0" * block)
            except OSError:
                continue
    finally:
        os.close(descriptor)
    if leave:
        os.truncate(filler, max(filler.stat().st_size - leave, 0))
    return filler


def _count(url: str, table: str) -> int:
    engine = create_engine(url)
    with engine.connect() as connection:
        found = int(connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())
    engine.dispose()
    return found


def _library(home: Path, shared_data: Path) -> Settings:
    """A migrated SQLite library in `home` with the daily list of 2024-10-25."""
    outbox = home.parent / f"{home.name}-outbox"  # sign-up's email, outside the disk that fills up
    settings = Settings(home=home, database_url="", shared_data=shared_data, mail_outbox=outbox)
    engine = engine_from_settings(settings)
    upgrade(engine)
    ingest_hf_daily(session_factory(engine), shared_data)
    engine.dispose()
    return settings


def test_a_full_disk_answers_503_keeps_reads_and_recovers(
    small_disk: Path, shared_data: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _library(small_disk, shared_data)
    client = make_client(settings)
    token = sign_up(client, "alice")
    filler = _fill(small_disk)
    caplog.set_level(logging.ERROR, logger="paperboy.web")
    body = "A comment that must not fit on a full disk. " * 100
    written = client.post("/papers/2410.17243/comments", data={"csrf_token": token, "body": body})
    assert written.status_code == 503 and "its disk is full" in written.text
    assert any("its disk is full" in r.getMessage() for r in caplog.records), "a clear log line"
    assert client.get("/papers/2410.17243").status_code == 200, "reads keep working"
    assert client.get("/").status_code == 200
    filler.unlink()
    again = client.post("/papers/2410.17243/comments", data={"csrf_token": token, "body": body})
    assert again.status_code == 303, again.text[:300]
    assert _count(settings.effective_database_url, "daily_entries") == 29, "nothing committed was lost"


def test_ingest_on_a_full_disk_stops_with_a_clear_line_and_loses_nothing(
    small_disk: Path, shared_data: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")}
    env.update(PAPERBOY_HOME=str(small_disk), PAPERBOY_SHARED_DATA=str(shared_data), HF_HUB_OFFLINE="1")
    assert subprocess.run([str(PAPERBOY), "init"], env=env, capture_output=True).returncode == 0
    lines = []
    for part in sorted((shared_data / "arxiv").glob("arxiv_api_*.jsonl")):
        lines += part.read_text().splitlines()
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(lines) + "\n")
    first = tmp_path / "first.jsonl"
    first.write_text("\n".join(lines[:500]) + "\n")
    assert subprocess.run([str(PAPERBOY), "ingest", "jsonl", str(first), "-q"], env=env).returncode == 0
    filler = _fill(small_disk, leave=400_000)  # room to open the database, not to take the whole file
    result = subprocess.run(
        [str(PAPERBOY), "ingest", "jsonl", str(corpus), "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "error: the database cannot be used: its disk is full" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    url = f"sqlite:///{small_disk / 'paperboy.db'}"
    kept = _count(url, "papers")
    assert kept >= 500, "what was committed before is kept"
    filler.unlink()
    rerun = subprocess.run(
        [str(PAPERBOY), "ingest", "jsonl", str(corpus), "--json"], env=env, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr
    assert _count(url, "papers") == len({json.loads(line)["id"] for line in lines})


def test_a_read_only_data_dir_answers_503_and_says_so(small_disk: Path, shared_data: Path) -> None:
    settings = _library(small_disk, shared_data)
    client = make_client(settings)
    frozen = small_disk.parent / f"{small_disk.name}-ro"
    frozen.mkdir()
    bound = subprocess.run(["mount", "--bind", str(small_disk), str(frozen)], capture_output=True)
    remount = subprocess.run(["mount", "-o", "remount,ro,bind", str(frozen)], capture_output=True)
    if bound.returncode or remount.returncode:
        pytest.skip("cannot mount a read-only view of the data dir here")
    try:
        frozen_settings = settings.model_copy(update={"home": frozen})
        reader = make_client(frozen_settings)
        read = reader.get("/papers/2410.17243")  # SQLite in WAL mode cannot even read from a read-only dir
        assert read.status_code in (200, 503) and (read.status_code == 200 or "read-only" in read.text)
        writer = make_client(frozen_settings)
        token = sign_up(client, "bob")  # a session made while writable, used read-only
        writer.cookies.update(client.cookies)
        written = writer.post("/account/token", data={"csrf_token": token})
        assert written.status_code == 503, written.text[:300]
        assert "its data directory is on a read-only file system" in written.text
    finally:
        subprocess.run(["umount", "-l", str(frozen)], capture_output=True)


def test_a_full_disk_is_named_even_when_a_savepoint_error_hides_it(tmp_path: Path) -> None:
    """On a full disk SQLite rolls the whole transaction back; releasing the savepoint that held the
    batch then fails with "no such savepoint", raised while the disk-full error is handled."""
    import sqlite3

    connection = sqlite3.connect(tmp_path / "any.db")
    try:
        try:
            raise sqlite3.OperationalError("database or disk is full")
        except sqlite3.OperationalError:
            connection.execute("RELEASE SAVEPOINT sa_savepoint_1")
    except sqlite3.OperationalError as exc:
        assert "no such savepoint" in str(exc)
        assert storage_problem(exc) == "its disk is full"
    else:
        raise AssertionError("releasing a savepoint that is not there must fail")
    finally:
        connection.close()
