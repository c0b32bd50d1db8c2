"""The whole profile as one JSON document (library, notes, read marks, signals, follows, preferences,
subscriptions), and importing it back: a user can leave with their data and bring it to another instance.

Importing is additive and idempotent: what is already there stays, nothing is duplicated, and papers this
library does not hold are reported rather than invented. Subscriptions are restored only for the account's
own address (which it confirmed when signing up): a profile file cannot subscribe someone else.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from paperboy.authors import name_key
from paperboy.clock import utcnow
from paperboy.db.models import AuthorFollow, ExternalPaper, Subscription, User, Vote
from paperboy.db.repositories.authors import follow_keys, set_follow
from paperboy.db.repositories.library import (
    collection_by_name,
    collection_papers,
    collections_of,
    default_collection,
    external_by_key,
    external_papers,
    mute_interest,
    muted_interests,
    notes_of,
    paper_signals,
    papers_by_arxiv_ids,
    papers_in_order,
    preferences,
    read_marks,
    save_paper,
    set_note,
    set_read,
    set_signal,
    voted_papers,
)
from paperboy.personal.library import LibraryError, checked_collection, create_collection

FORMAT = "paperboy-profile"
VERSION = 1


class ProfileError(ValueError):
    """A profile document that cannot be imported; the message names the field."""


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_when(value: object, where: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProfileError(f"{where}: a date should be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ProfileError(f"{where}: {value[:40]!r} is not an ISO 8601 date") from None
    return parsed.replace(tzinfo=None)


def export_profile(session: Session, user: User) -> dict[str, Any]:
    arxiv: dict[int, str] = {}

    def ids(paper_ids: set[int] | list[int]) -> dict[int, str]:
        missing = [i for i in paper_ids if i not in arxiv]
        for paper in papers_in_order(session, missing):
            arxiv[paper.id] = paper.arxiv_id
        return arxiv

    collections = []
    for summary in collections_of(session, user.id):
        collection = summary.collection
        collections.append(
            {
                "name": collection.name,
                "description": collection.description,
                "public": collection.is_public,
                "default": collection.is_default,
                "papers": [
                    {"id": paper.arxiv_id, "addedAt": _when(added)}
                    for paper, added in collection_papers(session, collection.id)
                ],
                "entries": [_entry_json(e) for e in external_papers(session, collection.id)],
            }
        )
    notes = notes_of(session, user.id)
    reads = read_marks(session, user.id)
    signals = paper_signals(session, user.id)
    votes = voted_papers(session, user.id)
    known = ids([*notes, *reads, *signals, *votes])
    follows = session.execute(
        select(AuthorFollow.name, AuthorFollow.created_at).where(AuthorFollow.user_id == user.id)
    ).all()
    prefs = preferences(session, user.id)
    subscriptions = session.scalars(select(Subscription).where(Subscription.user_id == user.id)).all()
    return {
        "format": FORMAT,
        "version": VERSION,
        "exportedAt": _when(utcnow()),
        "account": {"username": user.username, "displayName": user.display_name, "email": user.email},
        "collections": collections,
        "notes": [{"id": known[pid], "body": body} for pid, body in notes.items() if pid in known],
        "read": [{"id": known[pid], "at": _when(at)} for pid, at in reads.items() if pid in known],
        "signals": [
            {"id": known[pid], "kind": kind, "at": _when(at)}
            for pid, (kind, at) in signals.items()
            if pid in known
        ],
        "upvotes": [{"id": known[pid], "at": _when(at)} for pid, at in votes.items() if pid in known],
        "follows": [{"name": name, "at": _when(at)} for name, at in follows],
        "mutedInterests": [
            {"label": m.label, "model": m.model, "vector": base64.b64encode(m.vector).decode()}
            for m in muted_interests(session, user.id)
        ],
        "preferences": {"categories": list(prefs.categories) if prefs else []},
        "subscriptions": [
            {
                "email": s.email,
                "frequency": s.frequency,
                "sendHour": s.send_hour,
                "timezone": s.timezone,
                "categories": list(s.categories),
                "keywords": list(s.keywords),
                "authors": list(s.authors),
                "excludedKeywords": list(s.excluded_keywords),
                "maxPapers": s.max_papers,
                "status": s.status,
            }
            for s in subscriptions
        ],
    }


def _entry_json(entry: ExternalPaper) -> dict[str, Any]:
    return {
        "key": entry.key,
        "type": entry.entry_type,
        "title": entry.title,
        "authors": list(entry.authors),
        "year": entry.year,
        "venue": entry.venue,
        "abstract": entry.abstract,
        "doi": entry.doi,
        "arxivId": entry.arxiv_id,
        "url": entry.url,
        "model": entry.model,
        "vector": base64.b64encode(entry.vector).decode() if entry.vector else None,
        "addedAt": _when(entry.added_at),
    }


@dataclass
class RestoreReport:
    restored: dict[str, int] = field(default_factory=dict)
    missing_papers: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def add(self, what: str, n: int = 1) -> None:
        self.restored[what] = self.restored.get(what, 0) + n

    @property
    def summary(self) -> str:
        parts = [f"{n} {what}" for what, n in self.restored.items() if n]
        text = "Restored " + (", ".join(parts) if parts else "nothing new")
        if self.missing_papers:
            text += f"; {len(self.missing_papers)} papers are not in this library"
        return text


def _list(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = data.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ProfileError(f"field {name!r}: should be a list of objects")
    return value


def _text(item: dict[str, Any], name: str, where: str, required: bool = True) -> str:
    value = item.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        raise ProfileError(f"{where}: field {name!r} should be text")
    return value


def import_profile(session: Session, user: User, data: object) -> RestoreReport:
    """Restore an exported profile into this account (see the module docstring)."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ProfileError(f"not a Paperboy profile: the document's 'format' should be {FORMAT!r}")
    if data.get("version") != VERSION:
        raise ProfileError(f"profile version {data.get('version')!r}: this Paperboy reads version {VERSION}")
    report = RestoreReport()
    wanted: list[str] = []
    for section in ("notes", "read", "signals", "upvotes"):
        wanted += [_text(item, "id", f"{section}[{n}]") for n, item in enumerate(_list(data, section))]
    collections = _list(data, "collections")
    for n, item in enumerate(collections):
        wanted += [_text(p, "id", f"collections[{n}].papers") for p in _list(item, "papers")]
    papers = papers_by_arxiv_ids(session, wanted)
    report.missing_papers = sorted(set(wanted) - set(papers))

    for n, item in enumerate(collections):
        where = f"collections[{n}]"
        name = _text(item, "name", where)
        try:
            if item.get("default"):
                collection = default_collection(session, user.id)
            else:
                clean, _ = checked_collection(name, _text(item, "description", where, False))
                found = collection_by_name(session, user.id, clean)
                if found is None:
                    description = _text(item, "description", where, False)
                    found = create_collection(session, user.id, clean, description, bool(item.get("public")))
                    report.add("collections")
                collection = found
        except LibraryError as exc:
            raise ProfileError(f"{where}: {exc}") from None
        for paper_item in _list(item, "papers"):
            paper = papers.get(_text(paper_item, "id", where))
            when = _parse_when(paper_item.get("addedAt"), f"{where}.papers")
            if paper is not None and save_paper(session, collection, paper.id, when):
                report.add("saved papers")
        for m, entry in enumerate(_list(item, "entries")):
            report.add(
                "imported entries", _restore_entry(session, collection.id, entry, f"{where}.entries[{m}]")
            )
    notes = notes_of(session, user.id)
    for item in _list(data, "notes"):
        paper = papers.get(item["id"])
        body = _text(item, "body", "notes")[:10_000]
        if paper is not None and notes.get(paper.id) != body:
            set_note(session, user.id, paper.id, body)
            report.add("notes")
    reads = read_marks(session, user.id)
    for item in _list(data, "read"):
        paper = papers.get(item["id"])
        if paper is not None and paper.id not in reads:
            set_read(session, user.id, paper.id, True, _parse_when(item.get("at"), "read"))
            report.add("read marks")
    current = paper_signals(session, user.id)
    for item in _list(data, "signals"):
        paper = papers.get(item["id"])
        kind = item.get("kind")
        if kind not in ("seed", "dismissed"):
            raise ProfileError(f"signals: kind {kind!r} should be 'seed' or 'dismissed'")
        if paper is not None and current.get(paper.id, ("",))[0] != kind:
            set_signal(session, user.id, paper.id, kind, _parse_when(item.get("at"), "signals"))
            report.add("signals")
    voted = voted_papers(session, user.id)
    for item in _list(data, "upvotes"):
        paper = papers.get(item["id"])
        if paper is not None and paper.id not in voted:
            session.add(
                Vote(
                    user_id=user.id,
                    paper_id=paper.id,
                    created_at=_parse_when(item.get("at"), "upvotes") or utcnow(),
                )
            )
            voted[paper.id] = utcnow()
            report.add("upvotes")
    followed = set(follow_keys(session, user.id))
    for n, item in enumerate(_list(data, "follows")):
        name = _text(item, "name", f"follows[{n}]").strip()
        if name and name_key(name) not in followed:
            set_follow(session, user.id, name[:300], True)
            report.add("followed authors")
    muted_labels = {m.label for m in muted_interests(session, user.id)}
    for n, item in enumerate(_list(data, "mutedInterests")):
        label = _text(item, "label", f"mutedInterests[{n}]")
        if label not in muted_labels:
            mute_interest(
                session,
                user.id,
                label,
                _text(item, "model", f"mutedInterests[{n}]"),
                _vector(item, f"mutedInterests[{n}]") or b"",
            )
            report.add("muted interests")
    categories = (
        data.get("preferences", {}).get("categories", []) if isinstance(data.get("preferences"), dict) else []
    )
    if categories:
        prefs = preferences(session, user.id, create=True)
        assert prefs is not None
        prefs.categories = list(dict.fromkeys([*prefs.categories, *[str(c)[:32] for c in categories][:50]]))
    for item in _list(data, "subscriptions"):
        address = _text(item, "email", "subscriptions")
        if address.lower() != user.email.lower():
            report.skipped.append(f"subscription for {address}: not this account's address")
            continue
        report.add("subscriptions", _restore_subscription(session, user, item))
    session.flush()
    return report


