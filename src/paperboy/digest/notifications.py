"""Sending the notification outbox: one email per pending row (a reply in the user's thread, a comment on
the user's paper), with a Message-ID fixed per row so that a resend after a crash is recognisably the
same message; transient failures are retried up to PAPERBOY_DIGEST_MAX_ATTEMPTS, permanent ones end it."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session, sessionmaker

from paperboy.clock import utcnow
from paperboy.config import Settings
from paperboy.db.engine import transaction
from paperboy.db.models import Comment, Notification, Paper, User
from paperboy.db.repositories.notifications import (
    mark_notification,
    notification_parts,
    pending_notifications,
)
from paperboy.digest.links import site_url
from paperboy.digest.mailer import DeliveryError, Mailer
from paperboy.email_messages import base_message, message_domain
from paperboy.links import paper_path
from paperboy.tex import tex_plain

TEMPLATES = Path(__file__).parent / "templates"
_TEXT = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=False, keep_trailing_newline=True)
_HTML = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))


@dataclass
class NotifySummary:
    sent: int = 0
    failed: int = 0
    retry: int = 0

    def line(self) -> str:
        return f"notifications: {self.sent} sent, {self.failed} failed, {self.retry} to retry"


def notification_message(
    settings: Settings,
    notification: Notification,
    recipient: User,
    comment: Comment,
    commenter: User,
    paper: Paper,
    now: datetime,
) -> EmailMessage:
    site = site_url(settings)
    title = tex_plain(paper.title)
    who = commenter.display_name or commenter.username
    if notification.reason == "reply":
        subject = f"{who} replied in your discussion of “{title}”"
    else:
        subject = f"{who} commented on your paper “{title}”"
    context = {
        "who": who,
        "title": title,
        "reason": notification.reason,
        "body": textwrap.shorten(" ".join(comment.body.split()), 1200, placeholder=" …"),
        "link": f"{site}{paper_path(paper.arxiv_id)}#comment-{comment.id}",
        "settings_link": f"{site}/account#notifications",
    }
    text = _TEXT.get_template("notification.txt").render(context)
    html = _HTML.get_template("notification.html").render(context)
    message = base_message(settings, recipient.email, subject, text, html, now)
    message["Message-ID"] = f"<notify.{notification.id}@{message_domain(settings)}>"
    message["Auto-Submitted"] = "auto-generated"
    return message


class NotificationSender:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions

    def run(self) -> NotifySummary:
        summary = NotifySummary()
        with self.sessions() as session:
            ids = pending_notifications(session, self.settings.digest_max_attempts)
        if not ids:
            return summary
        with Mailer(self.settings) as mailer:
            for notification_id in ids:
                self._one(notification_id, mailer, summary)
        return summary

    def _one(self, notification_id: int, mailer: Mailer, summary: NotifySummary) -> None:
        now = utcnow()
        with self.sessions() as session:
            parts = notification_parts(session, notification_id)
            if parts is None or parts[0].status != "pending":
                return
            notification, recipient, comment, commenter, paper = parts
            if comment.deleted or comment.hidden or not recipient.notify_replies:
                status: str | None = "skipped"
                message = None
            else:
                status = None
                message = notification_message(
                    self.settings, notification, recipient, comment, commenter, paper, now
                )
        if message is None:
            with transaction(self.sessions) as session:
                mark_notification(session, notification_id, status or "skipped", now)
            return
        try:
            mailer.send(message)
        except DeliveryError as exc:
            with transaction(self.sessions) as session:
                failed = exc.permanent
                mark_notification(session, notification_id, "failed" if failed else "pending", now)
            if exc.permanent:
                summary.failed += 1
            else:
                summary.retry += 1
            return
        with transaction(self.sessions) as session:
            mark_notification(session, notification_id, "sent", now, str(message["Message-ID"]))
        summary.sent += 1
