"""The home page: the newest day's daily papers, most upvoted first, with all paper text escaped."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from paperboy.config import Settings
from paperboy.db.records import PaperRecord
from paperboy.db.repositories.papers import upsert_papers
from paperboy.ingest.runner import run_ingest
from paperboy.ingest.sources.hf_daily import HfDailySource
from paperboy.web.app import create_app

DAILY = "fixtures/hf_daily_papers/daily_papers.json"


def test_index_lists_daily_papers_most_upvoted_first(
    settings: Settings, sessions: sessionmaker[Session], shared_data: Path
) -> None:
    run_ingest(sessions, HfDailySource(str(shared_data / DAILY)))
    client = TestClient(create_app(settings))
    page = client.get("/")
    assert page.status_code == 200
    html = page.text
    assert "Friday, October 25, 2024" in html
    first = html.index("Breaking the Memory Barrier")
    assert first < html.index("Data Scaling Laws in Imitation Learning")
    assert '<span class="count">64</span>' in html
    assert "submitted by <strong>Zesen Cheng</strong>" in html
    health = client.get("/healthz").json()
    assert health == {"status": "ok"}


def test_paper_text_is_escaped(settings: Settings, sessions: sessionmaker[Session]) -> None:
    payload = '<script>alert("x")</script>'
    with sessions() as session, session.begin():
        upsert_papers(
            session,
            [
                PaperRecord(
                    arxiv_id="2401.00001",
                    title=f"Attack {payload}",
                    abstract="An abstract.",
                    source="test",
                    authors=(f"<img src=x onerror=alert(1)>{payload}",),
                    published_at=datetime(2024, 1, 2),
                )
            ],
        )
    html = TestClient(create_app(settings)).get("/papers/2401.00001").text
    assert payload not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


def test_bad_date_parameter_is_a_400_page_not_a_500(settings: Settings) -> None:
    response = TestClient(create_app(settings)).get("/papers?date=zero")
    assert response.status_code == 400
    assert "date must be a date like 2024-10-25" in response.text
