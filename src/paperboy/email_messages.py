"""Email messages as Paperboy sends them: multipart/alternative (plain text and HTML), with the site's
From address and headers long enough for signed links. Digests, confirmations and account emails all
start from `base_message`."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr

from paperboy.config import Settings


def message_domain(settings: Settings) -> str:
    address = parseaddr(settings.mail_from)[1]
    return address.rsplit("@", 1)[1] if "@" in address else "paperboy.local"


def base_message(
    settings: Settings, to: str, subject: str, text: str, html: str, now: datetime
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = formataddr(("", to))
    message["Subject"] = subject
    message["Date"] = format_datetime(now.replace(tzinfo=UTC))
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    # Header lines may be up to 998 characters (RFC 5322). With the default 78, a header with no space to
    # fold at (List-Unsubscribe's long signed URL) is turned into RFC 2047 encoded-words, which mail clients
    # do not read as a URL. Set after the parts are encoded, so their bodies keep 76-character lines.
    message.policy = message.policy.clone(max_line_length=998)
    return message
