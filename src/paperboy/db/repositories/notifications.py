"""The notification outbox: who is told about a new comment (the people in its thread, the paper's
confirmed authors), and the rows the sender works through."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from paperboy.db.models import AuthorClaim, Comment, Notification, Paper, User


def queue_notifications(session: Session, comment: Comment) -> list[int]:
    """Pending notifications for a new comment; the user ids told. A reply tells the thread's author and
    the others who replied in it; any comment tells the paper's confirmed authors. Never the commenter,
    never someone who turned these emails off, never twice."""
    recipients: dict[int, str] = {}
    if comment.parent_id is not None:
        thread = select(Comment.user_id).where(
            ((Comment.id == comment.parent_id) | (Comment.parent_id == comment.parent_id)),
            Comment.deleted.is_(False),
        )
        for user_id in session.scalars(thread):
            recipients.setdefault(user_id, "reply")
    authors = select(AuthorClaim.user_id).where(
        AuthorClaim.paper_id == comment.paper_id, AuthorClaim.status == "approved"
    )
    for user_id in session.scalars(authors):
        recipients.setdefault(user_id, "author")
    recipients.pop(comment.user_id, None)
    if not recipients:
        return []
    willing = set(
        session.scalars(select(User.id).where(User.id.in_(recipients), User.notify_replies.is_(True)))
    )
    told = []
    for user_id, reason in recipients.items():
        if user_id not in willing:
            continue
        try:
            with session.begin_nested():
                session.add(
                    Notification(
                        user_id=user_id, comment_id=comment.id, reason=reason, status="pending", attempts=0
                    )
                )
            told.append(user_id)
        except IntegrityError:
            pass
    return told


def pending_notifications(session: Session, max_attempts: int) -> list[int]:
    query = (
        select(Notification.id)
        .where(Notification.status == "pending", Notification.attempts < max_attempts)
        .order_by(Notification.id)
    )
    return list(session.scalars(query))


def notification_parts(
    session: Session, notification_id: int
) -> tuple[Notification, User, Comment, User, Paper] | None:
    """The notification, its recipient, the comment, the commenter and the paper."""
    notification = session.get(Notification, notification_id)
    if notification is None:
        return None
    comment = session.get(Comment, notification.comment_id)
    recipient = session.get(User, notification.user_id)
    if comment is None or recipient is None:
        return None
    author = session.get(User, comment.user_id)
    paper = session.get(Paper, comment.paper_id)
    if author is None or paper is None:
        return None
    return notification, recipient, comment, author, paper


def mark_notification(
    session: Session, notification_id: int, status: str, when: datetime, message_id: str | None = None
) -> None:
    notification = session.get(Notification, notification_id)
    if notification is None:
        return
    notification.attempts += 1
    notification.status = status
    if status == "sent":
        notification.sent_at = when
        notification.message_id = message_id


def notifications_of(session: Session, user_ids: Sequence[int]) -> list[Notification]:
    query = select(Notification).where(Notification.user_id.in_(user_ids)).order_by(Notification.id)
    return list(session.scalars(query))
