"""A user's personal library: collections and their papers, imported entries, notes, read marks, private
signals (seeds, dismissals), muted interests and preferences. Everything private stays behind `user_id`;
public pages read only collections marked public."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from paperboy.clock import utcnow
from paperboy.db.models import (
    AuthorFollow,
    Collection,
    CollectionPaper,
    ExternalPaper,
    MutedInterest,
    Paper,
    PaperNote,
    PaperRead,
    PaperSignal,
    SentPaper,
    Subscription,
    User,
    UserPreferences,
    Vote,
)

DEFAULT_COLLECTION = "Reading list"


@dataclass(frozen=True)
class CollectionSummary:
    collection: Collection
    papers: int
    """Library papers plus imported entries."""


# --- collections ------------------------------------------------------------------------------------------


def default_collection(session: Session, user_id: int) -> Collection:
    """The user's "Reading list", created on first use."""
    found = session.scalar(select(Collection).where(Collection.user_id == user_id, Collection.is_default))
    if found is not None:
        return found
    collection = Collection(user_id=user_id, name=DEFAULT_COLLECTION, is_default=True, position=0)
    session.add(collection)
    session.flush()
    return collection


def owned_collection(session: Session, user_id: int, collection_id: int | None) -> Collection | None:
    """The user's collection `collection_id` (their Reading list when None); None when it is not theirs."""
    if collection_id is None:
        return default_collection(session, user_id)
    found = session.get(Collection, collection_id)
    return found if found is not None and found.user_id == user_id else None


def collections_of(session: Session, user_id: int, public_only: bool = False) -> list[CollectionSummary]:
    """The user's collections in their order (the default first), with their sizes."""
    query = select(Collection).where(Collection.user_id == user_id)
    if public_only:
        query = query.where(Collection.is_public)
    found = list(
        session.scalars(query.order_by(Collection.is_default.desc(), Collection.position, Collection.id))
    )
    ids = [c.id for c in found]
    sizes: dict[int, int] = dict.fromkeys(ids, 0)
    if ids:
        for table in (CollectionPaper, ExternalPaper):
            for collection_id, count in session.execute(
                select(table.collection_id, func.count())
                .where(table.collection_id.in_(ids))
                .group_by(table.collection_id)
            ):
                sizes[collection_id] += count
    return [CollectionSummary(c, sizes[c.id]) for c in found]


def collection_by_name(session: Session, user_id: int, name: str) -> Collection | None:
    return session.scalar(select(Collection).where(Collection.user_id == user_id, Collection.name == name))


def add_collection(
    session: Session, user_id: int, name: str, description: str, is_public: bool
) -> Collection:
    last = session.scalar(select(func.max(Collection.position)).where(Collection.user_id == user_id)) or 0
    collection = Collection(
        user_id=user_id, name=name, description=description, is_public=is_public, position=last + 1
    )
    session.add(collection)
    session.flush()
    return collection


def delete_collection(session: Session, collection: Collection) -> None:
    session.delete(collection)


def move_collection(session: Session, collection: Collection, step: int) -> None:
    """Swap a collection with its neighbour in the user's order (the default stays first)."""
    others = [
        s.collection for s in collections_of(session, collection.user_id) if not s.collection.is_default
    ]
    _swap(others, collection, step)


def _swap(items: list[Collection], item: Collection, step: int) -> None:
    if item not in items:
        return
    for position, each in enumerate(items, start=1):
        each.position = position
    index = items.index(item)
    other = index + step
    if 0 <= other < len(items):
        items[index].position, items[other].position = items[other].position, items[index].position
        item.updated_at = utcnow()


def collection_papers(session: Session, collection_id: int) -> list[tuple[Paper, datetime]]:
    """The collection's library papers in its order, with when each was saved."""
    rows = session.execute(
        select(Paper, CollectionPaper.added_at)
        .join(CollectionPaper, CollectionPaper.paper_id == Paper.id)
        .where(CollectionPaper.collection_id == collection_id)
        .order_by(CollectionPaper.position, CollectionPaper.added_at, Paper.id)
    )
    return [(paper, added) for paper, added in rows]


def external_papers(session: Session, collection_id: int) -> list[ExternalPaper]:
    return list(
        session.scalars(
            select(ExternalPaper)
            .where(ExternalPaper.collection_id == collection_id)
            .order_by(ExternalPaper.id)
        )
    )