def _vector(item: dict[str, Any], where: str) -> bytes | None:
    value = item.get("vector")
    if value is None:
        return None
    try:
        raw = base64.b64decode(str(value), validate=True)
    except ValueError:
        raise ProfileError(f"{where}: 'vector' is not base64") from None
    if len(raw) % 4:
        raise ProfileError(f"{where}: 'vector' is not a list of float32 numbers")
    return raw


def _restore_entry(session: Session, collection_id: int, item: dict[str, Any], where: str) -> int:
    key = _text(item, "key", where)[:320]
    if external_by_key(session, collection_id, key) is not None:
        return 0
    authors = item.get("authors") or []
    if not isinstance(authors, list):
        raise ProfileError(f"{where}: 'authors' should be a list")
    year = item.get("year")
    session.add(
        ExternalPaper(
            collection_id=collection_id,
            key=key,
            entry_type=_text(item, "type", where, False)[:32] or "article",
            title=_text(item, "title", where)[:2000],
            authors=[str(a)[:300] for a in authors][:200],
            year=year if isinstance(year, int) else None,
            venue=_text(item, "venue", where, False)[:500] or None,
            abstract=_text(item, "abstract", where, False)[:20_000],
            doi=_text(item, "doi", where, False)[:255] or None,
            arxiv_id=_text(item, "arxivId", where, False)[:64] or None,
            url=_text(item, "url", where, False)[:2000] or None,
            model=_text(item, "model", where, False)[:128] or None,
            vector=_vector(item, where),
            added_at=_parse_when(item.get("addedAt"), where) or utcnow(),
        )
    )
    session.flush()
    return 1


def _restore_subscription(session: Session, user: User, item: dict[str, Any]) -> int:
    frequency = item.get("frequency")
    if frequency not in ("daily", "weekly"):
        raise ProfileError(f"subscriptions: frequency {frequency!r} should be 'daily' or 'weekly'")
    found = session.scalar(
        select(Subscription).where(Subscription.email == user.email, Subscription.frequency == frequency)
    )
    if found is not None:
        return 0

    def strings(name: str) -> list[str]:
        value = item.get(name) or []
        return [str(v)[:200] for v in value][:20] if isinstance(value, list) else []

    hour, size = item.get("sendHour", 7), item.get("maxPapers", 10)
    session.add(
        Subscription(
            email=user.email,
            user_id=user.id,
            frequency=frequency,
            send_hour=hour if isinstance(hour, int) and 0 <= hour <= 23 else 7,
            timezone=str(item.get("timezone") or "UTC")[:64],
            categories=strings("categories"),
            keywords=strings("keywords"),
            authors=strings("authors"),
            excluded_keywords=strings("excludedKeywords"),
            max_papers=size if isinstance(size, int) and 1 <= size <= 100 else 10,
            status="active" if item.get("status") == "active" else "paused",
            confirmed_at=utcnow(),
        )
    )
    return 1
