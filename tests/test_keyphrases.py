"""Keyphrases: extracted offline at index time from each paper's own title and abstract, ranked with the
real embedding model, shown as chips that search the phrase, served as `ai_keywords`, extracted again
when the text changes; on both databases with the real Hugging Face list of 2024-10-25."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from paperboy.config import Settings
from paperboy.db.models import Paper
from paperboy.db.records import PaperRecord
from paperboy.db.repositories.papers import upsert_papers
from paperboy.search.indexer import Indexer
from paperboy.search.keyphrases import candidates
from paperboy.search.terms import query_stems
from search_support import MemoizingEmbedder
from web_support import ingest_hf_daily, make_client

TOP = "2410.17243"


def test_candidates_are_the_papers_own_words() -> None:
    title = "Breaking the Memory Barrier: Near Infinite Batch Size Scaling for Contrastive Loss"
    abstract = (
        "Contrastive loss is a powerful approach. We propose a tile-based computation strategy for CLIP."
    )
    found = candidates(title, abstract, limit=50)
    assert "contrastive loss" in found and "memory barrier" in found and "CLIP" in found
    words = set((title + " " + abstract).lower().replace(":", " ").replace(".", " ").split())
    assert all(set(phrase.lower().split()) <= words for phrase in found), "nothing generated"
    assert not any(phrase.lower() in {"we propose", "powerful approach", "propose"} for phrase in found)


@pytest.fixture
def indexed(
    settings: Settings, sessions: sessionmaker[Session], shared_data: Path, embedder: MemoizingEmbedder
) -> TestClient:
    ingest_hf_daily(sessions, shared_data)
    summary = Indexer(sessions, settings.home, embedder).run()
    assert summary.keyphrased == 29
    return make_client(settings, embedder)


def _keywords(sessions: sessionmaker[Session], arxiv_id: str) -> list[str]:
    with sessions() as session:
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == arxiv_id))
        assert paper is not None
        return list(paper.keywords)


def test_every_paper_gets_a_handful_shown_and_served(
    indexed: TestClient, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        lists = [list(p.keywords) for p in session.scalars(select(Paper))]
    assert all(1 <= len(k) <= 5 for k in lists), lists
    top = _keywords(sessions, TOP)
    assert {"memory barrier", "contrastive loss"} & set(k.lower() for k in top), top
    for phrase in top:  # one chip per phrase, no two saying the same words
        others = [query_stems(o) for o in top if o != phrase]
        assert not any(query_stems(phrase) <= other for other in others), top

    page = indexed.get(f"/papers/{TOP}").text
    chips = re.findall(
        r'<a class="tag" href="/search\?q=([^"]+)" title="Search this phrase">([^<]+)</a>', page
    )
    assert [label for _, label in chips] == top
    assert all(unquote_plus(query) == f'"{label}"' for query, label in chips)
    assert indexed.get(f"/api/papers/{TOP}").json()["ai_keywords"] == top
    assert f"**Keywords:** {', '.join(top)}" in indexed.get(f"/papers/{TOP}.md").text


def test_a_changed_abstract_gets_new_keyphrases(
    indexed: TestClient, settings: Settings, sessions: sessionmaker[Session], embedder: MemoizingEmbedder
) -> None:
    with sessions() as session, session.begin():
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == TOP))
        assert paper is not None and paper.published_at is not None
        upsert_papers(
            session,
            [
                PaperRecord(
                    arxiv_id=TOP,
                    title="Protein folding with graph transformers",
                    abstract="We predict protein structures with graph transformers and equivariant attention.",
                    source="arxiv-api",
                    version=3,
                    updated_at=paper.published_at.replace(year=2025),
                )
            ],
        )
    assert Indexer(sessions, settings.home, embedder).run().keyphrased == 1
    assert {"protein folding", "graph transformers"} & set(_keywords(sessions, TOP))
