"""Creating users, checking credentials, changing passwords and personal API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from paperboy.accounts.passwords import hash_password, needs_rehash, password_problem, verify_password
from paperboy.addresses import AddressError, normalize_email
from paperboy.clock import utcnow
from paperboy.db.models import User

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{1,38}$")
API_TOKEN_PREFIX = "pb_"
# Verifying against this hash when the user does not exist takes as long as a real check, so response
# times do not reveal which addresses have accounts.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


@dataclass
class AccountError(ValueError):
    """A sign-up or account change is refused; `field` names the form field at fault."""

    field: str
    message: str

    def __str__(self) -> str:
        return self.message


def check_username(username: str) -> str:
    name = username.strip()
    if not USERNAME.match(name):
        raise AccountError(
            "username",
            "a username has 2 to 39 letters, digits, '.', '_' or '-', starting with a letter or digit",
        )
    return name


class AccountRefused(AccountError):
    """Every problem of a new account's fields at once, by field (forms show them all together)."""

    def __init__(self, errors: dict[str, str]):
        field, message = next(iter(errors.items()))
        super().__init__(field, message)
        self.errors = errors


def email_taken(session: Session, address: str) -> bool:
    return session.scalar(select(User.id).where(func.lower(User.email) == address.lower())) is not None


def username_taken(session: Session, name: str) -> bool:
    return session.scalar(select(User.id).where(func.lower(User.username) == name.lower())) is not None


def check_new_account(
    session: Session, email: str, username: str, password: str, display_name: str | None
) -> tuple[str, str, str | None]:
    """(address, username, display name) as stored, or AccountRefused naming every field at fault; whether
    the address already has an account is left to the caller (sign-up must not say)."""
    errors: dict[str, str] = {}
    address = name = ""
    try:
        address = normalize_email(email)
    except AddressError as exc:
        errors["email"] = str(exc)
    try:
        name = check_username(username)
    except AccountError as exc:
        errors[exc.field] = exc.message
    problem = password_problem(password, name or username.strip(), address or email.strip())
    if problem:
        errors["password"] = problem
    if name and username_taken(session, name):
        errors["username"] = "this username is taken"
    if errors:
        raise AccountRefused(errors)
    return address, name, (display_name or "").strip()[:200] or None


def create_user(
    session: Session, email: str, username: str, password: str, display_name: str | None = None
) -> User:
    """A new user with an argon2 password hash; AccountError when a field is invalid or taken."""
    address, name, display = check_new_account(session, email, username, password, display_name)
    if email_taken(session, address):
        raise AccountError("email", "an account with this email address already exists")
    return new_user(session, address, name, hash_password(password), display)


def new_user(
    session: Session, email: str, username: str, password_hash: str, display_name: str | None
) -> User:
    """Store an account whose fields were checked (create_user, or a confirmed sign-up link)."""
    user = User(
        email=email,
        username=username,
        display_name=display_name,
        password_hash=password_hash,
        is_admin=False,
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, login: str, password: str) -> User | None:
    """The user whose email or username and password match, else None (in constant-ish time)."""
    text = login.strip()
    column = User.email if "@" in text else User.username
    user = session.scalar(select(User).where(func.lower(column) == text.lower()))
    if user is None or user.password_hash is None:
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(user.password_hash, password):
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def change_password(session: Session, user: User, current: str, new: str) -> None:
    if user.password_hash is None or not verify_password(user.password_hash, current):
        raise AccountError("current_password", "the current password is not correct")
    problem = password_problem(new, user.username, user.email)
    if problem:
        raise AccountError("new_password", problem)
    user.password_hash = hash_password(new)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(user: User) -> str:
    """A new personal API token (shown once); the previous one stops working."""
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    user.api_token_hash = _token_hash(token)
    return token


def user_for_api_token(session: Session, token: str) -> User | None:
    if not token.startswith(API_TOKEN_PREFIX) or len(token) > 200:
        return None
    return session.scalar(select(User).where(User.api_token_hash == _token_hash(token)))


def make_admin(session: Session, login: str) -> User:
    """Give the user admin rights (from the CLI); AccountError when no such user."""
    text = login.strip()
    column = User.email if "@" in text else User.username
    user = session.scalar(select(User).where(func.lower(column) == text.lower()))
    if user is None:
        raise AccountError("user", f"no user {text!r}")
    user.is_admin = True
    return user
