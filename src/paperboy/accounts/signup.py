"""Sign-up confirmed by email, so that the sign-up form never tells whether an address has an account.

The form checks what it can say about the request alone (the address is an address, the username free
and well formed, the password good enough) and then always answers "check your inbox". The inbox gets
either a signed link that creates the account (it carries the argon2 hash, never the password, and
expires), or, when the address already has an account, a note saying so with a link to sign in. Only
the owner of the mailbox learns which (OWASP ASVS 2.5, 3.x; the subscription forms work alike).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session

from paperboy.accounts.passwords import hash_password
from paperboy.accounts.users import (
    AccountError,
    AccountRefused,
    check_new_account,
    email_taken,
    new_user,
    username_taken,
)
from paperboy.config import Settings
from paperboy.db.models import User
from paperboy.email_messages import base_message
from paperboy.signing import Signer, TokenError

PURPOSE = "account-signup"
TEMPLATES = Path(__file__).parent / "templates"
_TEXT = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=False, keep_trailing_newline=True)
_HTML = Environment(loader=FileSystemLoader(str(TEMPLATES)), autoescape=select_autoescape(["html"]))


@dataclass(frozen=True)
class Signup:
    """A checked sign-up request, ready to become the email that finishes (or declines) it."""

    email: str
    username: str
    password_hash: str
    display_name: str | None
    existing: bool
    """The address already has an account (the form answers the same; the email differs)."""


SignupRefused = AccountRefused


def check_signup(session: Session, email: str, username: str, password: str, display_name: str) -> Signup:
    """SignupRefused naming each field the form may complain about; never an address that has an account."""
    address, name, display = check_new_account(session, email, username, password, display_name)
    return Signup(address, name, hash_password(password), display, email_taken(session, address))


def signup_message(
    settings: Settings, signer: Signer, signup: Signup, site: str, now: datetime, next_path: str = "/"
) -> EmailMessage:
    """The link that creates the account (and then goes to the local `next_path`), or the note that the
    address already has one."""
    context: dict[str, object]
    if signup.existing:
        context = {"email": signup.email, "sign_in": f"{site}/login"}
        template, subject = "existing", "You already have a Paperboy account"
    else:
        payload = {
            "e": signup.email,
            "u": signup.username,
            "h": signup.password_hash,
            "d": signup.display_name,
            "n": next_path,
        }
        link = f"{site}/signup/confirm?{urlencode({'token': signer.sign(PURPOSE, payload)})}"
        context = {
            "email": signup.email,
            "username": signup.username,
            "link": link,
            "days": settings.confirm_days,
        }
        template, subject = "signup", "Finish creating your Paperboy account"
    text = _TEXT.get_template(f"{template}.txt").render(context)
    html = _HTML.get_template(f"{template}.html").render(context)
    message = base_message(settings, signup.email, subject, text, html, now)
    message["Auto-Submitted"] = "auto-generated"
    return message


@dataclass(frozen=True)
class PendingAccount:
    """What a verified sign-up link asks for."""

    email: str
    username: str
    password_hash: str
    display_name: str | None
    next_path: str
    """Where the visitor was going when they signed up (checked local when the link was made)."""


def read_signup_link(signer: Signer, token: str, max_age_seconds: int) -> PendingAccount:
    """The account a signed link asks for; TokenError for a bad or expired link."""
    data = signer.verify(PURPOSE, token, max_age_seconds)
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("e", "u", "h")):
        raise TokenError("the link is not valid")
    display = data.get("d") if isinstance(data.get("d"), str) else None
    next_path = data.get("n") if isinstance(data.get("n"), str) else "/"
    return PendingAccount(str(data["e"]), str(data["u"]), str(data["h"]), display, str(next_path))


def finish_signup(session: Session, pending: PendingAccount) -> User:
    """Create the account; AccountError when the address or username was taken since the link was sent
    (whoever holds the link owns the mailbox: telling is fine now)."""
    if email_taken(session, pending.email):
        raise AccountError("email", "this address has an account already: sign in instead")
    if username_taken(session, pending.username):
        raise AccountError("username", "this username was taken meanwhile: sign up again with another")
    return new_user(session, pending.email, pending.username, pending.password_hash, pending.display_name)
