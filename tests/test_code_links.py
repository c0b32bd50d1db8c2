"""Code and project links: found in papers' own text at ingest, stored, shown on lists and pages, served as
`githubRepo`/`projectPage` in the API, filterable (`?has=code`, `has:code`), and enriched with stars by
`paperboy enrich github` from a real local HTTP server replaying GitHub API responses."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from paperboy.cli import app as cli_app
from paperboy.code_links import find_links
from paperboy.config import Settings
from paperboy.db.models import Paper, Repository
from paperboy.enrich.github import GithubEnricher
from paperboy.search.indexer import Indexer
from search_support import MemoizingEmbedder
from test_web_pages import list_items
from web_support import ingest_hf_daily, make_client

DAY = "2024-10-25"
WITH_CODE = {"2410.18798", "2410.18775", "2410.17779", "2410.18505", "2410.18785"}
RECORDED = json.loads((Path(__file__).parent / "data" / "github" / "repos.json").read_text())


@pytest.mark.parametrize(
    ("text", "repositories", "project"),
    [
        ("Code: https://github.com/Hao840/ADEM-VL.", ("https://github.com/Hao840/ADEM-VL",), None),
        ("see github.com/a/b.git, https://www.github.com/a/b/tree/main/x", ("https://github.com/a/b",), None),
        ("(https://github.com/a/b)", ("https://github.com/a/b",), None),
        ("https://gitlab.com/group/sub/project", ("https://gitlab.com/group/sub/project",), None),
        (
            "https://huggingface.co/datasets/BAAI/CCI3-HQ",
            ("https://huggingface.co/datasets/BAAI/CCI3-HQ",),
            None,
        ),
        ("https://huggingface.co/meta-llama/Llama-3", ("https://huggingface.co/meta-llama/Llama-3",), None),
        ("https://huggingface.co/papers/2410.17243 https://github.com/features/copilot", (), None),
        ("Project page: https://foo.github.io/proj/.", (), "https://foo.github.io/proj"),
        ("Our website https://example.org/vine is up", (), "https://example.org/vine"),
        ("Accepted at NeurIPS (https://neurips.cc) and https://arxiv.org/abs/2410.1", (), None),
        ("mail me at someone@github.com", (), None),
    ],
)
def test_links_are_found_and_normalized(
    text: str, repositories: tuple[str, ...], project: str | None
) -> None:
    found = find_links(text)
    assert found.repositories == repositories
    assert found.project_page == project


@pytest.fixture
def library(settings: Settings, sessions: sessionmaker[Session], shared_data: Path) -> None:
    ingest_hf_daily(sessions, shared_data)


def test_links_are_stored_at_ingest_and_served(library: None, client_for: Any) -> None:
    client: TestClient = client_for()
    page = client.get("/papers", params={"date": DAY}).text
    chips = {i.arxiv_id for i in list_items(page) if 'class="code-link"' in i.html}
    assert chips == WITH_CODE
    only = client.get("/papers", params={"date": DAY, "has": "code"}).text
    assert {i.arxiv_id for i in list_items(only)} == WITH_CODE
    assert 'aria-current="page">With code</a>' in only

    entries = client.get("/api/daily_papers", params={"date": DAY}).json()
    repos = {e["paper"]["id"]: e["paper"].get("githubRepo") for e in entries}
    assert repos["2410.17779"] == "https://github.com/Hao840/ADEM-VL"
    assert repos["2410.18505"] is None  # Hugging Face datasets only: code, but no GitHub repository
    assert next(e for e in entries if e["paper"]["id"] == "2410.18505")["paper"]["codeRepos"] == [
        "https://huggingface.co/datasets/BAAI/CCI3-HQ",
        "https://huggingface.co/datasets/BAAI/CCI3-Data",
    ]
    one = client.get("/api/papers/2410.18775").json()
    assert one["githubRepo"] == "https://github.com/Shilin-LU/VINE" and "githubStars" not in one
    paper = client.get("/papers/2410.18775").text
    assert '<a class="button ghost code" href="https://github.com/Shilin-LU/VINE"' in paper
    assert "**Code:** <https://github.com/Shilin-LU/VINE>" in client.get("/papers/2410.18775.md").text


def test_has_code_filters_search(
    library: None,
    settings: Settings,
    sessions: sessionmaker[Session],
    embedder: MemoizingEmbedder,
    client_for: Any,
) -> None:
    Indexer(sessions, settings.home, embedder).run()
    client: TestClient = client_for()
    hits = client.get("/api/papers/search", params={"q": "has:code", "limit": 50}).json()
    assert {h["paper"]["id"] for h in hits} == WITH_CODE
    model = client.get("/api/papers/search", params={"q": "language model has:code", "limit": 50}).json()
    assert model and {h["paper"]["id"] for h in model} <= WITH_CODE
    checkbox = client.get("/search", params={"q": "vision language", "has": "code"}).text
    assert set(re.findall(r'<h3 class="title"><a href="/papers/([^"]+)"', checkbox)) <= WITH_CODE
    assert 'name="has" value="code" checked' in checkbox
    refused = client.get("/api/papers/search", params={"q": "has:stars"})
    assert refused.status_code == 400 and "has: takes code" in refused.json()["error"]


# --- paperboy enrich github ----------------------------------------------------------------------------


@dataclass
class FakeGithub:
    """A real HTTP server on 127.0.0.1 answering GET /repos/{owner}/{repo} with the recorded responses,
    and with GitHub's rate-limit answer (403, X-RateLimit-Remaining: 0) once `allowed` requests were served."""

    allowed: int = 1000
    log: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.log.append((self.path, dict(self.headers)))
                if len(fake.log) > fake.allowed:
                    body = {"message": "API rate limit exceeded"}
                    self._send(403, body, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1790000000"})
                    return
                recorded = RECORDED.get(self.path, {"status": 404, "body": {"message": "Not Found"}})
                self._send(recorded["status"], recorded["body"], {"X-RateLimit-Remaining": "59"})

            def _send(self, status: int, body: object, headers: dict[str, str]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def github() -> Iterator[FakeGithub]:
    fake = FakeGithub()
    yield fake
    fake.server.shutdown()


@pytest.fixture
def client_for(settings: Settings) -> Any:
    return lambda **update: make_client(settings.model_copy(update=update))


def _repositories(sessions: sessionmaker[Session]) -> dict[str, tuple[str | None, int | None]]:
    with sessions() as session:
        return {r.url: (r.status, r.stars) for r in session.scalars(select(Repository))}


def test_enrich_github_is_polite_resumable_and_shows_stars(
    library: None,
    settings: Settings,
    sessions: sessionmaker[Session],
    github: FakeGithub,
    cli_env: dict[str, str],
    client_for: Any,
) -> None:
    github.allowed = 2
    enrich_settings = settings.model_copy(
        update={"github_api_url": github.url, "github_delay": 0, "github_token": SecretStr("ghp_test_token")}
    )
    first = GithubEnricher(enrich_settings, sessions).run(limit=100, refresh_days=7)
    assert (first.checked + first.missing, first.remaining) == (2, 2)
    assert first.rate_limited_until is not None and first.rate_limited_until.year == 2026
    assert all(headers.get("Authorization") == "Bearer ghp_test_token" for _, headers in github.log)
    assert all(headers.get("Accept") == "application/vnd.github+json" for _, headers in github.log)

    github.allowed = 1000
    second = GithubEnricher(enrich_settings, sessions).run(limit=100, refresh_days=7)
    assert (second.checked + second.missing, second.remaining) == (2, 0)
    asked = [path for path, _ in github.log if not path.startswith("/rate")]
    assert len(set(asked)) == 4 and len(asked) == 5, "each repository asked once, the refused one again"
    assert _repositories(sessions) == {
        "https://github.com/hewei2001/ReachQA": ("ok", 42),
        "https://github.com/Shilin-LU/VINE": ("ok", 1234),
        "https://github.com/Hao840/ADEM-VL": ("missing", None),
        "https://github.com/lqinfdim/EditingEvaluation": ("ok", 7),
    }
    third = GithubEnricher(enrich_settings, sessions).run(limit=100, refresh_days=7)
    assert (third.checked, third.missing, third.remaining) == (0, 0, 0), "nothing is stale yet"

    client: TestClient = client_for()
    vine = next(
        i for i in list_items(client.get("/papers", params={"date": DAY}).text) if i.arxiv_id == "2410.18775"
    )
    assert "Code · ★ 1.2k" in vine.html
    assert client.get("/api/papers/2410.18775").json()["githubStars"] == 1234
    assert "★ 1.2k" in client.get("/papers/2410.18775").text

    # The command says what it did, and how to go on when the limit runs out.
    github.allowed = 0
    env = {**cli_env, "PAPERBOY_GITHUB_API_URL": github.url, "PAPERBOY_GITHUB_DELAY": "0"}
    result = CliRunner(env=env).invoke(cli_app, ["enrich", "github", "--refresh-days", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "0 repositories checked, 0 gone, 0 not answered; 0 left for a later run" in result.output


def test_links_follow_the_abstract_when_it_changes(library: None, sessions: sessionmaker[Session]) -> None:
    from paperboy.db.records import PaperRecord
    from paperboy.db.repositories.papers import upsert_papers

    with sessions() as session, session.begin():
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == "2410.17779"))
        assert paper is not None and paper.code_urls == ["https://github.com/Hao840/ADEM-VL"]
        record = PaperRecord(
            arxiv_id="2410.17779",
            title=paper.title,
            abstract="A new version. Code: https://gitlab.com/hao/adem and project page https://hao.github.io/adem",
            source="arxiv-api",
            version=2,
            updated_at=paper.published_at.replace(year=2025) if paper.published_at else None,
        )
        upsert_papers(session, [record])
    with sessions() as session:
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == "2410.17779"))
        assert paper is not None
        assert (paper.code_urls, paper.project_page) == (
            ["https://gitlab.com/hao/adem"],
            "https://hao.github.io/adem",
        )


