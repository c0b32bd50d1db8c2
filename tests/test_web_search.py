"""The search experience over HTTP and on the command line: the index status endpoint, notices while
meaning search is incomplete, corrections ("Showing results for ..."), arXiv ids that go to the paper,
result lists with community totals, and an empty library that says how to load papers."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from paperboy.cli import app as cli_app
from paperboy.config import Settings
from paperboy.db.repositories.papers import upsert_papers
from paperboy.search.indexer import Indexer
from search_support import MemoizingEmbedder, sample_records
from web_support import ingest_hf_daily, make_client


def _keyword_only(sessions: sessionmaker[Session], settings: Settings, embedder: MemoizingEmbedder) -> None:
    stop = threading.Event()
    stop.set()
    Indexer(sessions, settings.home, embedder).run(stop=stop)


@pytest.fixture
def library(sessions: sessionmaker[Session], shared_data: Path) -> None:
    """The Hugging Face daily list of 2024-10-25 plus 60 real ML papers."""
    ingest_hf_daily(sessions, shared_data)
    with sessions() as session, session.begin():
        upsert_papers(session, sample_records(shared_data, limit=60))


@pytest.fixture
def keyword_client(
    library: None, settings: Settings, sessions: sessionmaker[Session], embedder: MemoizingEmbedder
) -> TestClient:
    """A site whose index has every paper by keyword and none by meaning yet."""
    _keyword_only(sessions, settings, embedder)
    return make_client(settings, embedder)


@pytest.fixture
def full_client(
    library: None, settings: Settings, sessions: sessionmaker[Session], embedder: MemoizingEmbedder
) -> TestClient:
    Indexer(sessions, settings.home, embedder).run()
    return make_client(settings, embedder)


def test_index_status_reports_keyword_and_meaning_coverage(
    keyword_client: TestClient,
    settings: Settings,
    sessions: sessionmaker[Session],
    embedder: MemoizingEmbedder,
) -> None:
    status = keyword_client.get("/api/index/status")
    assert status.status_code == 200
    body = status.json()
    assert body["papers"] == body["lexical"] == 89 and body["embedded"] == 0 and body["queued"] == 89
    assert body["state"] == "embedding" and body["semantic_complete"] is False
    assert set(body) >= {"papers", "lexical", "embedded", "queued", "seconds_left", "keyword_queued"}
    Indexer(sessions, settings.home, embedder).run()
    done = make_client(settings, embedder).get("/api/index/status").json()
    assert (done["embedded"], done["queued"], done["state"], done["seconds_left"]) == (89, 0, "ready", 0)
    assert done["embedding_rate"] is None or done["embedding_rate"] > 0


def test_pages_say_when_meaning_search_is_incomplete(keyword_client: TestClient) -> None:
    page = keyword_client.get("/search", params={"q": "memory efficient contrastive loss"})
    assert page.status_code == 200
    assert "Meaning search covers 0 of 89 papers so far" in page.text
    paper = keyword_client.get("/papers/2410.17243")
    assert "meaning is not indexed yet" in paper.text and "covers 0 of 89" in paper.text


def test_pages_say_nothing_once_the_index_is_whole(full_client: TestClient) -> None:
    page = full_client.get("/search", params={"q": "memory efficient contrastive loss"})
    assert "Meaning search covers" not in page.text
    paper = full_client.get("/papers/2410.17243")
    assert "not indexed yet" not in paper.text and "Similar papers" in paper.text


def test_a_corrected_search_says_so_and_offers_the_query_as_typed(keyword_client: TestClient) -> None:
    page = keyword_client.get("/search", params={"q": "contrastve los batch sise"})
    assert "Showing results for" in page.text and "contrastive" in page.text
    assert "Search instead for" in page.text and "correct=0" in page.text
    as_typed = keyword_client.get("/search", params={"q": "contrastve los batch sise", "correct": "0"})
    assert "Showing results for" not in as_typed.text
    api = keyword_client.get("/api/papers/search", params={"q": "contrastve loss"})
    assert api.headers["x-search-corrected-query"] == "contrastive loss"
    assert (
        "x-search-corrected-query"
        not in keyword_client.get(
            "/api/papers/search", params={"q": "contrastve loss", "correct": "false"}
        ).headers
    )


@pytest.mark.parametrize("query", ["2410.17243v1", "arXiv:2410.17243", "https://arxiv.org/abs/2410.17243v2"])
def test_an_arxiv_id_goes_straight_to_the_paper(keyword_client: TestClient, query: str) -> None:
    response = keyword_client.get("/search", params={"q": query})
    assert response.status_code == 303 and response.headers["location"] == "/papers/2410.17243"
    api = keyword_client.get("/api/papers/search", params={"q": query}).json()
    assert [hit["paper"]["id"] for hit in api] == ["2410.17243"]
    related = keyword_client.get("/api/papers/search", params={"q": query, "related": "true"}).json()
    assert related[0]["paper"]["id"] == "2410.17243" and len(related) > 1


def test_versioned_ids_resolve_to_the_paper(keyword_client: TestClient) -> None:
    page = keyword_client.get("/papers/2410.17243v1")
    assert page.status_code == 301 and page.headers["location"] == "/papers/2410.17243"
    api = keyword_client.get("/api/papers/2410.17243v2")
    assert api.status_code == 200 and api.json()["id"] == "2410.17243"
    assert keyword_client.get("/api/papers/2410.99999v1").status_code == 404


def test_result_lists_show_totals_and_the_number_of_matches(keyword_client: TestClient) -> None:
    page = keyword_client.get("/search", params={"q": "Breaking the Memory Barrier"})
    assert "papers match" in page.text and "▲ 64" in page.text  # 2410.17243 has 64 upvotes
    api = keyword_client.get("/api/papers/search", params={"q": "Breaking the Memory Barrier"})
    hit = api.json()[0]
    assert hit["paper"]["id"] == "2410.17243" and hit["paper"]["upvotes"] == 64 and hit["numComments"] == 3
    assert int(api.headers["x-search-total"]) >= len(api.json())


def test_an_estimated_number_of_matches_says_so_on_every_surface(
    keyword_client: TestClient, cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    import paperboy.search.lexical as lexical

    monkeypatch.setattr(lexical, "EXACT_COUNT_UP_TO", 10)  # this small library then estimates as a big one
    page = keyword_client.get("/search", params={"q": "model learning"})
    assert re.search(r"about [\d,]+ papers match", page.text), page.text
    api = keyword_client.get("/api/papers/search", params={"q": "model learning"})
    assert api.headers["x-search-total-estimated"] == "true" and int(api.headers["x-search-total"]) > 10
    document = json.loads(cli.invoke(cli_app, ["search", "model learning", "--json"]).stdout)
    assert document["total_estimated"] is True
    assert "about " in cli.invoke(cli_app, ["search", "model learning"]).output
    monkeypatch.setattr(lexical, "EXACT_COUNT_UP_TO", 50_000)
    exact = keyword_client.get("/api/papers/search", params={"q": "model learning"})
    assert "x-search-total-estimated" not in exact.headers
    page = keyword_client.get("/search", params={"q": "model learning"})
    assert re.search(r"[\d,]+ papers? match", page.text) and not re.search(
        r"about [\d,]+ papers? match", page.text
    )


def test_nothing_matches_a_script_the_library_has_no_words_in(keyword_client: TestClient) -> None:
    page = keyword_client.get("/search", params={"q": "神经网络"})
    assert page.status_code == 200 and "No paper in this library contains" in page.text
    assert keyword_client.get("/api/papers/search", params={"q": "神经网络"}).json() == []


def test_an_empty_library_says_so_and_how_to_load_papers(
    settings: Settings, embedder: MemoizingEmbedder
) -> None:
    client = make_client(settings, embedder)
    page = client.get("/search", params={"q": "transformers"})
    assert "The library is empty" in page.text and "paperboy ingest starter" in page.text
    assert "try fewer" not in page.text.lower()
    assert client.get("/api/index/status").json()["state"] == "empty"


def test_cli_search_reports_corrections_coverage_and_the_next_page(
    keyword_client: TestClient, cli: CliRunner
) -> None:
    plain = cli.invoke(cli_app, ["search", "contrastve loss", "--k", "3"])
    assert plain.exit_code == 0, plain.output
    assert "Showing results for: contrastive loss" in plain.output
    assert "Meaning search covers 0 of 89 papers" in plain.output
    assert "more on the next page: --page 2" in plain.output
    assert "upvote" in plain.output
    as_json = cli.invoke(cli_app, ["search", "contrastve loss", "--json"])
    document = json.loads(as_json.stdout)
    assert document["corrected"] == {"contrastve": "contrastive"} and document["index"]["embedded"] == 0
    assert document["total"] >= len(document["results"]) and "upvotes" in document["results"][0]
    alone = json.loads(cli.invoke(cli_app, ["search", "2410.17243v1", "--json"]).stdout)
    assert [r["id"] for r in alone["results"]] == ["2410.17243"]


def test_cli_search_of_an_empty_library_says_how_to_load_papers(cli: CliRunner) -> None:
    assert cli.invoke(cli_app, ["init"]).exit_code == 0
    result = cli.invoke(cli_app, ["search", "transformers"])
    assert result.exit_code == 0 and "the library is empty" in result.output
