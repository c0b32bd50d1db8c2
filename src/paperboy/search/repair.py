"""Making sure the live index matches the database before an index run writes to it.

An index is rebuilt from the database (keyword search first, vectors reused from the database) when it
is missing, of an older format, damaged, or made from another database; one that merely drifted (a lost
file, a restored backup of the index alone) is reconciled: with both queues empty it must hold exactly
the searchable papers, each with a vector, and the difference is queued or removed.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from paperboy.db.repositories.queue import enqueue_for_index, has_pending
from paperboy.db.repositories.search_docs import count_searchable, searchable_paper_ids
from paperboy.db.repositories.vector_queue import enqueue_for_vectors, vector_pending_count
from paperboy.search.backend import IndexDamaged, IndexWriter, SearchBackend


class IndexRepair:
    def __init__(
        self, sessions: sessionmaker[Session], backend: SearchBackend, queue_everything: Callable[[], None]
    ) -> None:
        self.sessions = sessions
        self.backend = backend
        self.queue_everything = queue_everything
        self.queued_everything = False

    def writer(self, database: str, notes: list[str]) -> IndexWriter:
        """The live index, or a fresh one (every paper queued) when it cannot be trusted; says why in `notes`."""
        problem = None
        if not self.backend.exists():
            problem = "there was no search index (first run, or its files were deleted)"
        elif self.backend.database() not in (database, None):
            problem = "the search index was made from another database"
        else:
            try:
                return self.backend.writer(database)
            except IndexDamaged as exc:
                problem = f"the search index is damaged ({exc})"
        notes.append(f"{problem}: rebuilding it from the database, keyword search first")
        self.backend.discard()
        self.queue_everything()
        self.queued_everything = True
        return self.backend.writer(database)

    def idle(self) -> bool:
        """Whether neither queue holds work."""
        with self.sessions() as session:
            return not has_pending(session) and vector_pending_count(session) == 0

    def reconcile(self, writer: IndexWriter, notes: list[str]) -> bool:
        """With both queues empty the index must hold exactly the searchable papers, each with a vector:
        when the counts say otherwise, compare ids and queue (or remove) the difference. True when it did."""
        counts = writer.counts()
        with self.sessions() as session:
            papers = count_searchable(session)
        if counts.lexical == papers and counts.embedded == papers:
            return False
        lexical, embedded = writer.ids()
        with self.sessions() as session:
            wanted = set(searchable_paper_ids(session))
        stray_text, stray_vectors = lexical - wanted, embedded - wanted
        writer.delete_text(sorted(stray_text))
        writer.delete_vectors(sorted(stray_vectors))
        writer.commit_text()
        writer.commit_vectors()
        missing_text, missing_vectors = wanted - lexical, (wanted & lexical) - embedded
        with self.sessions() as session, session.begin():
            enqueue_for_index(session, sorted(missing_text))
            enqueue_for_vectors(session, sorted(missing_vectors))
        notes.append(
            f"the search index did not match the database ({counts.lexical:,} papers by keyword, "
            f"{counts.embedded:,} with vectors, {papers:,} in the library): queued {len(missing_text):,} "
            f"for keywords and {len(missing_vectors):,} for vectors, removed "
            f"{len(stray_text | stray_vectors):,} that no longer belong"
        )
        return True
