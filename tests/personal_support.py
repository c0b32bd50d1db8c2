"""A library of real arXiv papers (the shared API sample) with their real vectors, for the personal
library and recommender tests: robotics, vision, security and language papers from the same months."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from paperboy.accounts.users import new_user
from paperboy.db.engine import transaction
from paperboy.db.models import Paper, User, Vote
from paperboy.db.repositories.embeddings import store_embeddings
from paperboy.db.repositories.papers import upsert_papers
from paperboy.ingest.mapping import map_record
from paperboy.search.embedder import document_text
from paperboy.search.indexer import content_hash
from search_support import MemoizingEmbedder

SOURCE = "arxiv/arxiv_api_2023-2025.part01.jsonl"
PAPERS = 240
ABSTRACT_CHARS = 400  # the model embeds short texts faster; the topics stay clear


def load_library(
    sessions: sessionmaker[Session], shared_data: Path, embedder: MemoizingEmbedder
) -> list[Paper]:
    """The first PAPERS records of the sample, stored with their vectors; returns the papers."""
    lines = (shared_data / SOURCE).read_text().splitlines()[:PAPERS]
    records = []
    for line in lines:
        data = json.loads(line)
        data["abstract"] = data["abstract"][:ABSTRACT_CHARS]
        records.append(map_record(data, "jsonl"))
    with transaction(sessions) as session:
        upsert_papers(session, records)
    with sessions() as session:
        papers = list(session.scalars(select(Paper).order_by(Paper.id)))
        texts = [document_text(p.title, p.abstract) for p in papers]
    vectors = embedder.embed_documents(texts)
    with transaction(sessions) as session:
        store_embeddings(
            session,
            embedder.name,
            {
                p.id: (content_hash(embedder.signature, t), v)
                for p, t, v in zip(papers, texts, vectors, strict=True)
            },
        )
    return papers


def by_category(papers: Sequence[Paper], category: str) -> list[Paper]:
    return [p for p in papers if p.primary_category == category]


def add_user(sessions: sessionmaker[Session], username: str) -> int:
    with transaction(sessions) as session:
        return new_user(session, f"{username}@example.org", username, "x", None).id


def upvote(sessions: sessionmaker[Session], user_id: int, papers: Sequence[Paper], when: datetime) -> None:
    with transaction(sessions) as session:
        for paper in papers:
            session.add(Vote(user_id=user_id, paper_id=paper.id, created_at=when))


def user(session: Session, user_id: int) -> User:
    found = session.get(User, user_id)
    assert found is not None
    return found
