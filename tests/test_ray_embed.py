"""Batch embedding on Ray (`paperboy index --executor ray`) against the in-process executor, on real papers.

One local Ray instance (2 CPUs) serves the module. On SQLite and PostgreSQL, the vectors Ray's actors
compute equal the local executor's for every paper and a second run embeds nothing; a run stopped by a
limit or by a failure midway keeps what it wrote, so the rerun embeds only the rest (never a paper twice).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import ray
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from paperboy.cli import app
from paperboy.config import Settings
from paperboy.db.models import Embedding
from paperboy.db.repositories.embeddings import load_embeddings
from paperboy.db.repositories.queue import pending_count
from paperboy.db.repositories.search_docs import paper_contents
from paperboy.ingest.runner import run_ingest
from paperboy.ingest.sources.files import JsonLinesSource
from paperboy.search.batch_embed import BatchEmbedError, batch_embed
from paperboy.search.embedder import MiniLmOnnxEmbedder, document_text
from paperboy.search.factory import make_indexer
from search_support import MemoizingEmbedder

pytestmark = pytest.mark.slow

PAPERS = 60


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    """One local Ray instance for the module, as CI runs it."""
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def sample(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 60 real arXiv records of the API export, as a JSON-lines file."""
    lines = (shared_data / "arxiv" / "arxiv_api_2023-2025.part01.jsonl").read_text().splitlines()[:PAPERS]
    path = tmp_path_factory.mktemp("ray-sample") / "sample.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def minilm(embedder: MemoizingEmbedder) -> MiniLmOnnxEmbedder:
    """The real model, unmemoized: both executors compute every vector."""
    inner = embedder.inner
    assert isinstance(inner, MiniLmOnnxEmbedder)
    return inner


@pytest.fixture
def loaded(sessions: sessionmaker[Session], sample: Path) -> sessionmaker[Session]:
    summary = run_ingest(sessions, JsonLinesSource(sample))
    assert summary.new == PAPERS
    with sessions() as session:
        assert pending_count(session) == PAPERS
    return sessions


def _vectors(sessions: sessionmaker[Session], model: str) -> dict[int, tuple[str, np.ndarray]]:
    with sessions() as session:
        ids = list(session.scalars(select(Embedding.paper_id).where(Embedding.model == model)))
        return load_embeddings(session, model, ids)


def _rows(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Embedding)) or 0


def test_ray_vectors_equal_the_local_executors_and_a_rerun_embeds_nothing(
    loaded: sessionmaker[Session],
    minilm: MiniLmOnnxEmbedder,
    embedder: MemoizingEmbedder,
    settings: Settings,
) -> None:
    sessions = loaded
    # The local executor on the session's memoized model: computed once, the same vectors on both backends.
    local = batch_embed(sessions, embedder, "local", batch_size=16)
    assert (local.embedded, local.skipped, local.complete) == (PAPERS, 0, True)
    expected = _vectors(sessions, minilm.name)
    assert len(expected) == PAPERS
    with sessions() as session, session.begin():
        session.execute(delete(Embedding))

    distributed = batch_embed(sessions, minilm, "ray", workers=2, batch_size=16)
    assert (distributed.embedded, distributed.skipped, distributed.queued) == (PAPERS, 0, PAPERS)
    assert distributed.docs_per_s > 0 and "ray, 2 workers" in distributed.line()
    got = _vectors(sessions, minilm.name)
    assert got.keys() == expected.keys()
    for paper_id, (digest, vector) in expected.items():
        assert got[paper_id][0] == digest
        assert got[paper_id][1].shape == (minilm.dim,)
        assert np.allclose(got[paper_id][1], vector, atol=1e-5), paper_id

    again = batch_embed(sessions, minilm, "ray", workers=2, batch_size=16)
    assert (again.embedded, again.skipped) == (0, PAPERS)
    assert _rows(sessions) == PAPERS
    # The indexer then reuses every stored vector: nothing left to embed.
    indexed = make_indexer(settings, sessions, minilm).run()
    assert (indexed.embedded, indexed.reused_vectors, indexed.indexed) == (0, PAPERS, PAPERS)


