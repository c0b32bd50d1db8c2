"""The indexer survives a crash at any point: nothing lost, nothing duplicated, nothing embedded twice."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tantivy
from sqlalchemy.orm import Session, sessionmaker

from paperboy.db.repositories.embeddings import count_embeddings, store_embeddings
from paperboy.db.repositories.papers import upsert_papers
from paperboy.db.repositories.queue import pending_count
from paperboy.db.repositories.search_docs import paper_contents, paper_ids_after
from paperboy.db.repositories.vector_queue import vector_pending_count
from paperboy.search.embedder import document_text
from paperboy.search.indexer import Indexer, content_hash
from paperboy.search.store import SearchStore
from paperboy.search.vectors import VectorIndex
from search_support import MemoizingEmbedder, sample_records

PAPERBOY = Path(sys.executable).parent / "paperboy"


def indexed_ids(home: Path, dim: int) -> tuple[list[int], list[int]]:
    """Every paper id in the live lexical index (with repeats, if any) and in the vector index."""
    store = SearchStore.open_current(home, dim, writable=False)
    searcher = store.lexical.index.searcher()
    hits = searcher.search(tantivy.Query.all_query(), 100_000).hits
    lexical = [int(searcher.doc(address)["paper_id"][0]) for _, address in hits]
    vectors = [int(key) for key in store.vectors.index.keys]
    return lexical, vectors


def assert_consistent(sessions: sessionmaker[Session], home: Path, dim: int) -> None:
    with sessions() as session:
        all_ids = paper_ids_after(session, 0, 100_000)
        live = sorted(pid for pid, p in paper_contents(session, all_ids).items() if not p.withdrawn)
        assert pending_count(session) == 0 and vector_pending_count(session) == 0
    lexical, vectors = indexed_ids(home, dim)
    assert sorted(lexical) == live, "lexical index: every live paper exactly once"
    assert sorted(vectors) == live, "vector index: every live paper exactly once"


@pytest.fixture
def loaded(sessions: sessionmaker[Session], shared_data: Path) -> list:
    records = sample_records(shared_data, limit=60)
    with sessions() as session, session.begin():
        upsert_papers(session, records)
    return records


def _failing_after(calls: int, original: Callable[..., object]) -> Callable[..., object]:
    state = {"n": 0}

    def wrapper(*args: object, **kwargs: object) -> object:
        state["n"] += 1
        if state["n"] > calls:
            raise RuntimeError("simulated crash")
        return original(*args, **kwargs)

    return wrapper


def store_first_half_of_the_vectors(
    sessions: sessionmaker[Session], embedder: MemoizingEmbedder, upper: bool = False
) -> list[int]:
    """Store the vectors of the papers with the lower (or upper) half of the ids, as the indexer would
    have; their ids. The vector queue takes the newest papers, the upper half, first."""
    with sessions() as session, session.begin():
        contents = paper_contents(session, paper_ids_after(session, 0, 1000))
        ids = sorted(contents)
        first_half = ids[len(ids) // 2 :] if upper else ids[: len(ids) // 2]
        texts = [document_text(contents[pid].title, contents[pid].abstract) for pid in first_half]
        vectors = embedder.embed_documents(texts)
        store_embeddings(
            session,
            embedder.name,
            {
                pid: (content_hash(embedder.signature, t), vectors[i])
                for i, (pid, t) in enumerate(zip(first_half, texts, strict=True))
            },
        )
    return first_half


def queued(sessions: sessionmaker[Session]) -> int:
    """Papers waiting in either queue (keyword index or vectors)."""
    with sessions() as session:
        return pending_count(session) + vector_pending_count(session)


@pytest.mark.parametrize(
    "crash_point",
    ["embedding", "lexical-commit", "vector-save", "acknowledge", "acknowledge-vectors"],
)
def test_crash_at_each_point_is_repaired_by_the_next_run(
    crash_point: str,
    loaded: list,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    embedder: MemoizingEmbedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "home"
    # Keyword commits after every batch (not every 30 s): a crash can fall between two of them.
    indexer = Indexer(
        sessions, home, embedder, batch_size=8, flush_every=16, keyword_batch=16, keyword_commit_seconds=0
    )
    target = {
        "embedding": (MemoizingEmbedder, "embed_documents", 3),
        "lexical-commit": (type(SearchStore.open_current(home, embedder.dim, True).lexical), "commit", 2),
        "vector-save": (VectorIndex, "save", 2),
        "acknowledge": (None, "acknowledge", 2),
        "acknowledge-vectors": (None, "acknowledge_vectors", 2),
    }[crash_point]
    owner, name, calls = target
    if owner is None:
        import paperboy.search.indexer as module

        monkeypatch.setattr(module, name, _failing_after(calls, getattr(module, name)))
    else:
        monkeypatch.setattr(owner, name, _failing_after(calls, getattr(owner, name)))
    with pytest.raises(RuntimeError, match="simulated crash"):
        indexer.run()
    monkeypatch.undo()
    assert 0 < queued(sessions) <= len(loaded), "the crashed part is still queued"
    embedded_before = count_embeddings_of(sessions, embedder.name)
    summary = Indexer(
        sessions, home, embedder, batch_size=8, flush_every=16, keyword_batch=16, keyword_commit_seconds=0
    ).run()
    assert summary.embedded == len(loaded) - embedded_before, "vectors stored before the crash are reused"
    assert_consistent(sessions, home, embedder.dim)


def count_embeddings_of(sessions: sessionmaker[Session], model: str) -> int:
    with sessions() as session:
        return count_embeddings(session, model)


@pytest.mark.slow
def test_real_kill_of_the_indexer_then_rerun(
    loaded: list,
    sessions: sessionmaker[Session],
    cli_env: dict[str, str],
    embedder: MemoizingEmbedder,
) -> None:
    """SIGKILL `paperboy index` mid-run (a real process), rerun it, and check the indexes are whole."""
    home = Path(cli_env["PAPERBOY_HOME"])
    # Half the vectors already stored (fast start), half to embed for real in the child (slow tail).
    first_half = store_first_half_of_the_vectors(sessions, embedder)
    env = {
        **cli_env,
        "PAPERBOY_INDEX_BATCH_SIZE": "6",
        "PAPERBOY_INDEX_FLUSH_EVERY": "6",
        "HF_HUB_OFFLINE": "1",
    }
    child = subprocess.Popen(
        [str(PAPERBOY), "index", "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 120
    total = len(loaded)
    while time.monotonic() < deadline and child.poll() is None:
        with sessions() as session:
            keyword_done = pending_count(session) == 0
            waiting = vector_pending_count(session)
        if keyword_done and 0 < waiting <= total - 2 * 6:  # keyword pass done, vectors half-way
            break
        time.sleep(0.02)
    assert child.poll() is None, f"the indexer finished before it could be killed: {child.stdout.read()!r}"  # type: ignore[union-attr]
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    left = queued(sessions)
    assert 0 < left < total
    lexical, _ = indexed_ids(home, embedder.dim)
    assert len(lexical) == total, "every paper was keyword-searchable before the vectors were done"
    rerun = subprocess.run(
        [str(PAPERBOY), "index", "--quiet"], env=env, capture_output=True, text=True, timeout=300
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "0 still queued" in rerun.stdout and "all have vectors" in rerun.stdout
    assert_consistent(sessions, home, embedder.dim)
    with sessions() as session:
        assert count_embeddings(session, embedder.name) == total
    # The killed-and-resumed index answers exactly like a fresh rebuild of the same data.
    reference = {}
    store = SearchStore.open_current(home, embedder.dim, writable=False)
    for pid in first_half[:5]:
        vector = store.vectors.vector(pid)
        assert vector is not None
        reference[pid] = [key for key, _ in store.vectors.search(vector, 10)]
    rebuilt = subprocess.run(
        [str(PAPERBOY), "index", "--rebuild", "--quiet"], env=env, capture_output=True, text=True, timeout=300
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "embedded 0" in rebuilt.stdout
    store = SearchStore.open_current(home, embedder.dim, writable=False)
    for pid, neighbours in reference.items():
        vector = store.vectors.vector(pid)
        assert vector is not None and np.isfinite(vector).all()
        assert [key for key, _ in store.vectors.search(vector, 10)] == neighbours


@pytest.mark.parametrize("stored_first", [False, True], ids=["new papers first", "stored vectors first"])
def test_stored_vectors_go_in_growing_batches_and_embedding_in_small_ones(
    stored_first: bool,
    loaded: list,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    embedder: MemoizingEmbedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Vectors already in the database (after a rebuild, a restore, or Ray embedding ahead) cost nothing
    to compute: the vector pass doubles its batches over them, and commits the vector file by the clock,
    not every `flush_every` papers (at 2.7M papers that rewrote a 2 GB file 135 times). A batch that has
    to embed drops back to the small size, so new keyword work is still taken between short steps."""
    import paperboy.search.indexer as module

    # A run of dates is a run of the queue; stored first, the growing batches reach the new papers.
    stored = store_first_half_of_the_vectors(sessions, embedder, upper=stored_first)
    events: list[tuple[str, int]] = []
    take = module.take_vector_batch
    monkeypatch.setattr(
        module,
        "take_vector_batch",
        lambda session, limit, after=None: events.append(("take", limit)) or take(session, limit, after),
    )
    embed = embedder.embed_documents
    monkeypatch.setattr(
        embedder, "embed_documents", lambda texts: events.append(("embed", len(texts))) or embed(texts)
    )
    saves = {"n": 0}
    save = VectorIndex.save
    monkeypatch.setattr(
        VectorIndex, "save", lambda self: saves.__setitem__("n", saves["n"] + 1) or save(self)
    )

    monkeypatch.setattr(module, "MIN_FLUSH_SECONDS", 3600.0)  # commits by count only, however slow the run
    monkeypatch.setattr(module, "MAX_FLUSH_SECONDS", 3600.0)
    home = tmp_path / "home"
    summary = Indexer(sessions, home, embedder, batch_size=2, flush_every=4, keyword_batch=16).run()

    assert summary.embedded == len(loaded) - len(stored) and summary.reused_vectors == len(stored)
    takes = [i for i, (kind, _) in enumerate(events) if kind == "take"]
    vector_pass = events[: max(takes)]  # after its last (empty) take: the keyphrases' own embedding
    assert all(texts <= 2 for kind, texts in vector_pass if kind == "embed"), (
        "a batch grown over stored vectors that reaches new papers embeds no more than batch_size at once",
        vector_pass,
    )
    for here, following in itertools.pairwise(takes):
        limit, embedded = events[here][1], any(kind == "embed" for kind, _ in events[here + 1 : following])
        assert events[following][1] == (2 if embedded else min(2 * limit, module.REUSE_BATCH)), events
    assert any(limit > 2 for kind, limit in events if kind == "take"), (
        "stored vectors were taken in bigger batches"
    )
    # A commit per 4 newly embedded papers (about 7 here), none for the reused ones (30 more under the old rule).
    embedded_papers = len(loaded) - len(stored)
    assert saves["n"] <= embedded_papers // 4 + 2, saves
    assert_consistent(sessions, home, embedder.dim)


