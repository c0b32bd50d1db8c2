"""Comments: plain text, editable and deletable by their authors, hideable by admins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from paperboy.clock import utcnow
from paperboy.db.models import Comment, Paper, User

MAX_COMMENT_LENGTH = 5000


class CommentError(ValueError):
    """A comment is refused (empty, too long, not yours, ...)."""


@dataclass(frozen=True)
class CommentView:
    """A comment as the page shows it (author name resolved)."""

    id: int
    author: str
    author_id: int
    body: str
    created_at: datetime
    edited_at: datetime | None
    hidden: bool


def _clean_body(body: str) -> str:
    text = body.replace("\r\n", "\n").strip()
    if not text:
        raise CommentError("the comment is empty")
    if len(text) > MAX_COMMENT_LENGTH:
        raise CommentError(f"the comment is longer than {MAX_COMMENT_LENGTH} characters")
    return text


def add_comment(session: Session, user: User, paper: Paper, body: str) -> Comment:
    comment = Comment(
        paper_id=paper.id,
        user_id=user.id,
        body=_clean_body(body),
        hidden=False,
        deleted=False,
        created_at=utcnow(),
    )
    session.add(comment)
    session.flush()
    return comment


def _own_comment(session: Session, user: User, comment_id: int) -> Comment:
    comment = session.get(Comment, comment_id)
    if comment is None or comment.deleted:
        raise CommentError(f"comment {comment_id} does not exist")
    if comment.user_id != user.id:
        raise CommentError("only its author can change a comment")
    return comment


def edit_comment(session: Session, user: User, comment_id: int, body: str) -> Comment:
    comment = _own_comment(session, user, comment_id)
    comment.body = _clean_body(body)
    comment.edited_at = utcnow()
    return comment


def delete_comment(session: Session, user: User, comment_id: int) -> Comment:
    comment = _own_comment(session, user, comment_id)
    comment.deleted = True
    return comment


def set_comment_hidden(session: Session, admin: User, comment_id: int, hidden: bool) -> Comment:
    if not admin.is_admin:
        raise CommentError("only an admin can hide comments")
    comment = session.get(Comment, comment_id)
    if comment is None or comment.deleted:
        raise CommentError(f"comment {comment_id} does not exist")
    comment.hidden = hidden
    return comment


def list_comments(session: Session, paper: Paper, include_hidden: bool = False) -> list[CommentView]:
    """The paper's comments, oldest first; deleted ones are gone, hidden ones only for admins."""
    query = (
        select(Comment, User)
        .join(User, User.id == Comment.user_id)
        .where(Comment.paper_id == paper.id, Comment.deleted.is_(False))
        .order_by(Comment.created_at, Comment.id)
    )
    if not include_hidden:
        query = query.where(Comment.hidden.is_(False))
    return [
        CommentView(c.id, u.display_name or u.username, u.id, c.body, c.created_at, c.edited_at, c.hidden)
        for c, u in session.execute(query)
    ]