def external_by_key(session: Session, collection_id: int, key: str) -> ExternalPaper | None:
    return session.scalar(
        select(ExternalPaper).where(ExternalPaper.collection_id == collection_id, ExternalPaper.key == key)
    )


def external_seeds(session: Session, user_id: int) -> list[ExternalPaper]:
    """The user's imported entries that carry a vector (seeds embedded from their own text)."""
    return list(
        session.scalars(
            select(ExternalPaper)
            .join(Collection, Collection.id == ExternalPaper.collection_id)
            .where(Collection.user_id == user_id, ExternalPaper.vector.is_not(None))
            .order_by(ExternalPaper.id)
        )
    )


def save_paper(session: Session, collection: Collection, paper_id: int, when: datetime | None = None) -> bool:
    """Add a paper to a collection (at its end); False when it was already there."""
    if session.get(CollectionPaper, (collection.id, paper_id)) is not None:
        return False
    last = session.scalar(
        select(func.max(CollectionPaper.position)).where(CollectionPaper.collection_id == collection.id)
    )
    session.add(
        CollectionPaper(
            collection_id=collection.id,
            paper_id=paper_id,
            position=(last or 0) + 1,
            added_at=when or utcnow(),
        )
    )
    collection.updated_at = utcnow()
    session.flush()
    return True


def unsave_paper(session: Session, collection: Collection, paper_id: int) -> bool:
    removed = session.execute(
        delete(CollectionPaper).where(
            CollectionPaper.collection_id == collection.id, CollectionPaper.paper_id == paper_id
        )
    )
    return bool(removed.rowcount)  # type: ignore[attr-defined]


def move_paper(session: Session, collection: Collection, paper_id: int, step: int) -> None:
    """Swap a paper with its neighbour in the collection's order."""
    rows = list(
        session.scalars(
            select(CollectionPaper)
            .where(CollectionPaper.collection_id == collection.id)
            .order_by(CollectionPaper.position, CollectionPaper.added_at, CollectionPaper.paper_id)
        )
    )
    for position, row in enumerate(rows, start=1):
        row.position = position
    index = next((i for i, row in enumerate(rows) if row.paper_id == paper_id), None)
    if index is not None and 0 <= index + step < len(rows):
        rows[index].position, rows[index + step].position = rows[index + step].position, rows[index].position


def saved_in(session: Session, user_id: int, paper_id: int) -> set[int]:
    """Ids of the user's collections holding the paper."""
    return set(
        session.scalars(
            select(CollectionPaper.collection_id)
            .join(Collection, Collection.id == CollectionPaper.collection_id)
            .where(Collection.user_id == user_id, CollectionPaper.paper_id == paper_id)
        )
    )


def saved_papers(session: Session, user_id: int) -> dict[int, datetime]:
    """Every paper the user saved in any collection, with when it was first saved."""
    rows = session.execute(
        select(CollectionPaper.paper_id, func.min(CollectionPaper.added_at))
        .join(Collection, Collection.id == CollectionPaper.collection_id)
        .where(Collection.user_id == user_id)
        .group_by(CollectionPaper.paper_id)
    )
    return {paper_id: added for paper_id, added in rows}


# --- notes and read marks -----------------------------------------------------------------------------------


def note_of(session: Session, user_id: int, paper_id: int) -> str:
    note = session.get(PaperNote, (user_id, paper_id))
    return note.body if note else ""


def notes_of(session: Session, user_id: int, paper_ids: Sequence[int] | None = None) -> dict[int, str]:
    query = select(PaperNote.paper_id, PaperNote.body).where(PaperNote.user_id == user_id)
    if paper_ids is not None:
        query = query.where(PaperNote.paper_id.in_(list(paper_ids)))
    return {paper_id: body for paper_id, body in session.execute(query)}


def set_note(session: Session, user_id: int, paper_id: int, body: str) -> None:
    """Save a note (an empty one deletes it)."""
    note = session.get(PaperNote, (user_id, paper_id))
    if not body:
        if note is not None:
            session.delete(note)
        return
    if note is None:
        session.add(PaperNote(user_id=user_id, paper_id=paper_id, body=body, updated_at=utcnow()))
    else:
        note.body, note.updated_at = body, utcnow()


