"""The personal library as a service: checked collection edits, importing reference files into a
collection (matched to library papers, the rest kept as entries and, with an abstract, as seeds) and
exporting collections in BibTeX, RIS and CSL-JSON."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from paperboy.arxiv_ids import is_arxiv_id
from paperboy.clock import utcnow
from paperboy.db.models import Collection, ExternalPaper, Paper
from paperboy.db.repositories.library import (
    add_collection,
    collection_by_name,
    collection_papers,
    collections_of,
    external_by_key,
    external_papers,
    paper_by_doi,
    papers_in_order,
    save_paper,
)
from paperboy.db.repositories.papers import find_paper
from paperboy.personal.citations import Citation, write
from paperboy.search.embedder import Embedder, document_text
from paperboy.search.query import title_key

MAX_NAME = 100
MAX_DESCRIPTION = 2000
MAX_NOTE = 10_000
MAX_COLLECTIONS = 200

TitleLookup = Callable[[str], Sequence[int]]
"""Paper ids whose title matches (the search index's exact-title lookup)."""


class LibraryError(ValueError):
    """A library edit that cannot be made; `field` names the form field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def checked_collection(name: str, description: str) -> tuple[str, str]:
    clean = " ".join(name.split())
    if not clean:
        raise LibraryError("name", "a collection needs a name")
    if len(clean) > MAX_NAME:
        raise LibraryError("name", f"the name is {len(clean)} characters long; at most {MAX_NAME}")
    text = description.strip()
    if len(text) > MAX_DESCRIPTION:
        raise LibraryError(
            "description", f"the description is {len(text)} characters long; at most {MAX_DESCRIPTION}"
        )
    return clean, text


def create_collection(
    session: Session, user_id: int, name: str, description: str = "", is_public: bool = False
) -> Collection:
    clean, text = checked_collection(name, description)
    if collection_by_name(session, user_id, clean) is not None:
        raise LibraryError("name", f"you already have a collection called {clean!r}")
    if len(collections_of(session, user_id)) >= MAX_COLLECTIONS:
        raise LibraryError("name", f"you have {MAX_COLLECTIONS} collections, the most one account can have")
    return add_collection(session, user_id, clean, text, is_public)


def rename_collection(
    session: Session, collection: Collection, name: str, description: str, is_public: bool
) -> None:
    clean, text = checked_collection(name, description)
    other = collection_by_name(session, collection.user_id, clean)
    if other is not None and other.id != collection.id:
        raise LibraryError("name", f"you already have a collection called {clean!r}")
    collection.name, collection.description, collection.is_public = clean, text, is_public
    collection.updated_at = utcnow()


def checked_note(body: str) -> str:
    text = body.strip()
    if len(text) > MAX_NOTE:
        raise LibraryError("body", f"the note is {len(text)} characters long; at most {MAX_NOTE}")
    return text


# --- import ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportLine:
    """What happened to one entry of the file."""

    line: int
    title: str
    outcome: str
    """matched (a library paper, now saved), seed (kept, embedded from its abstract), kept (no abstract:
    kept in the collection, not a seed), already (there from an earlier import) or skipped."""
    detail: str
    arxiv_id: str | None = None


@dataclass
class ImportReport:
    collection: str
    format: str
    lines: list[ImportLine] = field(default_factory=list)

    def count(self, *outcomes: str) -> int:
        return sum(1 for line in self.lines if line.outcome in outcomes)

    @property
    def summary(self) -> str:
        parts = [
            (self.count("matched"), "matched library papers"),
            (self.count("seed"), "kept as seeds"),
            (self.count("kept"), "kept without an abstract"),
            (self.count("already"), "already there"),
            (self.count("skipped"), "skipped"),
        ]
        shown = ", ".join(f"{n} {what}" for n, what in parts if n) or "nothing to import"
        return f"{len(self.lines)} entr{'y' if len(self.lines) == 1 else 'ies'}: {shown}"


def _match(session: Session, citation: Citation, find_title: TitleLookup | None) -> tuple[Paper | None, str]:
    if citation.arxiv_id:
        paper = find_paper(session, citation.arxiv_id)
        if paper is not None:
            return paper, f"arXiv id {citation.arxiv_id}"
    if citation.doi:
        paper = paper_by_doi(session, citation.doi)
        if paper is not None:
            return paper, f"DOI {citation.doi}"
    key = title_key(citation.title)
    if key and find_title is not None:
        for paper in papers_in_order(session, find_title(citation.title)):
            if title_key(paper.title) == key:
                return paper, "title"
    return None, ""


def _external_key(citation: Citation) -> str | None:
    if citation.doi:
        return f"doi:{citation.doi}"[:320]
    if citation.arxiv_id:
        return f"arxiv:{citation.arxiv_id}"
    key = title_key(citation.title)
    return f"title:{key}"[:320] if key else None


def seed_vectors(
    session: Session,
    collection_id: int | None,
    citations: Sequence[Citation],
    embedder: Embedder,
    find_title: TitleLookup | None = None,
) -> dict[int, npt.NDArray[np.float32]]:
    """Vectors of the entries an import would keep as seeds (not in the library, new to the collection,
    with an abstract), by their place in `citations`. Embedding takes a while: the web computes these
    before opening the import's write transaction, so other writers never wait for the model."""
    wanted = []
    for n, citation in enumerate(citations):
        key = _external_key(citation)
        if (
            not citation.abstract.strip()
            or key is None
            or _match(session, citation, find_title)[0] is not None
        ):
            continue
        if collection_id is None or external_by_key(session, collection_id, key) is None:
            wanted.append(n)
    texts = [document_text(citations[n].title, citations[n].abstract[:20_000]) for n in wanted]
    return dict(zip(wanted, embedder.embed_documents(texts), strict=True)) if texts else {}


def import_citations(
    session: Session,
    collection: Collection,
    citations: Sequence[Citation],
    format: str,
    embedder: Embedder | None,
    find_title: TitleLookup | None = None,
    vectors: dict[int, npt.NDArray[np.float32]] | None = None,
) -> ImportReport:
    """Put the file's entries into the collection; importing the same file again changes nothing.
    `vectors` (seed_vectors, computed beforehand) saves embedding here; missing ones are embedded."""
    report = ImportReport(collection.name, format)
    to_embed: list[tuple[ExternalPaper, str]] = []
    known = vectors or {}
    for number, citation in enumerate(citations):
        title = citation.title or "(no title)"
        paper, how = _match(session, citation, find_title)
        if paper is not None:
            added = save_paper(session, collection, paper.id)
            outcome, detail = (
                ("matched", f"matched by {how}") if added else ("already", f"already in {collection.name}")
            )
            report.lines.append(ImportLine(citation.line, paper.title, outcome, detail, paper.arxiv_id))
            continue
        key = _external_key(citation)
        if key is None:
            report.lines.append(
                ImportLine(citation.line, title, "skipped", "no title, DOI or arXiv id to match on")
            )
            continue
        if external_by_key(session, collection.id, key) is not None:
            report.lines.append(ImportLine(citation.line, title, "already", f"already in {collection.name}"))
            continue
        entry = ExternalPaper(
            collection_id=collection.id,
            key=key,
            entry_type=citation.entry_type[:32],
            title=citation.title[:2000] or title,
            authors=list(citation.authors)[:200],
            year=citation.year,
            venue=(citation.venue or None) and citation.venue[:500],
            abstract=citation.abstract[:20_000],
            doi=citation.doi and citation.doi[:255],
            arxiv_id=citation.arxiv_id,
            url=citation.url and citation.url[:2000],
            added_at=utcnow(),
        )
        session.add(entry)
        why = "not in this library"
        if citation.arxiv_id:
            why = f"arXiv {citation.arxiv_id} is not in this library"
        elif citation.doi:
            why = f"DOI {citation.doi} is not in this library"
        if citation.abstract.strip() and embedder is not None:
            if number in known:
                entry.model = embedder.name
                entry.vector = np.asarray(known[number], dtype=np.float32).tobytes()
            else:
                to_embed.append((entry, document_text(entry.title, entry.abstract)))
            report.lines.append(
                ImportLine(citation.line, title, "seed", f"{why}; kept, and its abstract counts as a seed")
            )
        else:
            reason = "no abstract" if not citation.abstract.strip() else "no embedder"
            report.lines.append(
                ImportLine(citation.line, title, "kept", f"{why}; kept, not a seed ({reason})")
            )
        session.flush()
    if to_embed and embedder is not None:
        embedded = embedder.embed_documents([text for _, text in to_embed])
        for (entry, _), vector in zip(to_embed, embedded, strict=True):
            entry.model = embedder.name
            entry.vector = np.asarray(vector, dtype=np.float32).tobytes()
    return report


# --- export ----------------------------------------------------------------------------------------------


def citation_of_paper(paper: Paper) -> Citation:
    return Citation(
        title=paper.title,
        authors=tuple(paper.authors or ()),
        year=paper.published_at.year if paper.published_at else None,
        venue=paper.journal_ref or None,
        abstract=paper.abstract,
        doi=paper.doi,
        arxiv_id=paper.arxiv_id if is_arxiv_id(paper.arxiv_id) else None,
        url=None,
        entry_type="article" if paper.journal_ref else "misc",
    )


def citation_of_entry(entry: ExternalPaper) -> Citation:
    return Citation(
        title=entry.title,
        authors=tuple(entry.authors or ()),
        year=entry.year,
        venue=entry.venue,
        abstract=entry.abstract,
        doi=entry.doi,
        arxiv_id=entry.arxiv_id,
        url=entry.url,
        entry_type=entry.entry_type,
    )


def collection_citations(session: Session, collection: Collection) -> list[Citation]:
    papers = [citation_of_paper(paper) for paper, _ in collection_papers(session, collection.id)]
    return papers + [citation_of_entry(e) for e in external_papers(session, collection.id)]


def export_collections(session: Session, collections: Sequence[Collection], format: str) -> str:
    """One file of every paper and entry in these collections (each once)."""
    seen: set[tuple[str | None, str]] = set()
    citations = []
    for collection in collections:
        for citation in collection_citations(session, collection):
            key = (citation.arxiv_id or citation.doi, title_key(citation.title))
            if key not in seen:
                seen.add(key)
                citations.append(citation)
    return write(citations, format)
