"""Authors as people: their papers and co-authors (from the author rows kept beside each paper), follows,
authorship claims and the badges they earn."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast

from sqlalchemy import Table, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paperboy.authors import name_key
from paperboy.db.bulk import bulk_insert
from paperboy.db.models import AuthorClaim, AuthorFollow, DailyEntry, Paper, PaperAuthor, User

_AUTHOR_ROWS = cast(Table, PaperAuthor.__table__)


class Authored(Protocol):
    """A paper (stored, or about to be) whose author rows are written."""

    @property
    def id(self) -> int | None: ...

    @property
    def authors(self) -> Sequence[str]: ...


def store_author_rows(session: Session, papers: Iterable[Authored]) -> None:
    """Make the author rows of these papers match their author lists (call after a flush: ids exist)."""
    chosen = list({p.id: p for p in papers if p.id is not None}.values())
    if not chosen:
        return
    session.execute(delete(PaperAuthor).where(PaperAuthor.paper_id.in_([p.id for p in chosen])))
    rows = [
        {"paper_id": p.id, "position": i, "name": name[:300], "name_key": name_key(name)}
        for p in chosen
        for i, name in enumerate(p.authors or [])
        if name.strip()
    ]
    bulk_insert(session, _AUTHOR_ROWS, rows)


@dataclass(frozen=True)
class AuthorProfile:
    name: str
    """The spelling most papers use."""
    key: str
    papers: list[Paper]
    total: int
    coauthors: list[tuple[str, int]]
    """(name, papers together), most shared first."""


def author_profile(session: Session, key: str, limit: int = 100) -> AuthorProfile | None:
    """The author's papers (newest first), how they write their name, and their co-authors."""
    ids = select(PaperAuthor.paper_id).where(PaperAuthor.name_key == key)
    query = (
        select(Paper)
        .where(Paper.id.in_(ids), Paper.withdrawn.is_(False))
        .order_by(Paper.published_at.desc().nulls_last(), Paper.id.desc())
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    if not total:
        return None
    papers = list(session.scalars(query.limit(limit)))
    spellings = Counter(
        session.scalars(select(PaperAuthor.name).where(PaperAuthor.name_key == key).limit(1000))
    )
    together = session.execute(
        select(PaperAuthor.name_key, func.min(PaperAuthor.name), func.count())
        .where(PaperAuthor.paper_id.in_(ids), PaperAuthor.name_key != key)
        .group_by(PaperAuthor.name_key)
        .order_by(func.count().desc(), PaperAuthor.name_key)
        .limit(20)
    ).all()
    return AuthorProfile(
        spellings.most_common(1)[0][0], key, papers, total, [(name, int(n)) for _, name, n in together]
    )


# --- follows -------------------------------------------------------------------------------------


def follows(session: Session, user_id: int) -> list[str]:
    """The names a user follows, alphabetically."""
    query = select(AuthorFollow.name).where(AuthorFollow.user_id == user_id).order_by(AuthorFollow.name_key)
    return list(session.scalars(query))


def account_of(session: Session, user_id: int | None, email: str) -> User | None:
    """The account behind a subscription: by its account, or its address."""
    if user_id is not None:
        return session.get(User, user_id)
    return session.scalar(select(User).where(func.lower(User.email) == email.lower()))


def subscriber_follows(session: Session, user_id: int | None, email: str) -> list[str]:
    """The authors the account behind a subscription follows (by its account, or its address)."""
    user = account_of(session, user_id, email)
    return follows(session, user.id) if user is not None else []


def is_following(session: Session, user_id: int, key: str) -> bool:
    return session.get(AuthorFollow, (user_id, key)) is not None


def set_follow(session: Session, user_id: int, name: str, following: bool) -> None:
    """Follow (or stop following) an author; idempotent under concurrent requests."""
    key = name_key(name)
    if not following:
        session.execute(
            delete(AuthorFollow).where(AuthorFollow.user_id == user_id, AuthorFollow.name_key == key)
        )
        return
    if session.get(AuthorFollow, (user_id, key)) is None:
        try:
            with session.begin_nested():
                session.add(AuthorFollow(user_id=user_id, name_key=key, name=name[:300]))
        except IntegrityError:
            pass  # followed meanwhile: what was asked


# --- claims --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Badge:
    """Who an author of a paper is known to be."""

    username: str | None = None
    """The local account whose claim an admin approved."""
    hub_user: str | None = None
    """The Hugging Face account that claimed it there (imported with the daily entry)."""


def claim_of(session: Session, user_id: int, paper_id: int) -> AuthorClaim | None:
    query = select(AuthorClaim).where(AuthorClaim.user_id == user_id, AuthorClaim.paper_id == paper_id)
    return session.scalars(query).first()


def add_claim(session: Session, user_id: int, paper_id: int, author_name: str, now: datetime) -> AuthorClaim:
    claim = AuthorClaim(
        user_id=user_id, paper_id=paper_id, author_name=author_name, status="pending", created_at=now
    )
    session.add(claim)
    session.flush()
    return claim


def pending_claims(session: Session) -> list[tuple[AuthorClaim, User, Paper]]:
    query = (
        select(AuthorClaim, User, Paper)
        .join(User, User.id == AuthorClaim.user_id)
        .join(Paper, Paper.id == AuthorClaim.paper_id)
        .where(AuthorClaim.status == "pending")
        .order_by(AuthorClaim.created_at, AuthorClaim.id)
    )
    return [(c, u, p) for c, u, p in session.execute(query)]


def badges(session: Session, papers: Sequence[Paper]) -> dict[int, dict[str, Badge]]:
    """Per paper, the badge of each author name that has one (approved local claims; Hugging Face's
    claimed-and-verified authors from the imported daily entry)."""
    ids = [p.id for p in papers]
    found: dict[int, dict[str, Badge]] = {pid: {} for pid in ids}
    if not ids:
        return found
    hub = session.execute(
        select(DailyEntry.paper_id, DailyEntry.extra).where(
            DailyEntry.paper_id.in_(ids), DailyEntry.extra.is_not(None)
        )
    )
    for paper_id, extra in hub:
        for author in ((extra or {}).get("paper") or {}).get("authors") or []:
            if not isinstance(author, dict) or not isinstance(author.get("name"), str):
                continue
            user = author.get("user") if isinstance(author.get("user"), dict) else None
            if (
                user
                and str(author.get("status", "")).startswith("claimed")
                and isinstance(user.get("user"), str)
            ):
                found[paper_id][name_key(author["name"])] = Badge(hub_user=user["user"])
    local = session.execute(
        select(AuthorClaim.paper_id, AuthorClaim.author_name, User.username)
        .join(User, User.id == AuthorClaim.user_id)
        .where(AuthorClaim.paper_id.in_(ids), AuthorClaim.status == "approved")
    )
    for paper_id, author_name, username in local:
        key = name_key(author_name)
        previous = found[paper_id].get(key, Badge())
        found[paper_id][key] = Badge(username=username, hub_user=previous.hub_user)
    return found


def claimed_papers(session: Session, user_id: int) -> list[Paper]:
    query = (
        select(Paper)
        .join(AuthorClaim, AuthorClaim.paper_id == Paper.id)
        .where(AuthorClaim.user_id == user_id, AuthorClaim.status == "approved")
        .order_by(Paper.published_at.desc().nulls_last(), Paper.id.desc())
    )
    return list(session.scalars(query))


def claimants_of(session: Session, paper_id: int) -> list[int]:
    """Users an admin confirmed as authors of the paper."""
    query = select(AuthorClaim.user_id).where(
        AuthorClaim.paper_id == paper_id, AuthorClaim.status == "approved"
    )
    return list(session.scalars(query))


def submissions_of(session: Session, user_id: int, limit: int = 100) -> list[tuple[DailyEntry, Paper]]:
    query = (
        select(DailyEntry, Paper)
        .join(Paper, Paper.id == DailyEntry.paper_id)
        .where(DailyEntry.submitted_by_user_id == user_id, DailyEntry.hidden.is_(False))
        .order_by(DailyEntry.date.desc(), DailyEntry.id.desc())
        .limit(limit)
    )
    return [(e, p) for e, p in session.execute(query)]


def user_by_username(session: Session, username: str) -> User | None:
    """The account a profile address names (usernames compare without case)."""
    if "\x00" in username:  # no username holds one; PostgreSQL refuses NUL in a parameter
        return None
    return session.scalar(select(User).where(func.lower(User.username) == username.lower()[:64]))


def follow_keys(session: Session, user_id: int) -> dict[str, str]:
    """{name_key: name} of the authors a user follows."""
    rows = session.execute(
        select(AuthorFollow.name_key, AuthorFollow.name).where(AuthorFollow.user_id == user_id)
    )
    return {key: name for key, name in rows}


def author_keys_of(session: Session, paper_ids: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
    """{paper_id: [(name_key, name), ...]} in author order."""
    found: dict[int, list[tuple[str, str]]] = {}
    ids = list(paper_ids)
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(PaperAuthor.paper_id, PaperAuthor.name_key, PaperAuthor.name)
            .where(PaperAuthor.paper_id.in_(ids[start : start + 500]))
            .order_by(PaperAuthor.paper_id, PaperAuthor.position)
        )
        for paper_id, key, name in rows:
            found.setdefault(paper_id, []).append((key, name))
    return found


def papers_by_authors(
    session: Session, keys: Sequence[str], paper_ids: Sequence[int]
) -> dict[int, list[str]]:
    """{paper_id: [name_key, ...]}: which of `paper_ids` these authors wrote (one indexed lookup per key)."""
    if not keys or not paper_ids:
        return {}
    wanted = set(paper_ids)
    found: dict[int, list[str]] = {}
    rows = session.execute(
        select(PaperAuthor.paper_id, PaperAuthor.name_key).where(PaperAuthor.name_key.in_(list(keys)))
    )
    for paper_id, key in rows:
        if paper_id in wanted:
            found.setdefault(paper_id, []).append(key)
    return found
