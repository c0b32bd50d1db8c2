"""The latest-version column only reflects sources that state a version."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from paperboy.db.records import PaperRecord, VersionRecord
from paperboy.db.repositories.papers import get_paper, upsert_papers


def test_unversioned_record_keeps_history_but_not_a_version(sessions: sessionmaker[Session]) -> None:
    created, updated = datetime(2017, 6, 16), datetime(2017, 12, 12)
    oai_style = PaperRecord(
        "1706.05371",
        "Title",
        "Abstract",
        "arxiv-oai",
        published_at=created,
        updated_at=updated,
        versions=(VersionRecord(1, created),),
    )
    with sessions() as session, session.begin():
        upsert_papers(session, [oai_style])
    with sessions() as session:
        paper = get_paper(session, "1706.05371")
        assert paper is not None
        assert paper.version is None, "revised on 2017-12-12, so not v1; the arXiv format does not say which"
        assert [(v.version, v.submitted_at) for v in paper.versions] == [(1, created)]
    atom_style = PaperRecord("1706.05371", "Title", "Abstract", "arxiv-api", version=2, updated_at=updated)
    with sessions() as session, session.begin():
        upsert_papers(session, [atom_style])
    with sessions() as session:
        paper = get_paper(session, "1706.05371")
        assert paper is not None and paper.version == 2
