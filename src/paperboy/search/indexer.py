"""Keeps the search index in step with the database: incremental runs from the dirty queue, and full
rebuilds into a fresh index that replaces the live one atomically (whatever the backend).

Crash safety: vectors are stored in the database as soon as they are computed; the index is made
durable (the backend's commit) before the queue entries it covers are acknowledged. A
kill at any point therefore leaves entries queued that the next run processes again, idempotently:
nothing is lost, nothing is duplicated, and no paper is embedded twice.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session, sessionmaker

from paperboy.db.repositories.embeddings import load_embeddings, store_embeddings
from paperboy.db.repositories.queue import (
    acknowledge,
    enqueue_for_index,
    pending_count,
    queued_generations,
    take_batch,
)
from paperboy.db.repositories.search_docs import (
    PaperContent,
    count_searchable,
    paper_contents,
    paper_ids_after,
)
from paperboy.progress import Progress, SilentProgress
from paperboy.search.backend import IndexWriter, SearchBackend
from paperboy.search.embedded import EmbeddedBackend
from paperboy.search.embedder import Embedder, document_text

BATCH = 256
FLUSH_EVERY = 20_000
FLUSH_SECONDS = 60.0
"""Commit at least this often, so a long first run shows results while it goes."""


@dataclass
class IndexSummary:
    """What an index run did."""

    indexed: int = 0
    removed: int = 0
    embedded: int = 0
    reused_vectors: int = 0
    seconds: float = 0.0
    rebuilt: bool = False
    documents: int = 0
    pending: int = 0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        kind = "rebuilt" if self.rebuilt else "indexed"
        rate = self.embedded / self.seconds if self.seconds > 0 else 0.0
        return (
            f"{kind} {self.indexed} papers, removed {self.removed}; embedded {self.embedded} "
            f"({rate:,.1f}/s), reused {self.reused_vectors} stored vectors; index holds {self.documents} papers; "
            f"{self.pending} still queued ({self.seconds:.1f} s)"
        )


def content_hash(signature: str, text: str) -> str:
    """Identifies the text and embedder settings a vector came from, so unchanged papers are never re-embedded."""
    return hashlib.sha256(f"{signature}\n{text}".encode()).hexdigest()


class Indexer:
    """Embeds and indexes papers for one data dir and one embedder."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        index: SearchBackend | Path,
        embedder: Embedder,
        batch_size: int = BATCH,
        flush_every: int = FLUSH_EVERY,
    ) -> None:
        """`index` is a backend, or a data dir whose embedded index to keep."""
        self.sessions = sessions
        self.backend: SearchBackend = (
            EmbeddedBackend(index, embedder.dim) if isinstance(index, Path) else index
        )
        self.embedder = embedder
        self.batch_size = batch_size
        self.flush_every = flush_every

    def _vectors_for(
        self, papers: Sequence[PaperContent], summary: IndexSummary
    ) -> dict[int, npt.NDArray[np.float32]]:
        """Stored vectors where the text is unchanged; new ones embedded and stored (committed) first."""
        model = self.embedder.name
        texts = {p.paper_id: document_text(p.title, p.abstract) for p in papers}
        hashes = {paper_id: content_hash(self.embedder.signature, text) for paper_id, text in texts.items()}
        with self.sessions() as session:
            stored = load_embeddings(session, model, list(texts))
        dim = self.embedder.dim
        vectors = {pid: vec for pid, (h, vec) in stored.items() if h == hashes[pid] and vec.shape == (dim,)}
        missing = [pid for pid in texts if pid not in vectors]
        summary.reused_vectors += len(vectors)
        if missing:
            computed = self.embedder.embed_documents([texts[pid] for pid in missing])
            fresh = {pid: (hashes[pid], computed[row]) for row, pid in enumerate(missing)}
            with self.sessions() as session, session.begin():
                store_embeddings(session, model, fresh)
            vectors.update((pid, vec) for pid, (_, vec) in fresh.items())
            summary.embedded += len(missing)
        return vectors

    def _apply(
        self,
        writer: IndexWriter,
        paper_ids: Sequence[int],
        papers: dict[int, PaperContent],
        summary: IndexSummary,
    ) -> None:
        live = [papers[pid] for pid in paper_ids if pid in papers and not papers[pid].withdrawn]
        gone = [pid for pid in paper_ids if pid not in papers or papers[pid].withdrawn]
        vectors = self._vectors_for(live, summary)
        if live:
            writer.upsert(live, np.vstack([vectors[p.paper_id] for p in live]))
        if gone:
            writer.delete(gone)
        summary.indexed += len(live)
        summary.removed += len(gone)

    def run(self, progress: Progress | None = None) -> IndexSummary:
        """Index what the queue says changed; resumable after a kill at any point."""
        if not self.backend.exists():
            self._queue_everything()
        reporter = progress or SilentProgress()
        summary = IndexSummary()
        started = time.monotonic()
        with self.backend.lock():
            with self.sessions() as session:
                total = pending_count(session)
            if total == 0 and self.backend.exists():  # nothing to do: do not open the index for writing
                summary.documents = self.backend.count()
                summary.seconds = time.monotonic() - started
                return summary
            writer = self.backend.writer()
            reporter.start("index", total, "papers")
            last_flush = time.monotonic()
            after, unacknowledged, since_flush = 0, {}, 0
            try:
                while True:
                    with self.sessions() as session:
                        taken = take_batch(session, self.batch_size, after)  # generations first, then content
                        papers = paper_contents(session, list(taken))
                    if not taken:
                        break
                    self._apply(writer, list(taken), papers, summary)
                    unacknowledged.update(taken)
                    after = max(taken)
                    since_flush += len(taken)
                    reporter.advance(len(taken), len(taken))
                    if since_flush >= self.flush_every or time.monotonic() - last_flush > FLUSH_SECONDS:
                        self._flush(writer, unacknowledged)
                        unacknowledged, since_flush, last_flush = {}, 0, time.monotonic()
                self._flush(writer, unacknowledged)
            finally:
                reporter.finish()
            summary.documents = writer.count()
        with self.sessions() as session:
            summary.pending = pending_count(session)
        summary.seconds = time.monotonic() - started
        return summary

    def _flush(self, writer: IndexWriter, taken: dict[int, int]) -> None:
        writer.commit()
        if taken:
            with self.sessions() as session, session.begin():
                acknowledge(session, taken)

    def _queue_everything(self) -> None:
        """A backend without an index (just configured, or its files deleted) must get every paper, not
        only the recent changes the queue holds: queue them all, so the run stays incremental and resumable."""
        after = 0
        while True:
            with self.sessions() as session, session.begin():
                ids = paper_ids_after(session, after, 10_000)
                if not ids:
                    return
                enqueue_for_index(session, ids)
            after = ids[-1]

    def rebuild(self, progress: Progress | None = None) -> IndexSummary:
        """Recreate the index from the database (stored vectors reused) and swap it in atomically."""
        reporter = progress or SilentProgress()
        summary = IndexSummary(rebuilt=True)
        started = time.monotonic()
        with self.backend.lock():
            covered: dict[int, int] = {}
            with self.sessions() as session:
                total = count_searchable(session)
            reporter.start("rebuild", total, "papers")
            after = 0
            try:
                with self.backend.rebuild() as writer:
                    while True:
                        with self.sessions() as session:
                            ids = paper_ids_after(session, after, self.batch_size)
                            covered.update(
                                queued_generations(session, ids)
                            )  # generations first, then content
                            papers = paper_contents(session, ids)
                        if not ids:
                            break
                        self._apply(writer, ids, papers, summary)
                        after = ids[-1]
                        reporter.advance(len(ids), len(ids))
            finally:
                reporter.finish()
            with self.sessions() as session, session.begin():
                acknowledge(session, covered)
            summary.documents = writer.count()
        summary.removed = 0
        with self.sessions() as session:
            summary.pending = pending_count(session)
        summary.seconds = time.monotonic() - started
        return summary