@pytest.mark.parametrize(("every", "commits"), [(3600.0, [True]), (0.0, [False] * 8 + [True])])
def test_a_long_keyword_pass_commits_on_a_clock_and_waits_for_merges_once(
    every: float,
    commits: list[bool],
    loaded: list,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    embedder: MemoizingEmbedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A pass over a large backlog commits every `keyword_commit_seconds` (each commit acknowledges what it
    covers), keeping its writer and the merges it started between commits; only the last commit waits for
    them. (Committing and waiting at every batch of 20,000 made a pass over all of arXiv three times
    slower.) Each commit is searchable, and a crash between them is repaired by the next run."""
    from paperboy.search.lexical import LexicalIndex

    seen: list[bool] = []
    commit = LexicalIndex.commit
    monkeypatch.setattr(
        LexicalIndex, "commit", lambda self, final=True: seen.append(final) or commit(self, final)
    )
    home = tmp_path / "home"
    indexer = Indexer(sessions, home, embedder, keyword_batch=8, keyword_commit_seconds=every)
    indexer._vector_pass = lambda *args: None  # type: ignore[method-assign]  # the keyword pass alone
    indexer._keyphrase_pass = lambda *args: None  # type: ignore[method-assign]
    indexer.run()
    assert seen == commits
    with sessions() as session:
        assert pending_count(session) == 0 and vector_pending_count(session) == len(loaded)
    lexical, _ = indexed_ids(home, embedder.dim)
    assert sorted(lexical) == sorted(set(lexical)) and len(lexical) == len(loaded)