def test_the_migration_finds_the_links_of_papers_stored_before(engine: Any) -> None:
    from sqlalchemy import text

    from paperboy.db.migrate import downgrade, upgrade

    upgrade(engine)
    downgrade(engine, "0004")  # a library made before this version
    with engine.begin() as connection:
        for n, abstract in enumerate(
            ("Code at https://github.com/a/b.", "No link here.", "Site: https://x.github.io/y")
        ):
            connection.execute(
                text(
                    "INSERT INTO papers (arxiv_id, title, abstract, authors, categories, source, withdrawn, "
                    "upvotes_imported) VALUES (:id, 't', :abstract, '[]', '[]', 'test', false, 0)"
                ),
                {"id": f"2410.0000{n}", "abstract": abstract},
            )
    upgrade(engine)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT arxiv_id, code_urls, project_page FROM papers ORDER BY arxiv_id")
        )
        found = [(r[0], json.loads(r[1]) if isinstance(r[1], str) else r[1], r[2]) for r in rows]
    assert found == [
        ("2410.00000", ["https://github.com/a/b"], None),
        ("2410.00001", [], None),
        ("2410.00002", [], "https://x.github.io/y"),
    ]


def test_a_confirmed_authors_comment_adds_its_links(
    library: None, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    from paperboy.db.models import AuthorClaim, User
    from test_web_pages import browser, post
    from web_support import sign_up

    client = make_client(settings)
    author, other = browser(client), browser(client)
    author_token = sign_up(author, "writer")
    other_token = sign_up(other, "reader")
    with sessions() as session, session.begin():
        writer = session.scalars(select(User).where(User.username == "writer")).one()
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == "2410.17243"))
        assert paper is not None and paper.code_urls == []
        session.add(
            AuthorClaim(user_id=writer.id, paper_id=paper.id, author_name="Zesen Cheng", status="approved")
        )
    post(other, "/papers/2410.17243/comments", other_token, body="Fork: https://github.com/someone/else")
    post(
        author,
        "/papers/2410.17243/comments",
        author_token,
        body="Code is out: https://github.com/DAMO-NLP-SG/Inf-CLIP",
    )
    with sessions() as session:
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == "2410.17243"))
        assert paper is not None and paper.code_urls == ["https://github.com/DAMO-NLP-SG/Inf-CLIP"]
    assert (
        client.get("/api/papers/2410.17243").json()["githubRepo"] == "https://github.com/DAMO-NLP-SG/Inf-CLIP"
    )