class FailAfterFirstWrite:
    """A progress reporter that fails once the first batch of vectors is stored: a crash midway."""

    def __init__(self) -> None:
        self.written = 0

    def start(self, description: str, total: int | None, unit: str) -> None:
        pass

    def advance(self, progress: int, records: int) -> None:
        self.written += records
        if records:
            raise RuntimeError("simulated failure after the first batch")

    def total_known(self, total: int) -> None:
        pass

    def finish(self) -> None:
        pass


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # the database a cluster would use
def test_ray_runs_resume_after_a_limit_and_a_failure_without_embedding_twice(
    loaded: sessionmaker[Session], minilm: MiniLmOnnxEmbedder, embedder: MemoizingEmbedder
) -> None:
    sessions = loaded
    first = batch_embed(sessions, minilm, "ray", workers=1, batch_size=8, limit=20)
    assert (first.embedded, first.complete) == (20, False)
    assert "stopped at the limit" in first.line()
    assert _rows(sessions) == 20

    failing = FailAfterFirstWrite()
    with pytest.raises(RuntimeError, match="simulated failure"):
        batch_embed(sessions, minilm, "ray", workers=1, batch_size=8, progress=failing)
    assert failing.written == 8
    assert _rows(sessions) == 28  # the batch written before the failure is kept

    # Small reads and windows: the rest goes to Ray as two datasets, one after the other.
    rest = batch_embed(sessions, minilm, "ray", workers=2, batch_size=8, read_chunk=16, window=16)
    assert (rest.embedded, rest.skipped, rest.complete) == (PAPERS - 28, 28, True)
    assert first.embedded + failing.written + rest.embedded == PAPERS  # no paper embedded twice
    assert _rows(sessions) == PAPERS
    assert batch_embed(sessions, minilm, "ray", workers=1).embedded == 0
    # Every stored vector is the one the model gives for the paper's text.
    stored = _vectors(sessions, minilm.name)
    with sessions() as session:
        papers = paper_contents(session, sorted(stored))
    reference = embedder.embed_documents(
        [document_text(papers[pid].title, papers[pid].abstract) for pid in sorted(stored)]
    )
    for row, pid in enumerate(sorted(stored)):
        assert np.allclose(stored[pid][1], reference[row], atol=1e-5), pid


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_index_command_with_ray_end_to_end(cli: CliRunner, sample: Path) -> None:
    """`paperboy index --executor ray --workers 1` as a user runs it, then a search that needs the vectors."""
    assert cli.invoke(app, ["init"]).exit_code == 0
    ingested = cli.invoke(app, ["ingest", "jsonl", str(sample)])
    assert ingested.exit_code == 0, ingested.output
    done = cli.invoke(app, ["index", "--executor", "ray", "--workers", "1", "--quiet"])
    assert done.exit_code == 0, done.output
    assert f"batch embedding (ray, 1 worker): embedded {PAPERS} papers" in done.stdout
    assert f"embedded 0 at 0.0/s, reused {PAPERS} stored" in done.stdout
    assert "0 still queued" in done.stdout
    record = json.loads(sample.read_text().splitlines()[7])
    found = cli.invoke(app, ["search", record["title"], "--json", "--k", "3", "--mode", "dense"])
    assert found.exit_code == 0, found.output
    assert json.loads(found.stdout)["results"][0]["id"] == record["id"]
    again = cli.invoke(app, ["index", "--executor", "ray", "--quiet"])
    assert again.exit_code == 0, again.output
    assert "embedded 0 papers (0.0/s), skipped 0" in again.stdout  # the queue is empty: Ray not even started


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--executor", "gpu"], "--executor must be one of local, ray, got 'gpu'"),
        (["--workers", "2"], "--ray-address and --workers need --executor ray"),
        (["--ray-address", "10.0.0.1:6379"], "--ray-address and --workers need --executor ray"),
        (["--executor", "ray", "--workers", "0"], "--workers must be at least 1, got 0"),
        (["--executor", "ray", "--workers", "3"], "need 3 CPUs; the local Ray instance has 2"),
        (["--executor", "ray", "--ray-address", "127.0.0.1:1"], "cannot reach Ray at 127.0.0.1:1"),
        (["--executor", "ray", "--ray-address", "localhost:http"], "expected HOST:PORT"),
    ],
)
def test_index_command_rejects_bad_executor_options(
    cli: CliRunner, sample: Path, arguments: list[str], message: str
) -> None:
    assert cli.invoke(app, ["init"]).exit_code == 0
    assert cli.invoke(app, ["ingest", "jsonl", str(sample)]).exit_code == 0  # Ray starts only for work
    result = cli.invoke(app, ["index", "--quiet", *arguments])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_ray_executor_without_ray_installed_says_what_to_install(
    cli: CliRunner,
    sessions: sessionmaker[Session],
    embedder: MemoizingEmbedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert cli.invoke(app, ["init"]).exit_code == 0
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    result = cli.invoke(app, ["index", "--quiet", "--executor", "ray"])
    assert result.exit_code == 2, result.output
    assert "install paperboy[scale]" in result.output
    with pytest.raises(BatchEmbedError, match="executor must be one of"):
        batch_embed(sessions, MiniLmOnnxEmbedder(), "spark")
    # Checked before Ray is imported: the workers build the model from the driver's settings.
    with pytest.raises(
        BatchEmbedError, match="runs MiniLmOnnxEmbedder on its workers, not MemoizingEmbedder"
    ):
        batch_embed(sessions, embedder, "ray")
