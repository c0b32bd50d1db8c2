"""The site's secret key and signed, expiring tokens (CSRF tokens, email links).

The key comes from settings, or is created once in the data dir, so a fresh install is secure without
configuration and no secret ever lives in the repository.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from paperboy.config import Settings

KEY_FILE = "secret_key"


class TokenError(ValueError):
    """A signed token is malformed, forged or expired; the message says which."""


def load_secret_key(settings: Settings) -> bytes:
    """The configured key, else the one in <home>/secret_key (created with mode 0600 on first use)."""
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value().encode()
    path = Path(settings.home) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Unique per caller: the web app and `serve`'s background jobs may create the key at the same moment.
        temporary = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(8)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(temporary, path)  # atomic, and never replaces a key another process just made
        except FileExistsError:
            pass
        finally:
            temporary.unlink(missing_ok=True)
    return path.read_text().strip().encode()


def keyed_digest(key: bytes, purpose: str, value: str) -> str:
    """HMAC-SHA256 of `value` for one purpose (CSRF, …), hex."""
    return hmac.new(key, f"{purpose}\x00{value}".encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


class Signer:
    """Signed, timestamped tokens whose payload is JSON, one salt per purpose."""

    def __init__(self, key: bytes):
        self._key = key

    def sign(self, purpose: str, payload: Any) -> str:
        return URLSafeTimedSerializer(self._key, salt=purpose).dumps(payload)

    def verify(self, purpose: str, token: str, max_age_seconds: int) -> Any:
        serializer = URLSafeTimedSerializer(self._key, salt=purpose)
        try:
            return serializer.loads(token, max_age=max_age_seconds)
        except SignatureExpired:
            raise TokenError("the link has expired") from None
        except BadSignature:
            raise TokenError("the link is not valid (it may have been cut short or altered)") from None
