"""Security headers, CSRF tokens and rate limits for the web app.

CSRF: a random `pb_csrf` cookie, and forms carry an HMAC, under the site key, of that cookie and of the
sign-in session (a forged request can neither read the cookies nor compute the HMAC). Binding the token
to the session means a token seen before signing in is worthless after it, and signing in or out also
replaces the cookie (OWASP ASVS 3.5, 4.2.2). Rate limits: a sliding window per client address and
bucket, kept in memory (one process serves the embedded default).
"""

from __future__ import annotations

import hmac
import math
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import Request

from paperboy.signing import keyed_digest

CSRF_COOKIE = "pb_csrf"
SESSION_COOKIE = "pb_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# Swagger UI (the API docs) sets inline styles; its scripts still come only from this site.
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
DOCS_PATHS = ("/docs", "/redoc")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SecurityHeadersMiddleware:
    """Adds the CSP and the standard hardening headers to every HTTP response (pure ASGI: no overhead)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        policy = DOCS_CONTENT_SECURITY_POLICY if path.startswith(DOCS_PATHS) else CONTENT_SECURITY_POLICY
        secure = scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = [(b"content-security-policy", policy.encode()), *SECURITY_HEADERS]
                if secure:
                    extra.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                headers.extend(item for item in extra if item[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


# --- CSRF ----------------------------------------------------------------------------------------


def csrf_seed(request: Request) -> str:
    """This browser's CSRF cookie value, or a new one (the response must then set the cookie)."""
    seed = request.cookies.get(CSRF_COOKIE, "")
    if not seed or len(seed) > 100:
        seed = getattr(request.state, "new_csrf_seed", None) or secrets.token_urlsafe(24)
        request.state.new_csrf_seed = seed
    return seed


def new_csrf_seed(request: Request) -> str:
    """A fresh CSRF cookie for this response (at sign-in and sign-out); the caller sets the cookie."""
    seed = secrets.token_urlsafe(24)
    request.state.new_csrf_seed = seed
    return seed


def _bound(seed: str, request: Request) -> str:
    return f"{seed}\x00{request.cookies.get(SESSION_COOKIE, '')}"


def csrf_token(request: Request, key: bytes) -> str:
    return keyed_digest(key, "csrf", _bound(csrf_seed(request), request))


def csrf_valid(request: Request, key: bytes, submitted: object) -> bool:
    """Whether `submitted` is this browser's token for this session (any text may arrive: an attacker
    chooses it, so compare bytes, which never raises)."""
    seed = request.cookies.get(CSRF_COOKIE)
    if not seed or not isinstance(submitted, str) or not submitted:
        return False
    expected = keyed_digest(key, "csrf", _bound(seed, request))
    return hmac.compare_digest(expected.encode(), submitted.encode("utf-8", "surrogatepass"))


# --- Rate limits ---------------------------------------------------------------------------------


def worker_share(limit: int, workers: int) -> int:
    """One server process's part of a limit that `workers` processes enforce without sharing counts
    (at least 1, so a limit is never turned into a ban)."""
    return max(1, limit // max(1, workers))


class RateLimiter:
    """At most `limit` events per `window` seconds per key; `hit` says how long to wait when over."""

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self._clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, key: str) -> int | None:
        """Seconds until `key` may try again, without counting this look (None: it may now)."""
        now = self._clock()
        with self._lock:
            events = self._events.get(key)
            while events and events[0] <= now - self.window:
                events.popleft()
            if events is not None and len(events) >= self.limit:
                return max(1, math.ceil(events[0] + self.window - now))
            return None

    def hit(self, key: str) -> int | None:
        """Record an event; None when allowed, else the seconds until the next one would be."""
        now = self._clock()
        with self._lock:
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return max(1, math.ceil(events[0] + self.window - now))
            events.append(now)
            if len(self._events) > 100_000:  # forget idle clients so memory stays bounded
                self._events = {k: v for k, v in self._events.items() if v and v[-1] > now - self.window}
            return None


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"
