"""Embeds the queued papers that lack a current vector, in-process or on a Ray cluster, before indexing.

`paperboy index --executor ray` runs this first; the indexer then finds every vector stored and embeds
nothing. A paper needs a vector when it is queued, not withdrawn, and has no stored vector whose content
hash matches its text under the embedder's signature: the indexer's own rule, so the two never disagree.

The driver (this process) pages through the queue, reads the papers and the stored content hashes in
chunks, and hands Ray windows of (paper_id, text, hash) rows. Ray Data runs `map_batches` over a pool of
actors that each load the model once; the driver writes the vectors back to the database batch by batch
as they arrive (`iter_batches`), one transaction each. A failure midway keeps every batch written, and a
rerun embeds only what is still missing. Ray workers need no database access (SQLite works on a remote
cluster too) but must have Paperboy and its model packages installed.

Ray is an optional extra (`pip install 'paperboy[scale]'`), imported only when the ray executor runs.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session, sessionmaker

from paperboy.db.repositories.embeddings import load_content_hashes, store_embeddings
from paperboy.db.repositories.search_docs import paper_contents
from paperboy.db.repositories.vector_queue import waiting_for_vectors, waiting_for_vectors_count
from paperboy.progress import Progress, SilentProgress
from paperboy.search.embedder import QUANTIZED_TAG, Embedder, MiniLmOnnxEmbedder, document_text
from paperboy.search.indexer import content_hash

Executor = Literal["local", "ray"]
EXECUTORS: tuple[Executor, ...] = ("local", "ray")
READ_CHUNK = 1000
"""Queued papers read from the database per query while planning."""
BATCH = 64
"""Papers per embedding batch: one Ray block, one actor call, one database transaction (small enough
that a few hundred papers keep several workers busy; an actor call still lasts about a second)."""
WINDOW = 50_000
"""Rows handed to Ray per dataset: bounds the driver's memory and the object store on huge queues."""
INSTALL_HINT = "install paperboy[scale] (pip install 'paperboy[scale]')"


class BatchEmbedError(RuntimeError):
    """The batch could not run (bad settings, Ray missing or failing); what was written is kept."""


