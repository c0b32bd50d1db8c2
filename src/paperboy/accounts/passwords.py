"""Password hashing with argon2id (the parameters travel inside each hash, so they can be raised later),
and the rules a new password must meet (OWASP ASVS 2.1): at least ten characters, and not one of the
30,000 most common passwords (the list the zxcvbn project compiled from leaks, bundled in its PyPI
package), nor the account's own name or address."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()

MIN_LENGTH = 10
MAX_LENGTH = 1024


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(word.lower() for word in FREQUENCY_LISTS["passwords"])


def password_problem(password: str, *personal: str) -> str | None:
    """Why a new password is refused, or None; `personal` are the account's username and email."""
    if len(password) < MIN_LENGTH:
        return f"the password must have at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"the password must have at most {MAX_LENGTH} characters"
    if not password.strip():
        return "the password cannot be only spaces"
    folded = password.lower()
    if folded in common_passwords() or folded.rstrip("0123456789!?.") in common_passwords():
        return (
            "this password is one of the most common ones: choose another (a few unrelated words work well)"
        )
    if any(part and part.lower() in folded for value in personal for part in (value, value.split("@")[0])):
        return "the password must not contain your username or email address"
    return None