def read_marks(session: Session, user_id: int, paper_ids: Sequence[int] | None = None) -> dict[int, datetime]:
    query = select(PaperRead.paper_id, PaperRead.read_at).where(PaperRead.user_id == user_id)
    if paper_ids is not None:
        query = query.where(PaperRead.paper_id.in_(list(paper_ids)))
    return {paper_id: at for paper_id, at in session.execute(query)}


def set_read(session: Session, user_id: int, paper_id: int, read: bool, when: datetime | None = None) -> None:
    mark = session.get(PaperRead, (user_id, paper_id))
    if read and mark is None:
        session.add(PaperRead(user_id=user_id, paper_id=paper_id, read_at=when or utcnow()))
    elif not read and mark is not None:
        session.delete(mark)


# --- signals ----------------------------------------------------------------------------------------------


def paper_signals(session: Session, user_id: int) -> dict[int, tuple[str, datetime]]:
    """{paper_id: (kind, when)} of the user's seeds and dismissals."""
    rows = session.execute(
        select(PaperSignal.paper_id, PaperSignal.kind, PaperSignal.created_at).where(
            PaperSignal.user_id == user_id
        )
    )
    return {paper_id: (kind, at) for paper_id, kind, at in rows}


def signal_of(session: Session, user_id: int, paper_id: int) -> str | None:
    signal = session.get(PaperSignal, (user_id, paper_id))
    return signal.kind if signal else None


def set_signal(
    session: Session, user_id: int, paper_id: int, kind: str | None, when: datetime | None = None
) -> None:
    """Make the paper a seed or a dismissal, or neither (`kind=None`)."""
    signal = session.get(PaperSignal, (user_id, paper_id))
    if kind is None:
        if signal is not None:
            session.delete(signal)
    elif signal is None:
        session.add(PaperSignal(user_id=user_id, paper_id=paper_id, kind=kind, created_at=when or utcnow()))
    elif signal.kind != kind:
        signal.kind, signal.created_at = kind, when or utcnow()


def voted_papers(session: Session, user_id: int) -> dict[int, datetime]:
    rows = session.execute(select(Vote.paper_id, Vote.created_at).where(Vote.user_id == user_id))
    return {paper_id: at for paper_id, at in rows}


def digested_papers(session: Session, user_id: int, email: str) -> set[int]:
    """Papers the user already received in a digest (subscriptions of their account or address)."""
    subscriptions = select(Subscription.id).where(
        (Subscription.user_id == user_id) | (func.lower(Subscription.email) == email.lower())
    )
    return set(
        session.scalars(select(SentPaper.paper_id).where(SentPaper.subscription_id.in_(subscriptions)))
    )


def muted_interests(session: Session, user_id: int) -> list[MutedInterest]:
    return list(
        session.scalars(
            select(MutedInterest).where(MutedInterest.user_id == user_id).order_by(MutedInterest.id)
        )
    )


def mute_interest(session: Session, user_id: int, label: str, model: str, vector: bytes) -> MutedInterest:
    muted = MutedInterest(user_id=user_id, label=label[:300], model=model, vector=vector, created_at=utcnow())
    session.add(muted)
    session.flush()
    return muted


def unmute_interest(session: Session, user_id: int, muted_id: int) -> bool:
    removed = session.execute(
        delete(MutedInterest).where(MutedInterest.user_id == user_id, MutedInterest.id == muted_id)
    )
    return bool(removed.rowcount)  # type: ignore[attr-defined]


def preferences(session: Session, user_id: int, create: bool = False) -> UserPreferences | None:
    found = session.get(UserPreferences, user_id)
    if found is None and create:
        found = UserPreferences(user_id=user_id, categories=[], updated_at=utcnow())
        session.add(found)
        session.flush()
    return found


def reset_signals(session: Session, user_id: int) -> None:
    """Forget what the recommender learned from: seeds, dismissals, muted interests, chosen categories and
    followed authors (upvotes and saved papers are the user's library and stay)."""
    for table in (PaperSignal, MutedInterest, AuthorFollow):
        session.execute(delete(table).where(table.user_id == user_id))
    session.execute(
        update(UserPreferences)
        .where(UserPreferences.user_id == user_id)
        .values(categories=[], updated_at=utcnow())
    )


