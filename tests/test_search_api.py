"""`GET /api/papers/search` over HTTP: results with title and abstract, explained scores, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from paperboy.config import Settings
from paperboy.ingest.runner import run_ingest
from paperboy.ingest.sources.hf_daily import HfDailySource
from paperboy.search.indexer import Indexer
from paperboy.web.app import create_app
from search_support import MemoizingEmbedder


@pytest.fixture
def client(
    settings: Settings, sessions: sessionmaker[Session], shared_data: Path, embedder: MemoizingEmbedder
) -> TestClient:
    run_ingest(
        sessions, HfDailySource(str(shared_data / "fixtures" / "hf_daily_papers" / "daily_papers.json"))
    )
    Indexer(sessions, settings.home, embedder).run()
    return TestClient(create_app(settings, embedder))


def test_search_returns_papers_with_title_abstract_and_scores(client: TestClient) -> None:
    response = client.get("/api/papers/search", params={"q": "speculative sampling draft", "limit": 3})
    assert response.status_code == 200
    results = response.json()
    assert len(results) == 3
    top = results[0]
    assert top["paper"]["id"] == "2410.18234"
    assert top["paper"]["title"].startswith("Multi-Draft Speculative Sampling")
    assert len(top["paper"]["summary"]) > 200
    assert top["paper"]["authors"] and all("name" in a for a in top["paper"]["authors"])
    assert top["explain"]["bm25"] > 0 and top["explain"]["vector"] > 0
    assert float(response.headers["x-search-took-ms"]) > 0


def test_exact_id_first_and_modes(client: TestClient) -> None:
    for mode in ("hybrid", "lexical", "dense"):
        results = client.get("/api/papers/search", params={"q": "2410.17243", "mode": mode}).json()
        assert results[0]["paper"]["id"] == "2410.17243" and results[0]["explain"]["match"] == "arxiv-id"


@pytest.mark.parametrize(
    ("params", "status", "named"),
    [
        ({"q": ""}, 400, "q"),
        ({"q": "AND OR"}, 400, "q"),
        ({"q": "x" * 1001}, 400, "q"),
        ({"q": "a", "limit": 0}, 422, "limit"),
        ({"q": "a", "limit": "many"}, 422, "limit"),
        ({"q": "a", "mode": "fuzzy"}, 422, "mode"),
        ({"q": "a", "from": "yesterday"}, 422, "from"),
        ({}, 422, "q"),
    ],
)
def test_bad_parameters_are_named_never_a_500(
    client: TestClient, params: dict[str, object], status: int, named: str
) -> None:
    response = client.get("/api/papers/search", params=params)
    assert response.status_code == status
    assert named in response.text
