"""Claiming authorship, as on Hugging Face: a signed-in user says which of a paper's authors they are, an
admin approves or rejects it, and approved authors get a badge on the paper and a list of their papers
on their profile."""

from __future__ import annotations

from sqlalchemy.orm import Session

from paperboy.authors import name_key
from paperboy.clock import utcnow
from paperboy.db.models import AuthorClaim, Paper, User
from paperboy.db.repositories.authors import add_claim, claim_of


class ClaimError(ValueError):
    """A claim is refused; the message says why."""


def claim_authorship(session: Session, user: User, paper: Paper, author_name: str) -> AuthorClaim:
    """A pending claim that `user` is `author_name` on `paper` (one claim per user and paper)."""
    wanted = name_key(author_name)
    names = {name_key(name): name for name in paper.authors}
    if not wanted or wanted not in names:
        raise ClaimError(
            f"“{author_name[:100]}” is not an author of this paper: choose your name in its list"
        )
    existing = claim_of(session, user.id, paper.id)
    if existing is not None:
        if existing.status == "rejected":
            raise ClaimError("an admin turned down your claim on this paper")
        raise ClaimError(
            "you have claimed this paper already"
            + (" (waiting for an admin)" if existing.status == "pending" else "")
        )
    return add_claim(session, user.id, paper.id, names[wanted], utcnow())


def decide_claim(session: Session, admin: User, claim_id: int, approve: bool) -> AuthorClaim:
    if not admin.is_admin:
        raise ClaimError("only an admin can decide claims")
    claim = session.get(AuthorClaim, claim_id)
    if claim is None:
        raise ClaimError(f"no claim {claim_id}")
    if claim.status != "pending":
        raise ClaimError(f"claim {claim_id} was {claim.status} already")
    claim.status = "approved" if approve else "rejected"
    claim.decided_at, claim.decided_by = utcnow(), admin.id
    return claim
