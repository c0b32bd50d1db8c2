"""Comments: Markdown with math, one level of replies, editable and deletable by their authors (an edit
is marked), hideable by admins. A new comment queues emails to the people in its thread and to the
paper's confirmed authors (sent by the notification outbox)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from paperboy.clock import utcnow
from paperboy.code_links import find_links
from paperboy.db.models import Comment, Paper, User
from paperboy.db.repositories.authors import claimants_of
from paperboy.db.repositories.notifications import queue_notifications
from paperboy.db.repositories.queue import enqueue_for_index

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
    parent_id: int | None = None
    author_username: str = ""
    replies: tuple[CommentView, ...] = ()
    removed: bool = False
    """A deleted or hidden comment kept as a placeholder because visible replies hang from it."""


def _clean_body(body: str) -> str:
    text = body.replace("\r\n", "\n").strip()
    if not text:
        raise CommentError("the comment is empty")
    if len(text) > MAX_COMMENT_LENGTH:
        raise CommentError(f"the comment is longer than {MAX_COMMENT_LENGTH} characters")
    return text


def add_comment(
    session: Session, user: User, paper: Paper, body: str, parent_id: int | None = None
) -> Comment:
    """A new comment (a reply when `parent_id` is given: replies to a reply join its thread, one level)."""
    parent = None
    if parent_id is not None:
        parent = session.get(Comment, parent_id)
        if parent is None or parent.deleted or parent.paper_id != paper.id:
            raise CommentError(f"comment {parent_id} is not in this paper's discussion")
        if parent.parent_id is not None:
            parent = session.get(Comment, parent.parent_id)
            assert parent is not None
    comment = Comment(
        paper_id=paper.id,
        user_id=user.id,
        parent_id=parent.id if parent is not None else None,
        body=_clean_body(body),
        hidden=False,
        deleted=False,
        created_at=utcnow(),
    )
    session.add(comment)
    session.flush()
    queue_notifications(session, comment)
    if user.id in claimants_of(session, paper.id):
        _take_authors_links(session, paper, comment.body)
    return comment


def _take_authors_links(session: Session, paper: Paper, body: str) -> None:
    """A confirmed author's comment that names the code or the project page adds them to the paper (as
    the paper's own text would); others' comments never change a paper's links."""
    links = find_links(body)
    known = list(paper.code_urls or [])
    added = [url for url in links.repositories if url not in known]
    if added:
        paper.code_urls = known + added
        paper.modified_at = utcnow()
        enqueue_for_index(session, [paper.id])  # `has:code` changes
    if links.project_page and not paper.project_page:
        paper.project_page = links.project_page


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
    """The paper's threads, oldest first, each with its replies; deleted comments are gone and hidden ones
    shown only to admins, except as a placeholder above visible replies."""
    query = (
        select(Comment, User)
        .join(User, User.id == Comment.user_id)
        .where(Comment.paper_id == paper.id)
        .order_by(Comment.created_at, Comment.id)
    )
    views: dict[int, CommentView] = {}
    replies: dict[int, list[CommentView]] = {}
    for c, u in session.execute(query):
        view = CommentView(
            c.id,
            u.display_name or u.username,
            u.id,
            c.body,
            c.created_at,
            c.edited_at,
            c.hidden,
            c.parent_id,
            u.username,
            removed=c.deleted or (c.hidden and not include_hidden),
        )
        if c.parent_id is None:
            views[c.id] = view
        elif not view.removed:
            replies.setdefault(c.parent_id, []).append(view)
    threads = []
    for comment_id, view in views.items():
        answers = tuple(replies.get(comment_id, ()))
        if view.removed and not answers:
            continue
        threads.append(replace(view, replies=answers, body="" if view.removed else view.body))
    return threads
