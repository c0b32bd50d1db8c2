"""The released Hugging Face client against a live Paperboy server: `HfApi(endpoint=…)` and its `hf papers`
commands (`ls`, `info`, `search`, `read`), pointed at the server with `HF_ENDPOINT`.

Nothing is mocked. Offline mode (HF_HUB_OFFLINE=1, which `make` sets so that no model is fetched from the
hub) is turned off for the client only: its requests go to the local server on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, constants
from sqlalchemy.orm import Session, sessionmaker

from paperboy.config import Settings
from paperboy.search.indexer import Indexer
from paperboy.web.app import create_app
from search_support import MemoizingEmbedder
from web_support import ingest_hf_daily, running_server

DAY = "2024-10-25"
TOP = "2410.17243"
TOP_TITLE = "Breaking the Memory Barrier: Near Infinite Batch Size Scaling for Contrastive Loss"


@pytest.fixture
def site(
    settings: Settings, sessions: sessionmaker[Session], shared_data: Path, embedder: MemoizingEmbedder
) -> Iterator[str]:
    """The 2024-10-25 list, indexed and served on a real port; yields the server's address."""
    ingest_hf_daily(sessions, shared_data)
    Indexer(sessions, settings.home, embedder).run()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with running_server(
            create_app(settings.model_copy(update={"base_url": base}), embedder=embedder), sock
        ):
            yield base


@pytest.fixture
def api(site: str, monkeypatch: pytest.MonkeyPatch) -> HfApi:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # read at import; the server is local
    return HfApi(endpoint=site, token=False)


def test_hf_api_reads_daily_papers_search_info_and_markdown(api: HfApi) -> None:
    daily = list(api.list_daily_papers(date=DAY))
    assert len(daily) == 29
    top = daily[0]
    assert (top.id, top.title, top.upvotes, top.comments) == (TOP, TOP_TITLE, 64, 3)
    assert top.authors and top.authors[0].name == "Zesen Cheng"
    assert top.submitted_by is not None and top.submitted_at is not None
    assert [p.id for p in api.list_daily_papers(date=DAY, limit=5, p=1)] == [p.id for p in daily[5:10]]
    assert len(list(api.list_daily_papers(week="2024-W43"))) == 29

    found = list(api.list_papers(query="memory barrier contrastive loss batch size", limit=5))
    assert found and found[0].id == TOP and len(found) <= 5

    info = api.paper_info(TOP)
    assert (info.id, info.upvotes, info.comments) == (TOP, 64, 3)
    assert info.summary and info.summary.startswith("Contrastive loss is a powerful approach")
    assert info.published_at is not None and info.published_at.year == 2024

    markdown = api.read_paper(TOP)
    assert markdown.startswith(f"# {TOP_TITLE}\n")
    assert "**Authors:** Zesen Cheng, Hang Zhang" in markdown
    assert f"[{TOP}](https://arxiv.org/abs/{TOP})" in markdown
    assert "## Abstract\n\nContrastive loss is a powerful approach" in markdown
    assert "**Community:** 64 upvotes, 3 comments" in markdown

    with pytest.raises(Exception) as missing:
        api.paper_info("2501.99999")
    assert getattr(getattr(missing.value, "response", None), "status_code", None) == 404


def test_the_markdown_of_a_paper_by_suffix_and_by_accept_header(site: str) -> None:
    with httpx.Client(base_url=site) as client:
        by_suffix = client.get(f"/papers/{TOP}.md")
        by_accept = client.get(f"/papers/{TOP}", headers={"Accept": "text/markdown"})
        page = client.get(f"/papers/{TOP}")
        versioned = client.get(f"/papers/{TOP}v1.md")
        missing = client.get("/papers/2501.99999.md")
    assert by_suffix.status_code == by_accept.status_code == 200
    assert by_suffix.headers["content-type"] == "text/markdown; charset=utf-8"
    assert by_suffix.text == by_accept.text
    assert "accept" in by_accept.headers["vary"].lower() and "accept" in page.headers["vary"].lower()
    assert page.headers["content-type"].startswith("text/html")
    assert (
        f'<link rel="alternate" type="text/markdown" title="This paper as Markdown" href="/papers/{TOP}.md">'
        in page.text
    )
    assert versioned.status_code == 301 and versioned.headers["location"] == f"/papers/{TOP}.md"
    assert missing.status_code == 404 and "No paper 2501.99999" in missing.text


def _hf(site: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = shutil.which("hf", path=str(Path(sys.executable).parent)) or "hf"
    env = {**os.environ, "HF_ENDPOINT": site, "HF_HUB_OFFLINE": "0", "HF_HUB_DISABLE_TELEMETRY": "1"}
    env["HF_HOME"] = str(Path(os.environ.get("TMPDIR", "/tmp")) / f"hf-home-{os.getpid()}")
    return subprocess.run([command, *args], capture_output=True, text=True, env=env, timeout=120)


def test_the_hf_papers_commands(site: str) -> None:
    listed = _hf(site, "papers", "ls", "--date", DAY, "--format", "json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert len(rows) == 29 and rows[0]["id"] == TOP and rows[0]["upvotes"] == 64

    searched = _hf(site, "papers", "search", "memory barrier contrastive loss", "--format", "json")
    assert searched.returncode == 0, searched.stderr
    assert json.loads(searched.stdout)[0]["id"] == TOP

    info = _hf(site, "papers", "info", TOP, "--format", "json")
    assert info.returncode == 0, info.stderr
    shown = json.loads(info.stdout)
    assert shown["id"] == TOP and shown["title"] == TOP_TITLE and shown["comments"] == 3

    read = _hf(site, "papers", "read", TOP)
    assert read.returncode == 0, read.stderr
    assert read.stdout.startswith(f"# {TOP_TITLE}")

    missing = _hf(site, "papers", "info", "2501.99999")
    assert missing.returncode != 0
    assert "not found" in (missing.stderr + missing.stdout).lower()
