"""Keeps the search index in step with the database, keyword search first and vectors after.

An index run has two passes:
1. Keyword pass (about 20,000 papers a second): the papers the ingest queue names go into the BM25
   index; its commit makes them searchable by their words (and exact title and id) at once. The same
   transaction that acknowledges them queues them for vectors.
2. Vector pass (tens of papers a second, the slow part): papers get their vectors in the order visitors
   meet them (db/repositories/vector_queue.py), from the database when the text is unchanged, else
   embedded and stored first. Between batches the run checks for new keyword work, so papers ingested
   meanwhile are searchable within seconds even while a large backlog is embedded.

Crash safety, in both passes: what a step writes to the index is made durable (the backend's commit)
before the queue entries it covers are acknowledged, and vectors are stored in the database as soon as
they are computed. A kill at any point leaves entries queued that the next run processes again,
idempotently: nothing is lost, nothing is duplicated, and no paper is embedded twice.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from paperboy.clock import utcnow
from paperboy.db.repositories.embeddings import load_embeddings, store_embeddings
from paperboy.db.repositories.ingest_state import instance_id
from paperboy.db.repositories.queue import (
    acknowledge,
    enqueue_for_index,
    everything_queued,
    has_pending,
    pending_count,
    queued_generations,
    take_batch,
)
from paperboy.db.repositories.search_docs import (
    PaperContent,
    count_searchable,
    keywords_pending,
    paper_contents,
    paper_ids_after,
    papers_needing_keywords,
    store_keywords,
)
from paperboy.db.repositories.vector_queue import (
    Cursor,
    acknowledge_vectors,
    enqueue_for_vectors,
    take_vector_batch,
    vector_pending_count,
)
from paperboy.progress import Progress, SilentProgress
from paperboy.search.backend import IndexCounts, IndexWriter, SearchBackend
from paperboy.search.embedded import EmbeddedBackend
from paperboy.search.embedder import Embedder, document_text
from paperboy.search.keyphrases import keyphrases
from paperboy.search.repair import IndexRepair
from paperboy.search.status import record_progress

BATCH = 256
KEYPHRASE_BATCH = 256
"""Papers whose keyphrases one batch extracts (about 12 short phrases each, embedded together)."""
KEYWORD_BATCH = 20_000
KEYWORD_COMMIT_SECONDS = 30.0
"""How often a long keyword pass commits: a backlog of millions becomes searchable half a minute at a time."""
REUSE_BATCH = 16_384
"""Largest vector-pass batch: batches double up to this while every vector in them is already stored
(after a rebuild or a restore, or once `--executor ray` embedded ahead), since then a batch costs
milliseconds, not minutes; they drop back to `batch_size` as soon as one needs embedding."""
FLUSH_EVERY = 20_000
MIN_FLUSH_SECONDS = 5.0
MAX_FLUSH_SECONDS = 120.0
FLUSH_COST_SHARE = 0.05
"""Vector commits rewrite the whole vector file (0.8 GB at 1M papers): commit often while that is cheap,
so a new library gains meaning search in seconds, and rarely enough at scale that saving takes at most
this share of the run. Besides the clock, `flush_every` newly embedded papers force a commit; vectors
taken from the database do not count (at 2.7M papers, a commit every 20,000 of them rewrote a 2 GB file
135 times)."""


@dataclass
class IndexSummary:
    """What an index run did."""

    keyword_indexed: int = 0
    removed: int = 0
    vectors_added: int = 0
    embedded: int = 0
    reused_vectors: int = 0
    embed_seconds: float = 0.0
    seconds: float = 0.0
    rebuilt: bool = False
    documents: int = 0
    with_vectors: int = 0
    pending: int = 0
    vector_pending: int = 0
    stopped: bool = False
    keyphrased: int = 0
    """Papers whose keyphrases were extracted in this run."""
    notes: list[str] = field(default_factory=list)

    @property
    def indexed(self) -> int:
        return self.keyword_indexed

    @property
    def embed_rate(self) -> float:
        return self.embedded / self.embed_seconds if self.embed_seconds > 0 else 0.0

    @property
    def changed(self) -> bool:
        return bool(self.keyword_indexed or self.removed or self.vectors_added)

    def line(self) -> str:
        kind = "rebuilt" if self.rebuilt else "keyword-indexed"
        waiting = f"{self.vector_pending:,} wait for vectors" if self.vector_pending else "all have vectors"
        return (
            f"{kind} {self.keyword_indexed:,} papers, removed {self.removed:,}; vectors for "
            f"{self.vectors_added:,} (embedded {self.embedded:,} at {self.embed_rate:,.1f}/s, reused "
            f"{self.reused_vectors:,} stored); index holds {self.documents:,} papers, {waiting}; "
            f"{self.pending:,} still queued ({self.seconds:.1f} s)"
        )


def content_hash(signature: str, text: str) -> str:
    """Identifies the text and embedder settings a vector came from, so unchanged papers are never re-embedded."""
    return hashlib.sha256(f"{signature}\n{text}".encode()).hexdigest()


class Indexer:
    """Indexes papers for one data dir and one embedder."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        index: SearchBackend | Path,
        embedder: Embedder,
        batch_size: int = BATCH,
        flush_every: int = FLUSH_EVERY,
        keyword_batch: int = KEYWORD_BATCH,
        keyword_commit_seconds: float = KEYWORD_COMMIT_SECONDS,
    ) -> None:
        """`index` is a backend, or a data dir whose embedded index to keep."""
        self.sessions = sessions
        self.backend: SearchBackend = (
            EmbeddedBackend(index, embedder.dim) if isinstance(index, Path) else index
        )
        self.embedder = embedder
        self.batch_size = batch_size
        self.flush_every = flush_every
        self.keyword_batch = keyword_batch
        self.keyword_commit_seconds = keyword_commit_seconds

    # --- vectors -------------------------------------------------------------------------------
    def _write_vectors(
        self,
        writer: IndexWriter,
        paper_ids: Sequence[int],
        papers: dict[int, PaperContent],
        summary: IndexSummary,
    ) -> int:
        """Vectors of `paper_ids` (queue order) into the index: stored ones where the text is unchanged,
        new ones embedded and stored (committed) first. Returns how many of `paper_ids` it took: all, or
        those before the paper that would make more than `batch_size` to embed (a batch grown over
        stored vectors may reach new papers; embedding thousands at once would leave the pass deaf to
        `stop` and its progress still for minutes)."""
        model, dim = self.embedder.name, self.embedder.dim
        live = [papers[pid] for pid in paper_ids if pid in papers and not papers[pid].withdrawn]
        texts = {p.paper_id: document_text(p.title, p.abstract) for p in live}
        hashes = {pid: content_hash(self.embedder.signature, text) for pid, text in texts.items()}
        with self.sessions() as session:
            stored = load_embeddings(session, model, list(texts))
        vectors = {pid: vec for pid, (h, vec) in stored.items() if h == hashes[pid] and vec.shape == (dim,)}
        missing = [pid for pid in paper_ids if pid in texts and pid not in vectors]
        taken = len(paper_ids)
        if len(missing) > self.batch_size:
            taken = list(paper_ids).index(missing[self.batch_size])
            missing = missing[: self.batch_size]
        if taken < len(paper_ids):
            paper_ids = paper_ids[:taken]
            kept = set(paper_ids)
            live = [p for p in live if p.paper_id in kept]
        summary.reused_vectors += sum(1 for p in live if p.paper_id in vectors)
        if missing:
            started = time.monotonic()
            computed = self.embedder.embed_documents([texts[pid] for pid in missing])
            summary.embed_seconds += time.monotonic() - started
            fresh = {pid: (hashes[pid], computed[row]) for row, pid in enumerate(missing)}
            with self.sessions() as session, session.begin():
                store_embeddings(session, model, fresh)
            vectors.update((pid, vec) for pid, (_, vec) in fresh.items())
            summary.embedded += len(missing)
        if live:
            writer.upsert_vectors([p.paper_id for p in live], np.vstack([vectors[p.paper_id] for p in live]))
        writer.delete_vectors([pid for pid in paper_ids if pid not in texts])
        summary.vectors_added += len(live)
        return taken

    # --- passes --------------------------------------------------------------------------------
    def _keyword_pass(self, writer: IndexWriter, summary: IndexSummary, reporter: Progress) -> None:
        """Everything the ingest queue holds goes into the keyword index, then into the vector queue.

        A commit makes what it covers searchable and acknowledges it. A large backlog (all of arXiv) is
        committed every `keyword_commit_seconds`, not every batch, and the index's segment merges run on
        meanwhile; the pass's last commit waits for them.
        """
        with self.sessions() as session:
            total = pending_count(session)
        if total == 0:
            return
        reporter.start("keyword index", total, "papers")
        # Into an empty index nothing needs replacing: a pass takes each paper once (its cursor only moves on).
        replace = writer.counts().lexical > 0
        after, uncommitted, last_commit = 0, {}, time.monotonic()
        try:
            while True:
                with self.sessions() as session:
                    taken = take_batch(session, self.keyword_batch, after)  # generations first, then content
                    papers = paper_contents(session, list(taken))
                if not taken:
                    break
                live = [p for p in papers.values() if not p.withdrawn]
                gone = [pid for pid in taken if pid not in papers or papers[pid].withdrawn]
                writer.upsert_text(live, replace=replace)
                writer.delete_text(gone)
                uncommitted.update(taken)
                if time.monotonic() - last_commit >= self.keyword_commit_seconds:
                    self._commit_keywords(writer, uncommitted, final=False)
                    uncommitted, last_commit = {}, time.monotonic()
                summary.keyword_indexed += len(live)
                summary.removed += len(gone)
                after = max(taken)
                reporter.advance(len(taken), len(taken))
            self._commit_keywords(writer, uncommitted, final=True)
        finally:
            reporter.finish()
        self._refresh_vocabulary(writer)

    def _commit_keywords(self, writer: IndexWriter, taken: dict[int, int], final: bool) -> None:
        """Commit the keyword index, then acknowledge what it covers and queue it for vectors."""
        writer.commit_text(final)
        if taken:
            with self.sessions() as session, session.begin():
                enqueue_for_vectors(session, list(taken))
                acknowledge(session, taken)

    def _refresh_vocabulary(self, writer: IndexWriter) -> None:
        vocabulary = writer.vocabulary()
        papers = writer.counts().lexical
        if vocabulary.stale(papers):
            vocabulary.rebuild(writer.words(), papers)

    def _vector_pass(
        self, writer: IndexWriter, summary: IndexSummary, reporter: Progress, stop: threading.Event | None
    ) -> None:
        """Vectors for the queued papers, highest priority first; new keyword work is taken between batches."""
        with self.sessions() as session:
            total = vector_pending_count(session)
        if total == 0:
            return
        reporter.start("vectors", total, "papers")
        cursor: Cursor | None = None
        unacknowledged: dict[int, int] = {}
        last_flush, flush_seconds = time.monotonic(), MIN_FLUSH_SECONDS
        embedded_at_flush, size = summary.embedded, self.batch_size
        try:
            while not (stop and stop.is_set()):
                if self._keyword_work_waiting():
                    flush_seconds = self._flush_vectors(writer, unacknowledged, summary)
                    unacknowledged, cursor, last_flush = {}, None, time.monotonic()
                    embedded_at_flush = summary.embedded
                    self._keyword_pass(writer, summary, SilentProgress())
                with self.sessions() as session:
                    batch = take_vector_batch(session, size, cursor)
                    papers = paper_contents(session, [pid for pid, _, _ in batch])
                if not batch:
                    break
                embedded_before = summary.embedded
                batch = batch[: self._write_vectors(writer, [pid for pid, _, _ in batch], papers, summary)]
                reused_all = summary.embedded == embedded_before
                size = min(max(size * 2, self.batch_size), REUSE_BATCH) if reused_all else self.batch_size
                unacknowledged.update((pid, generation) for pid, generation, _ in batch)
                cursor = (batch[-1][2], batch[-1][0])
                reporter.advance(len(batch), len(batch))
                due = time.monotonic() - last_flush > flush_seconds
                if due or summary.embedded - embedded_at_flush >= self.flush_every:
                    flush_seconds = self._flush_vectors(writer, unacknowledged, summary)
                    # Start again from the front: papers queued meanwhile may come before the cursor.
                    unacknowledged, cursor, last_flush = {}, None, time.monotonic()
                    embedded_at_flush = summary.embedded
            self._flush_vectors(writer, unacknowledged, summary)
            summary.stopped = bool(stop and stop.is_set())
        finally:
            reporter.finish()

    def _keyword_work_waiting(self) -> bool:
        with self.sessions() as session:
            return has_pending(session)

    def _flush_vectors(self, writer: IndexWriter, taken: dict[int, int], summary: IndexSummary) -> float:
        """Commit the vectors, then acknowledge them; returns how long to wait before the next commit."""
        started = time.monotonic()
        writer.commit_vectors()
        cost = time.monotonic() - started
        with self.sessions() as session, session.begin():
            if taken:
                acknowledge_vectors(session, taken)
            record_progress(session, summary.embedded, summary.embed_seconds)
        return min(max(MIN_FLUSH_SECONDS, cost / FLUSH_COST_SHARE), MAX_FLUSH_SECONDS)

    # --- runs ----------------------------------------------------------------------------------
    def run(self, progress: Progress | None = None, stop: threading.Event | None = None) -> IndexSummary:
        """Index what the queues say changed, after making sure the index matches the database; resumable
        after a kill at any point.

        `stop` ends the vector pass at the next batch (the server shutting down): what is done is kept.
        """
        reporter = progress or SilentProgress()
        summary = IndexSummary()
        started = time.monotonic()
        with self.backend.lock():
            database = self._database_id()
            removed = self.backend.remove_orphans()
            if removed:
                summary.notes.append(f"removed {len(removed)} build(s) left by interrupted rebuilds")
            writer = self._writer(database, summary)
            if writer is None:  # nothing to do: do not open the index for writing
                self._keyphrase_pass(summary, reporter, stop)
                self._finish(summary, self.backend.counts(), started)
                return summary
            self._keyword_pass(writer, summary, reporter)
            self._vector_pass(writer, summary, reporter, stop)
            counts = writer.counts()
            self._keyphrase_pass(summary, reporter, stop)
        self._finish(summary, counts, started)
        return summary

    def _keyphrase_pass(
        self, summary: IndexSummary, reporter: Progress, stop: threading.Event | None
    ) -> None:
        """Keyphrases for papers that have a vector and none yet, a batch at a time, after the vectors (it
        yields as soon as new index work arrives: the next run goes on)."""
        with self.sessions() as session:
            total = keywords_pending(session)
        if total == 0:
            return
        reporter.start("keyphrases", total, "papers")
        try:
            while not (stop and stop.is_set()):
                with self.sessions() as session:
                    rows = papers_needing_keywords(session, self.embedder.name, KEYPHRASE_BATCH)
                if not rows:
                    return
                found = keyphrases(
                    self.embedder, [(t, a, np.frombuffer(v, dtype=np.float32)) for _, t, a, v in rows]
                )
                with self.sessions() as session, session.begin():
                    store_keywords(session, {r[0]: k for r, k in zip(rows, found, strict=True)}, utcnow())
                summary.keyphrased += len(rows)
                reporter.advance(len(rows), len(rows))
                if self._keyword_work_waiting() or self._vector_work_waiting():
                    return
        finally:
            reporter.finish()

    def _vector_work_waiting(self) -> bool:
        with self.sessions() as session:
            return vector_pending_count(session) > 0

    def _database_id(self) -> str:
        for _ in range(3):  # two processes creating it at once: the loser reads the winner's
            try:
                with self.sessions() as session, session.begin():
                    return instance_id(session)
            except IntegrityError:
                continue
        raise RuntimeError("could not read this database's instance id")

    def _writer(self, database: str, summary: IndexSummary) -> IndexWriter | None:
        """The live index to write to, repaired first when it does not match the database (search/repair.py);
        None when there is no work at all."""
        repair = IndexRepair(self.sessions, self.backend, self._queue_everything)
        writer = repair.writer(database, summary.notes)
        if repair.queued_everything or not repair.idle():
            return writer
        if repair.reconcile(writer, summary.notes):
            return writer
        vocabulary = writer.vocabulary()
        if vocabulary.stale(writer.counts().lexical):  # e.g. a new vocabulary format
            self._refresh_vocabulary(writer)
        return None

    def _finish(self, summary: IndexSummary, counts: IndexCounts, started: float) -> None:
        summary.documents = counts.lexical
        summary.with_vectors = counts.embedded
        with self.sessions() as session:
            summary.pending = pending_count(session)
            summary.vector_pending = vector_pending_count(session)
        summary.seconds = time.monotonic() - started

    def _queue_everything(self) -> None:
        """An index built anew must get every paper, not only the recent changes the queue holds: queue
        them all, so the run stays incremental and resumable."""
        with self.sessions() as session:
            if everything_queued(session):  # a fresh ingest of all of arXiv: 2.7M rows not rewritten
                return
        after = 0
        while True:
            with self.sessions() as session, session.begin():
                ids = paper_ids_after(session, after, 10_000)
                if not ids:
                    return
                enqueue_for_index(session, ids, bump=False)  # queued ones are indexed anyway
            after = ids[-1]

    def rebuild(self, progress: Progress | None = None, stop: threading.Event | None = None) -> IndexSummary:
        """Recreate the index from the database and swap it in atomically; then embed what has no stored
        vector yet, in the background order, into the live index."""
        reporter = progress or SilentProgress()
        summary = IndexSummary(rebuilt=True)
        started = time.monotonic()
        with self.backend.lock():
            database = self._database_id()
            self.backend.remove_orphans()
            covered: dict[int, int] = {}
            missing: list[int] = []
            with self.sessions() as session:
                total = count_searchable(session)
            reporter.start("rebuild", total, "papers")
            after = 0
            try:
                with self.backend.rebuild(database) as writer:
                    while True:
                        with self.sessions() as session:
                            ids = paper_ids_after(session, after, self.keyword_batch)
                            covered.update(
                                queued_generations(session, ids)
                            )  # generations first, then content
                            papers = paper_contents(session, ids)
                        if not ids:
                            break
                        live = [p for p in papers.values() if not p.withdrawn]
                        writer.upsert_text(live)
                        missing += self._stored_vectors_into(writer, live, summary)
                        summary.keyword_indexed += len(live)
                        after = ids[-1]
                        reporter.advance(len(ids), len(ids))
                    writer.commit_text()
                    self._refresh_vocabulary(writer)
            finally:
                reporter.finish()
            with self.sessions() as session, session.begin():
                enqueue_for_vectors(session, missing)
                acknowledge(session, covered)
            writer = self.backend.writer(database)
            self._vector_pass(writer, summary, reporter, stop)
            counts = writer.counts()
        self._finish(summary, counts, started)
        return summary

    def _stored_vectors_into(
        self, writer: IndexWriter, papers: Sequence[PaperContent], summary: IndexSummary
    ) -> list[int]:
        """Write the stored vectors of unchanged papers; return the papers that need embedding."""
        model = self.embedder.name
        with self.sessions() as session:
            stored = load_embeddings(session, model, [p.paper_id for p in papers])
        reusable: list[tuple[int, npt.NDArray[np.float32]]] = []
        missing = []
        for paper in papers:
            found = stored.get(paper.paper_id)
            expected = content_hash(self.embedder.signature, document_text(paper.title, paper.abstract))
            if found is not None and found[0] == expected and found[1].shape == (self.embedder.dim,):
                reusable.append((paper.paper_id, found[1]))
            else:
                missing.append(paper.paper_id)
        if reusable:
            writer.upsert_vectors([pid for pid, _ in reusable], np.vstack([vec for _, vec in reusable]))
        summary.reused_vectors += len(reusable)
        summary.vectors_added += len(reusable)
        return missing
