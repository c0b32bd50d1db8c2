"""Digest and confirmation emails: multipart/alternative (plain text + HTML), no remote resources,
and the one-click unsubscribe headers of RFC 8058."""

from __future__ import annotations

import textwrap
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from paperboy.config import Settings
from paperboy.db.models import Subscription
from paperboy.digest.compose import DigestContent
from paperboy.digest.links import SubscriptionLinks, site_url
from paperboy.digest.subscriptions import keyword_label, topics_of
from paperboy.email_messages import base_message, message_domain
from paperboy.links import paper_path

TEMPLATES = Path(__file__).parent / "templates"


def _authors(names: tuple[str, ...] | list[str], limit: int = 6) -> str:
    shown = ", ".join(names[:limit])
    return f"{shown} et al." if len(names) > limit else shown


def _short(text: str, limit: int = 360) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0].rstrip(",.;:") + "…"


def _wrap(text: str) -> str:
    return "\n  ".join(textwrap.wrap(text, 76))


def _environment(html: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"]) if html else False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(authors=_authors, short=_short, wrap=_wrap, paper_path=paper_path)
    return env


_HTML = _environment(html=True)
_TEXT = _environment(html=False)


def delivery_message_id(settings: Settings, delivery_id: int, period: str) -> str:
    """Fixed per delivery, so a digest resent after a crash is recognisably the same message."""
    return f"<digest.{delivery_id}.{period}@{message_domain(settings)}>"


def digest_subject(subscription: Subscription, content: DigestContent, now: datetime) -> str:
    parts = []
    if content.trending:
        parts.append(f"{len(content.trending)} trending paper{'s' if len(content.trending) != 1 else ''}")
    if content.for_you:
        parts.append(f"{len(content.for_you)} for you")
    label = "daily" if subscription.frequency == "daily" else "weekly"
    return f"Paperboy {label}: {' + '.join(parts)} ({now:%b %-d})"


def digest_message(
    settings: Settings,
    subscription: Subscription,
    content: DigestContent,
    links: SubscriptionLinks,
    message_id: str,
    now: datetime,
) -> EmailMessage:
    """The digest email, ready to send (or to preview: the HTML part is what `preview` writes)."""
    subject = digest_subject(subscription, content, now)
    context = render_context(settings, subscription, content, links, subject, now)
    message = base_message(
        settings,
        subscription.email,
        subject,
        _TEXT.get_template("digest.txt").render(context),
        _HTML.get_template("digest.html").render(context),
        now,
    )
    message["Message-ID"] = message_id
    message["List-Id"] = (
        f"Paperboy {subscription.frequency} digest <{subscription.frequency}.digest.{message_domain(settings)}>"
    )
    message["List-Unsubscribe"] = f"<{links.unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    return message


def render_context(
    settings: Settings,
    subscription: Subscription,
    content: DigestContent,
    links: SubscriptionLinks,
    subject: str,
    now: datetime,
) -> dict[str, Any]:
    sections = []
    if content.trending:
        sections.append({"title": "Trending in the community", "papers": content.trending})
    if content.for_you:
        sections.append({"title": "New for you", "papers": content.for_you})
    heading = "Daily digest" if subscription.frequency == "daily" else "Weekly digest"
    return {
        "subject": subject,
        "heading": f"{heading}, {now:%A %B %-d, %Y}",
        "title": "Today's papers worth reading"
        if subscription.frequency == "daily"
        else "This week's papers worth reading",
        "sections": sections,
        "site": site_url(settings),
        "links": links,
        "email": subscription.email,
        "frequency": subscription.frequency,
    }


def digest_html(
    settings: Settings,
    subscription: Subscription,
    content: DigestContent,
    links: SubscriptionLinks,
    now: datetime,
) -> str:
    subject = digest_subject(subscription, content, now)
    return _HTML.get_template("digest.html").render(
        render_context(settings, subscription, content, links, subject, now)
    )


def confirmation_message(
    settings: Settings, subscription: Subscription, links: SubscriptionLinks, now: datetime
) -> EmailMessage:
    """The double opt-in link, or, to an address already subscribed, a note that nothing changed with
    its preferences link: the web page and the API answer both cases alike, so that nobody learns from
    them whether an address is subscribed, and the owner learns that someone asked."""
    if subscription.status == "active":
        return _already_subscribed(settings, subscription, links, now)
    topics = topics_of(subscription)
    keywords = [keyword_label(k) for k in topics.keywords]
    described = ", ".join([*topics.categories, *keywords, *(f"papers by {a}" for a in topics.authors)])
    context = {
        "links": links,
        "email": subscription.email,
        "frequency": subscription.frequency,
        "topics": described,
        "days": settings.confirm_days,
    }
    message = base_message(
        settings,
        subscription.email,
        "Confirm your Paperboy digest",
        _TEXT.get_template("confirm.txt").render(context),
        _HTML.get_template("confirm.html").render(context),
        now,
    )
    message["Message-ID"] = f"<confirm.{subscription.id}.{int(now.timestamp())}@{message_domain(settings)}>"
    message["Auto-Submitted"] = "auto-generated"
    return message


def _already_subscribed(
    settings: Settings, subscription: Subscription, links: SubscriptionLinks, now: datetime
) -> EmailMessage:
    context = {"links": links, "email": subscription.email, "frequency": subscription.frequency}
    message = base_message(
        settings,
        subscription.email,
        "You already get the Paperboy digest",
        _TEXT.get_template("already.txt").render(context),
        _HTML.get_template("already.html").render(context),
        now,
    )
    message["Message-ID"] = f"<already.{subscription.id}.{int(now.timestamp())}@{message_domain(settings)}>"
    message["Auto-Submitted"] = "auto-generated"
    return message