@dataclass
class BatchEmbedSummary:
    """What a batch embedding run did."""

    executor: str
    workers: int
    queued: int = 0
    """Queued papers looked at."""
    embedded: int = 0
    skipped: int = 0
    """Queued papers that needed no vector: a current one is stored, or the paper is withdrawn or gone."""
    seconds: float = 0.0
    complete: bool = True
    """False when `limit` stopped the run before the whole queue was covered."""

    @property
    def docs_per_s(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0

    def line(self) -> str:
        workers = (
            f", {self.workers} worker{'s' if self.workers != 1 else ''}" if self.executor == "ray" else ""
        )
        return (
            f"batch embedding ({self.executor}{workers}): embedded {self.embedded} papers "
            f"({self.docs_per_s:,.1f}/s), skipped {self.skipped} with a current vector or none needed "
            f"({self.seconds:.1f} s)" + ("" if self.complete else "; stopped at the limit")
        )


@dataclass(frozen=True)
class _Rows:
    """Papers to embed: ids, texts and the content hashes their vectors will be stored under."""

    paper_ids: list[int]
    texts: list[str]
    hashes: list[str]

    def __len__(self) -> int:
        return len(self.paper_ids)


def _plan(
    sessions: sessionmaker[Session],
    embedder: Embedder,
    summary: BatchEmbedSummary,
    reporter: Progress,
    read_chunk: int,
    window: int,
    limit: int | None,
) -> Iterator[_Rows]:
    """Windows of queued papers that lack a current vector, in paper id order, at most `limit` in all."""
    model, signature, dim = embedder.name, embedder.signature, embedder.dim
    after, wanted = 0, 0
    ids: list[int] = []
    texts: list[str] = []
    hashes: list[str] = []
    while True:
        if limit is not None and wanted >= limit:
            with sessions() as session:
                summary.complete = not waiting_for_vectors(session, 1, after)
            break
        with sessions() as session:
            taken = waiting_for_vectors(session, read_chunk, after)
            papers = paper_contents(session, taken)
            stored = load_content_hashes(session, model, taken)
        if not taken:
            break
        skipped = 0
        for paper_id in taken:
            if limit is not None and wanted >= limit:
                break
            after = paper_id
            summary.queued += 1
            paper = papers.get(paper_id)
            if paper is None or paper.withdrawn:
                skipped += 1
                continue
            text = document_text(paper.title, paper.abstract)
            digest = content_hash(signature, text)
            if stored.get(paper_id) == (digest, dim):
                skipped += 1
                continue
            ids.append(paper_id)
            texts.append(text)
            hashes.append(digest)
            wanted += 1
        summary.skipped += skipped
        reporter.advance(skipped, 0)
        if len(ids) >= window:
            yield _Rows(ids, texts, hashes)
            ids, texts, hashes = [], [], []
    if ids:
        yield _Rows(ids, texts, hashes)


def _write(
    sessions: sessionmaker[Session],
    model: str,
    paper_ids: Sequence[int],
    hashes: Sequence[str],
    vectors: npt.NDArray[np.float32],
    summary: BatchEmbedSummary,
    reporter: Progress,
) -> None:
    """Store one batch of vectors in its own transaction (durable before the next batch starts)."""
    fresh = {
        int(pid): (str(digest), np.asarray(vector, dtype=np.float32))
        for pid, digest, vector in zip(paper_ids, hashes, vectors, strict=True)
    }
    with sessions() as session, session.begin():
        store_embeddings(session, model, fresh)
    summary.embedded += len(fresh)
    reporter.advance(len(fresh), len(fresh))


def _embed_local(
    sessions: sessionmaker[Session],
    embedder: Embedder,
    rows: _Rows,
    batch_size: int,
    summary: BatchEmbedSummary,
    reporter: Progress,
) -> None:
    for start in range(0, len(rows), batch_size):
        end = start + batch_size
        vectors = embedder.embed_documents(rows.texts[start:end])
        _write(
            sessions,
            embedder.name,
            rows.paper_ids[start:end],
            rows.hashes[start:end],
            vectors,
            summary,
            reporter,
        )


class EmbedActor:
    """A Ray Data actor: loads the model once, then embeds one batch of rows per call."""

    def __init__(self, signature: str, batch_size: int, max_chunks: int, threads: int) -> None:
        self.embedder = MiniLmOnnxEmbedder(
            threads=threads, batch_size=batch_size, max_chunks=max_chunks, quantize=QUANTIZED_TAG in signature
        )
        if self.embedder.signature != signature:
            raise BatchEmbedError(
                f"the Ray worker's embedder is {self.embedder.signature!r}, the driver's {signature!r}: "
                "install the same Paperboy and model packages on the cluster"
            )

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        vectors = self.embedder.embed_documents([str(text) for text in batch["text"]])
        return {"paper_id": batch["paper_id"], "hash": batch["hash"], "vector": vectors}


def _last_line(exc: BaseException) -> str:
    """The line of a Ray error that names the original exception (its message ends with that line)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast on a `host:port` nobody listens on (Ray itself retries such an address for minutes)."""
    target = address.removeprefix("ray://")
    if target == "auto" or ":" not in target:
        return
    host, _, port = target.rpartition(":")
    if not port.isdigit():
        raise BatchEmbedError(f"--ray-address: expected HOST:PORT (or ray://HOST:PORT), got {address!r}")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise BatchEmbedError(f"cannot reach Ray at {address}: {exc.strerror or exc}") from None


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise BatchEmbedError(f"the ray executor needs Ray: {INSTALL_HINT} ({exc})") from None
    return ray


class _RayRunner:
    """Connects to (or starts) Ray once per run and embeds windows of rows on a pool of actors."""

    def __init__(
        self, embedder: MiniLmOnnxEmbedder, workers: int, cpus_per_worker: float, address: str | None
    ) -> None:
        self.ray = _import_ray()
        self.embedder = embedder
        self.workers = workers
        self.cpus_per_worker = cpus_per_worker
        self.started_here = False
        if not self.ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.ERROR}
            if address is None:
                options.update(address="local", num_cpus=os.cpu_count() or 1)
            else:
                options["address"] = address
            try:
                self.ray.init(**options)
            except Exception as exc:
                where = address or "a local instance"
                raise BatchEmbedError(f"cannot start or reach Ray at {where}: {exc}") from None
            self.started_here = True
        needed = workers * cpus_per_worker
        available = float(self.ray.cluster_resources().get("CPU", 0))
        if address is None and needed > available:
            self.close()
            raise BatchEmbedError(
                f"{workers} worker(s) of {cpus_per_worker:g} CPU need {needed:g} CPUs; "
                f"the local Ray instance has {available:g}"
            )
        context = self.ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        if hasattr(context, "print_on_execution_start"):
            context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)  # failures are raised, not logged

    def embed(
        self,
        sessions: sessionmaker[Session],
        rows: _Rows,
        batch_size: int,
        summary: BatchEmbedSummary,
        reporter: Progress,
    ) -> None:
        ray = self.ray
        items = [
            {"paper_id": pid, "text": text, "hash": digest}
            for pid, text, digest in zip(rows.paper_ids, rows.texts, rows.hashes, strict=True)
        ]
        # One block per batch, each one actor call: Ray would otherwise merge blocks smaller than a
        # batch size into bigger batches, and the first vectors would reach the database later.
        dataset = ray.data.from_items(items, override_num_blocks=math.ceil(len(items) / batch_size))
        embedded = dataset.map_batches(
            EmbedActor,
            fn_constructor_kwargs={
                "signature": self.embedder.signature,
                "batch_size": self.embedder.batch_size,
                "max_chunks": self.embedder.max_chunks,
                "threads": max(1, round(self.cpus_per_worker)),
            },
            compute=ray.data.ActorPoolStrategy(size=self.workers),
            num_cpus=self.cpus_per_worker,
            batch_size=None,
            batch_format="numpy",
        )
        batches = iter(embedded.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1))
        try:
            for batch in batches:
                _write(
                    sessions,
                    self.embedder.name,
                    batch["paper_id"].tolist(),
                    batch["hash"].tolist(),
                    np.asarray(batch["vector"], dtype=np.float32),
                    summary,
                    reporter,
                )
        except ray.exceptions.RayError as exc:
            raise BatchEmbedError(
                f"embedding on Ray failed (the vectors written so far are kept): {_last_line(exc)}"
            ) from exc
        finally:
            close = getattr(batches, "close", None)
            if close is not None:
                close()

    def close(self) -> None:
        if self.started_here:
            self.ray.shutdown()
            self.started_here = False


