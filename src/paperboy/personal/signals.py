"""Editing what drives the recommendations, the same from the web pages, the API and the CLI: save,
dismiss ("not interested" / "less like this"), seed ("more like this"), switch an interest off or on,
remove one signal, reset."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from paperboy.authors import name_key
from paperboy.db.models import Collection, Paper, User, Vote
from paperboy.db.repositories.authors import author_profile, set_follow
from paperboy.db.repositories.library import (
    default_collection,
    mute_interest,
    reset_signals,
    save_paper,
    saved_in,
    set_signal,
    signal_of,
    unmute_interest,
    unsave_paper,
)
from paperboy.personal.profile import load_profile

SIGNAL_KINDS = ("seed", "dismissed")
"""The private per-paper signals; `none` clears one."""


class SignalError(ValueError):
    """A signal edit that cannot be made (the message says why)."""


def save(session: Session, user: User, paper: Paper, collection: Collection | None = None) -> Collection:
    """Save to one of the user's collections (owned_collection; the Reading list by default); saving
    undoes a dismissal."""
    target = collection or default_collection(session, user.id)
    save_paper(session, target, paper.id)
    if signal_of(session, user.id, paper.id) == "dismissed":
        set_signal(session, user.id, paper.id, None)
    return target


def set_paper_signal(session: Session, user: User, paper: Paper, kind: str | None) -> None:
    """Seed, dismiss or clear. Dismissing also takes the paper out of the user's collections and
    withdraws their upvote: "not interested" should not stay a positive somewhere else."""
    if kind is not None and kind not in SIGNAL_KINDS:
        raise SignalError(f"signal {kind!r}: use one of {', '.join(SIGNAL_KINDS)} or none")
    set_signal(session, user.id, paper.id, kind)
    if kind == "dismissed":
        for collection_id in saved_in(session, user.id, paper.id):
            collection = session.get(Collection, collection_id)
            if collection is not None:
                unsave_paper(session, collection, paper.id)
        session.execute(delete(Vote).where(Vote.user_id == user.id, Vote.paper_id == paper.id))


def switch_interest_off(session: Session, user: User, model: str, number: int) -> str:
    """Mute the user's interest number `number` (as the interests page numbers them); its label."""
    profile = load_profile(session, user, model)
    interest = next((i for i in profile.interests if i.number == number), None)
    if interest is None:
        raise SignalError(f"there is no interest {number} (the interests page numbers them from 1)")
    mute_interest(session, user.id, interest.label, model, interest.centroid.tobytes())
    return interest.label


def switch_interest_on(session: Session, user: User, muted_id: int) -> None:
    if not unmute_interest(session, user.id, muted_id):
        raise SignalError("that interest is not switched off")


def follow_author(session: Session, user_id: int, name: str, following: bool) -> str:
    """Follow (or stop following) an author of this library, under the spelling most papers use; their
    name, or SignalError when no paper here is by them."""
    profile = author_profile(session, name_key(name), limit=1)
    if profile is None:
        raise SignalError(f"no paper in this library is by {name[:200]}")
    set_follow(session, user_id, profile.name, following)
    return profile.name


def unfollow(session: Session, user: User, name: str) -> None:
    set_follow(session, user.id, name, False)


def reset(session: Session, user: User) -> None:
    reset_signals(session, user.id)