# --- candidates -------------------------------------------------------------------------------------------


def window_papers(
    session: Session, since: datetime, until: datetime, limit: int
) -> list[tuple[int, str | None]]:
    """(id, primary category) of the papers published in [since, until), newest first, at most `limit`."""
    rows = session.execute(
        select(Paper.id, Paper.primary_category)
        .where(Paper.published_at >= since, Paper.published_at < until, Paper.withdrawn.is_(False))
        .order_by(Paper.published_at.desc(), Paper.id.desc())
        .limit(limit)
    )
    return [(paper_id, category) for paper_id, category in rows]


def newest_published(session: Session) -> datetime | None:
    return session.scalar(select(func.max(Paper.published_at)).where(Paper.withdrawn.is_(False)))


def paper_summaries(
    session: Session, paper_ids: Sequence[int]
) -> dict[int, tuple[str, str, list[str], list[str]]]:
    """{id: (arxiv_id, title, categories, keywords)}: what a profile needs of its papers, without the rest."""
    found: dict[int, tuple[str, str, list[str], list[str]]] = {}
    ids = list(paper_ids)
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(Paper.id, Paper.arxiv_id, Paper.title, Paper.categories, Paper.keywords).where(
                Paper.id.in_(ids[start : start + 500])
            )
        )
        for pid, arxiv_id, title, categories, keywords in rows:
            found[pid] = (arxiv_id, title, list(categories or []), list(keywords or []))
    return found


def papers_in_order(session: Session, paper_ids: Iterable[int]) -> list[Paper]:
    ids = list(paper_ids)
    if not ids:
        return []
    found = {p.id: p for p in session.scalars(select(Paper).where(Paper.id.in_(ids)))}
    return [found[i] for i in ids if i in found]


def paper_by_doi(session: Session, doi: str) -> Paper | None:
    """The paper with this DOI (stored as its source gave it: lower or upper case)."""
    spellings = list({doi, doi.lower(), doi.upper()})
    return session.scalars(select(Paper).where(Paper.doi.in_(spellings)).limit(1)).first()


def papers_by_arxiv_ids(session: Session, arxiv_ids: Iterable[str]) -> dict[str, Paper]:
    ids = list(dict.fromkeys(arxiv_ids))
    found: dict[str, Paper] = {}
    for start in range(0, len(ids), 500):
        for paper in session.scalars(select(Paper).where(Paper.arxiv_id.in_(ids[start : start + 500]))):
            found[paper.arxiv_id] = paper
    return found


def delete_account(session: Session, user: User) -> None:
    """Delete the account and all it holds: the foreign keys cascade to sessions, collections, entries,
    notes, read marks, signals, votes, comments, follows and claims; subscriptions of its address go too."""
    session.execute(
        delete(Subscription).where(
            (Subscription.user_id == user.id) | (func.lower(Subscription.email) == user.email.lower())
        )
    )
    session.delete(user)
    session.flush()


def signals_fingerprint(session: Session, user_id: int, email: str) -> tuple[object, ...]:
    """Changes whenever anything a profile is built from changes: the count and latest time of each
    kind of signal, in one round trip. A cached profile is reused only while this stays the same."""
    collections = select(Collection.id).where(Collection.user_id == user_id)
    subscriptions = select(Subscription.id).where(
        (Subscription.user_id == user_id) | (func.lower(Subscription.email) == email.lower())
    )
    kinds = [
        (Vote.created_at, Vote.user_id == user_id),
        (CollectionPaper.added_at, CollectionPaper.collection_id.in_(collections)),
        (PaperSignal.created_at, PaperSignal.user_id == user_id),
        (MutedInterest.id, MutedInterest.user_id == user_id),
        (AuthorFollow.created_at, AuthorFollow.user_id == user_id),
        (UserPreferences.updated_at, UserPreferences.user_id == user_id),
        (ExternalPaper.id, ExternalPaper.collection_id.in_(collections)),
        (SentPaper.sent_at, SentPaper.subscription_id.in_(subscriptions)),
    ]
    columns = []
    for latest, where in kinds:
        columns.append(select(func.count()).select_from(latest.class_).where(where).scalar_subquery())
        columns.append(select(func.max(latest)).where(where).scalar_subquery())
    return tuple(session.execute(select(*columns)).one())