def batch_embed(
    sessions: sessionmaker[Session],
    embedder: Embedder,
    executor: str = "local",
    *,
    workers: int = 1,
    cpus_per_worker: float = 1.0,
    ray_address: str | None = None,
    batch_size: int = BATCH,
    read_chunk: int = READ_CHUNK,
    window: int = WINDOW,
    limit: int | None = None,
    progress: Progress | None = None,
) -> BatchEmbedSummary:
    """Embed and store vectors for the queued papers that lack a current one; returns what it did.

    `executor` is "local" (this process, batched) or "ray" (`workers` actors of `cpus_per_worker` CPUs
    each, on the Ray instance at `ray_address`, an already initialized one, or a local one started and
    stopped here). `limit` stops after that many papers (the rest stays for the next run). Safe to rerun
    after a failure: nothing is embedded twice. Raises BatchEmbedError for bad settings or a Ray failure.
    """
    if executor not in EXECUTORS:
        raise BatchEmbedError(f"executor must be one of {', '.join(EXECUTORS)}, got {executor!r}")
    if workers < 1:
        raise BatchEmbedError(f"workers must be at least 1, got {workers}")
    if cpus_per_worker <= 0:
        raise BatchEmbedError(f"cpus_per_worker must be positive, got {cpus_per_worker}")
    if batch_size < 1 or read_chunk < 1 or window < 1:
        raise BatchEmbedError("batch_size, read_chunk and window must be at least 1")
    if limit is not None and limit < 0:
        raise BatchEmbedError(f"limit must not be negative, got {limit}")
    reporter = progress or SilentProgress()
    summary = BatchEmbedSummary(executor=executor, workers=workers if executor == "ray" else 1)
    started = time.monotonic()
    runner: _RayRunner | None = None
    if executor == "ray":
        if not isinstance(embedder, MiniLmOnnxEmbedder):
            raise BatchEmbedError(
                f"the ray executor runs MiniLmOnnxEmbedder on its workers, not {type(embedder).__name__}"
            )
        _import_ray()  # a missing extra is reported even when nothing is queued
        if ray_address is not None:
            check_reachable(ray_address)
    try:
        with sessions() as session:
            total = waiting_for_vectors_count(session)
        reporter.start(f"embed ({executor})", total, "papers")
        try:
            for rows in _plan(sessions, embedder, summary, reporter, read_chunk, window, limit):
                if executor == "local":
                    _embed_local(sessions, embedder, rows, batch_size, summary, reporter)
                    continue
                assert isinstance(embedder, MiniLmOnnxEmbedder)
                if runner is None:  # Ray starts only when there is work: a no-op cron run stays cheap
                    runner = _RayRunner(embedder, workers, cpus_per_worker, ray_address)
                runner.embed(sessions, rows, batch_size, summary, reporter)
        finally:
            reporter.finish()
    finally:
        if runner is not None:
            runner.close()
    summary.seconds = time.monotonic() - started
    return summary