def test_trending_can_weigh_code_activity(
    library: None, settings: Settings, sessions: sessionmaker[Session], github: FakeGithub, client_for: Any
) -> None:
    """Off by default; with PAPERBOY_TRENDING_CODE_BOOST, papers whose repository saw a push since 30 days
    before the list's newest submission rise (ReachQA, VINE and EditingEvaluation were pushed to; ADEM-VL's
    repository is gone, and the Hugging Face datasets are not asked)."""
    enrich_settings = settings.model_copy(update={"github_api_url": github.url, "github_delay": 0})
    GithubEnricher(enrich_settings, sessions).run(limit=100, refresh_days=7)
    active = {"2410.18798", "2410.18775", "2410.18785"}

    def order(**update: object) -> list[str]:
        page = client_for(**update).get("/trending").text
        return [i.arxiv_id for i in list_items(page)]

    plain, boosted = order(), order(trending_code_boost=100.0)
    assert set(boosted[:3]) == active and set(plain[:3]) != active
    assert [i for i in boosted if i not in active] == [i for i in plain if i not in active]
    vine = next(i for i in list_items(client_for().get("/trending").text) if i.arxiv_id == "2410.18775")
    assert "Code · ★ 1.2k" in vine.html, "trending lists show the code chip too"


@given(
    st.lists(
        st.sampled_from(
            ["HTTPS://", "http:/", "GitHub.com/", "gitlab.co", "huggingface.co/", "www.", "x/y", " ", "."]
        )
        | st.text(max_size=12),
        max_size=12,
    ).map("".join)
)
def test_the_quick_check_skips_only_texts_the_url_pattern_finds_nothing_in(text: str) -> None:
    from paperboy.code_links import _URL, _URL_HINTS

    if not any(hint in text.lower() for hint in _URL_HINTS):
        assert _URL.search(text) is None
