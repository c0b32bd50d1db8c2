"""Email address checks shared by accounts and digest subscriptions."""

from __future__ import annotations

import re

MAX_EMAIL_LENGTH = 254
# Deliberately plain: one @, a dotted domain, no spaces or angle brackets (which could smuggle headers).
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


class AddressError(ValueError):
    """An email address is unusable; the message says why."""


def normalize_email(value: str) -> str:
    """The address trimmed, with its domain lower-cased; AddressError when it is not a plausible address."""
    text = value.strip()
    if not text:
        raise AddressError("an email address is required")
    if len(text) > MAX_EMAIL_LENGTH:
        raise AddressError(f"the email address is longer than {MAX_EMAIL_LENGTH} characters")
    if not _EMAIL.match(text) or ".." in text:
        raise AddressError(f"{text!r} is not a valid email address")
    local, domain = text.rsplit("@", 1)
    return f"{local}@{domain.lower()}"
