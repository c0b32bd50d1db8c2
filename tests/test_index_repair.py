"""The search index repairs itself: deleted, damaged, foreign or drifted indexes are detected and rebuilt
from the database (keyword search first), and searching meanwhile says so instead of answering empty
results or a 500. Build names are validated, and what killed rebuilds leave behind is removed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from paperboy.cli import app as cli_app
from paperboy.config import Settings
from paperboy.db.repositories.ingest_state import set_state
from paperboy.db.repositories.papers import upsert_papers
from paperboy.search.indexer import Indexer
from paperboy.search.service import SearchRequest, SearchService
from paperboy.search.store import current_build, index_root
from search_support import MemoizingEmbedder, sample_records
from web_support import make_client

PAPERS = 30


@pytest.fixture
def library(
    settings: Settings, sessions: sessionmaker[Session], shared_data: Path, embedder: MemoizingEmbedder
) -> list:
    records = sample_records(shared_data, limit=PAPERS)
    with sessions() as session, session.begin():
        upsert_papers(session, records)
    summary = Indexer(sessions, settings.home, embedder).run()
    assert summary.documents == summary.with_vectors == PAPERS
    return records


def search(
    settings: Settings, sessions: sessionmaker[Session], embedder: MemoizingEmbedder, query: str
) -> list[str]:
    result = SearchService(sessions, settings.home, embedder).search(SearchRequest(query, k=5))
    return [hit.paper.arxiv_id for hit in result.hits]


def repaired(
    settings: Settings, sessions: sessionmaker[Session], embedder: MemoizingEmbedder, expect: str
) -> None:
    """The next index run notices the problem, says so, and brings back every paper with no embedding."""
    calls = embedder.calls
    summary = Indexer(sessions, settings.home, embedder).run()
    assert any(expect in note for note in summary.notes), summary.notes
    assert summary.documents == summary.with_vectors == PAPERS
    assert embedder.calls == calls, "the vectors come back from the database"


@pytest.mark.parametrize("damage", ["delete-index", "missing-build", "empty-current"])
def test_a_lost_index_is_rebuilt_and_never_replaced_by_an_empty_one(
    damage: str,
    library: list,
    settings: Settings,
    sessions: sessionmaker[Session],
    embedder: MemoizingEmbedder,
) -> None:
    root = index_root(settings.home)
    if damage == "delete-index":
        shutil.rmtree(root)
    elif damage == "missing-build":
        (root / "CURRENT").write_text("build-20260101T000000-0123abcd")
    else:
        (root / "CURRENT").write_text("")
    assert search(settings, sessions, embedder, library[3].title) == []
    assert current_build(settings.home) is None, "searching never writes an empty index"
    status = SearchService(sessions, settings.home, embedder).status()
    assert status.state == "missing" and "being built" in (status.notice() or "")
    repaired(settings, sessions, embedder, "there was no search index")
    assert search(settings, sessions, embedder, library[3].title)[0] == library[3].arxiv_id


def test_a_build_name_cannot_lead_outside_the_data_dir(
    library: list,
    settings: Settings,
    sessions: sessionmaker[Session],
    embedder: MemoizingEmbedder,
    tmp_path: Path,
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = index_root(settings.home)
    (root / "CURRENT").write_text("../../outside")
    assert current_build(settings.home) is None
    repaired(settings, sessions, embedder, "there was no search index")
    assert list(outside.iterdir()) == [], "nothing was written outside the data dir"
    assert current_build(settings.home) is not None and current_build(settings.home).parent == root  # type: ignore[union-attr]


@pytest.mark.parametrize("target", ["vectors", "lexical"])
def test_a_damaged_index_file_is_reported_and_rebuilt(
    target: str,
    library: list,
    settings: Settings,
    sessions: sessionmaker[Session],
    embedder: MemoizingEmbedder,
) -> None:
    build = current_build(settings.home)
    assert build is not None
    if target == "vectors":
        (build / "vectors.usearch").write_bytes(b"\x00not a usearch index\x00" * 100)
    else:
        for path in (build / "lexical").glob("*.idx"):
            path.write_bytes(path.read_bytes()[:20])
    service = SearchService(sessions, settings.home, embedder)
    result = service.search(SearchRequest(library[3].title, k=5))  # no exception: no 500
    assert result.hits == [] or result.index_unavailable
    client = make_client(settings, embedder)
    page = client.get("/search", params={"q": library[3].title})
    assert page.status_code == 200 and ("being rebuilt" in page.text or "being built" in page.text)
    api = client.get("/api/papers/search", params={"q": library[3].title})
    assert api.status_code in (200, 503)
    repaired(settings, sessions, embedder, "damaged")
    assert search(settings, sessions, embedder, library[3].title)[0] == library[3].arxiv_id


def test_an_index_made_from_another_database_is_rebuilt(
    library: list, settings: Settings, sessions: sessionmaker[Session], embedder: MemoizingEmbedder
) -> None:
    """A data dir copied beside another database (or a restored backup) must not serve its papers."""
    with sessions() as session, session.begin():
        set_state(session, "instance", "id", {"id": "another-database"})
    repaired(settings, sessions, embedder, "another database")


def test_an_index_that_drifted_from_the_database_is_reconciled(
    library: list, settings: Settings, sessions: sessionmaker[Session], embedder: MemoizingEmbedder
) -> None:
    indexer = Indexer(sessions, settings.home, embedder)
    writer = indexer.backend.writer()
    lexical, vectors = writer.ids()
    lost_text, lost_vectors = sorted(lexical)[:4], sorted(vectors)[10:13]
    writer.delete_text(lost_text)
    writer.delete_vectors(lost_vectors)
    writer.commit_text()
    writer.commit_vectors()
    summary = indexer.run()
    assert any("did not match the database" in note for note in summary.notes), summary.notes
    assert summary.documents == summary.with_vectors == PAPERS
    assert indexer.run().notes == [], "once reconciled, nothing more to say"


def test_what_killed_rebuilds_leave_behind_is_removed(
    library: list, settings: Settings, sessions: sessionmaker[Session], embedder: MemoizingEmbedder
) -> None:
    root = index_root(settings.home)
    orphan = root / "build-20260101T000000-deadbeef"
    (orphan / "lexical").mkdir(parents=True)
    (orphan / "vectors.usearch").write_bytes(b"x" * 1000)
    (root / "CURRENT.tmp").write_text("half written")
    summary = Indexer(sessions, settings.home, embedder).run()
    assert not orphan.exists() and not (root / "CURRENT.tmp").exists()
    assert any("interrupted rebuilds" in note for note in summary.notes)


def test_the_cli_says_what_it_repaired_and_refuses_to_search_a_missing_index(
    library: list, settings: Settings, cli: CliRunner
) -> None:
    shutil.rmtree(index_root(settings.home))
    searched = cli.invoke(cli_app, ["search", "learning"])
    assert (
        searched.exit_code == 2
        and "the search index is missing or damaged: run `paperboy index`" in searched.output
    )
    indexed = cli.invoke(cli_app, ["index", "--quiet"])
    assert indexed.exit_code == 0, indexed.output
    assert (
        "note: there was no search index" in indexed.output
        and f"index holds {PAPERS} papers" in indexed.output
    )
    assert cli.invoke(cli_app, ["search", "learning"]).exit_code == 0


def test_serving_a_lost_index_answers_200_and_says_it_is_being_built(
    library: list, settings: Settings, embedder: MemoizingEmbedder
) -> None:
    shutil.rmtree(index_root(settings.home))
    client: TestClient = make_client(settings, embedder)
    page = client.get("/search", params={"q": "learning"})
    assert page.status_code == 200 and "being built" in page.text
    assert client.get("/api/index/status").json()["state"] == "missing"
    assert not index_root(settings.home).exists() or current_build(settings.home) is None


def test_a_new_index_queues_only_the_papers_that_are_not_queued_yet(
    settings: Settings,
    sessions: sessionmaker[Session],
    shared_data: Path,
    embedder: MemoizingEmbedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A new index must get every paper. After a first ingest every paper is queued already (at 2.7M
    papers, queueing them again took 18 s of a 5-minute keyword index); after a lost index, all are."""
    import paperboy.search.indexer as indexer_module
    from paperboy.db.repositories.queue import everything_queued

    with sessions() as session, session.begin():
        upsert_papers(session, sample_records(shared_data, limit=PAPERS))
    with sessions() as session:
        assert everything_queued(session)
    queued: list[int] = []
    enqueue = indexer_module.enqueue_for_index
    monkeypatch.setattr(
        indexer_module,
        "enqueue_for_index",
        lambda s, ids, bump=True: queued.extend(ids) or enqueue(s, ids, bump),
    )
    summary = Indexer(sessions, settings.home, embedder).run()
    assert queued == [] and summary.documents == summary.with_vectors == PAPERS
    with sessions() as session:
        assert not everything_queued(session)
    shutil.rmtree(index_root(settings.home))
    summary = Indexer(sessions, settings.home, embedder).run()
    assert len(queued) == PAPERS and summary.documents == summary.with_vectors == PAPERS
