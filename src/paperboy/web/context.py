"""What every route needs: the app's shared parts, the signed-in viewer, CSRF and rate-limit checks,
and `render` for pages. Routes stay thin: they parse, call a service and render."""

from __future__ import annotations

import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from paperboy.accounts.sessions import user_for_session
from paperboy.community.submissions import Fetcher
from paperboy.config import Settings
from paperboy.db.models import User
from paperboy.digest.links import site_url
from paperboy.digest.service import DigestService
from paperboy.personal.recommender import PoolCache, ProfileCache
from paperboy.search.service import SearchService
from paperboy.web.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    RateLimiter,
    client_address,
    csrf_token,
    csrf_valid,
)

# Messages a redirect may ask the next page to show (by key, so no text can be injected through the URL).
NOTICES = {
    "signed-in": "Welcome back — you are signed in.",
    "signed-up": "Welcome to Paperboy! Your account is ready.",
    "signed-out": "You are signed out.",
    "password-changed": "Your password is changed; other sign-ins were ended.",
    "submitted": "Thanks! The paper is on today's list.",
    "already-submitted": "That paper was submitted before: here it is on the list of its day.",
    "comment-saved": "Your comment is saved.",
    "comment-deleted": "Your comment is deleted.",
    "token-created": "A new API token was created. Copy it now: it is shown only once.",
    "entry-removed": "The entry was removed from the daily list.",
    "preferences-saved": "Your digest preferences are saved.",
    "author-followed": "You follow this author: their new papers come in your digest.",
    "author-unfollowed": "You no longer follow this author.",
    "claim-sent": "Thanks! An admin will check your claim.",
    "claim-decided": "The claim is decided.",
    "notifications-saved": "Your choice of discussion emails is saved.",
    "saved": "Saved to your collection.",
    "unsaved": "Removed from the collection.",
    "dismissed": "Noted: fewer papers like this one.",
    "seeded": "Noted: more papers like this one.",
    "signal-cleared": "That signal is removed.",
    "note-saved": "Your note is saved.",
    "read-marked": "Marked as read.",
    "unread-marked": "Marked as unread.",
    "collection-created": "The collection is created.",
    "collection-saved": "The collection is saved.",
    "collection-deleted": "The collection is deleted.",
    "interest-off": "That interest is switched off: papers like it are no longer recommended.",
    "interest-on": "That interest is switched on again.",
    "interests-reset": "Your recommendation signals are reset.",
    "categories-saved": "Your categories are saved.",
    "feed-rotated": "Your private feed has a new address; the old one stopped working.",
    "account-deleted": "Your account and everything in it is deleted.",
}


@dataclass(frozen=True)
class Viewer:
    """The signed-in user as pages see them (a plain value, safe to use outside a DB session)."""

    id: int
    username: str
    display_name: str | None
    email: str
    is_admin: bool

    @property
    def name(self) -> str:
        return self.display_name or self.username

    @classmethod
    def of(cls, user: User) -> Viewer:
        return cls(user.id, user.username, user.display_name, user.email, user.is_admin)


@dataclass
class WebContext:
    """The app's shared parts, built once by the app factory."""

    settings: Settings
    sessions: sessionmaker[Session]
    key: bytes
    templates: Jinja2Templates
    search: Callable[[], SearchService]
    fetch_paper: Fetcher
    limiters: dict[str, RateLimiter]
    digests: DigestService
    pools: PoolCache = field(default_factory=PoolCache)
    """Recommendation candidates per window, shared by every user's request."""
    profiles: ProfileCache = field(default_factory=ProfileCache)
    """Users' recommendation profiles, reused while their signals are unchanged."""


class LoginRequired(Exception):
    """The page needs a signed-in user; the app redirects to the sign-in page."""


class AdminRequired(Exception):
    """The page or action is for admins; the app answers 403."""


class RateLimited(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"too many requests; retry in {retry_after} s")
        self.retry_after = retry_after


class CsrfFailed(Exception):
    """A state-changing request without a valid CSRF token."""


class ApiError(Exception):
    """An API request is refused: status, message and the parameter at fault."""

    def __init__(self, status: int, message: str, parameter: str | None = None):
        super().__init__(message)
        self.status = status
        self.parameter = parameter


def base_url(request: Request) -> str:
    """The site's address for absolute links (feeds, the API): PAPERBOY_BASE_URL, else the address the
    request came to when it names this server, else the address `serve` listens on. Never an arbitrary
    Host header: links in a cached feed would point wherever a client claimed."""
    settings = web(request).settings
    if settings.base_url:
        return settings.base_url.rstrip("/")
    host = (request.headers.get("host") or "").lower()
    if host in served_hosts(settings.host, settings.port):
        return str(request.base_url).rstrip("/")
    return site_url(settings)


def served_hosts(host: str, port: int) -> frozenset[str]:
    """Host headers that name this server: its address, loopback and its machine name, with the port."""
    names = {host.lower(), "localhost", "127.0.0.1", "[::1]", socket.gethostname().lower()}
    if host in ("0.0.0.0", "::", ""):
        names.add(socket.getfqdn().lower())
    return frozenset({f"{name}:{port}" for name in names} | ({*names} if port == 80 else set()))


def web(request: Request) -> WebContext:
    context: WebContext = request.app.state.web
    return context


def current_viewer(request: Request) -> Viewer | None:
    """The signed-in user of this request (looked up once per request)."""
    if hasattr(request.state, "viewer"):
        found: Viewer | None = request.state.viewer
        return found
    viewer = None
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        try:
            with web(request).sessions() as session:
                user = user_for_session(session, token)
                viewer = Viewer.of(user) if user else None
        except OperationalError:  # the database is down: pages (error pages included) render signed out
            viewer = None
    request.state.viewer = viewer
    return viewer


def require_viewer(request: Request) -> Viewer:
    viewer = current_viewer(request)
    if viewer is None:
        raise LoginRequired()
    return viewer


async def check_csrf(request: Request) -> None:
    """Dependency of every state-changing form route (token from the form field or the X-CSRF-Token header)."""
    submitted = request.headers.get(CSRF_HEADER)
    if submitted is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        submitted = value if isinstance(value, str) else None
    if not csrf_valid(request, web(request).key, submitted):
        raise CsrfFailed()


def rate_limit(bucket: Literal["auth", "write"]) -> Callable[[Request], Coroutine[Any, Any, None]]:
    """A dependency that counts this request against the client's `bucket` allowance."""

    async def check(request: Request) -> None:
        wait = web(request).limiters[bucket].hit(client_address(request))
        if wait is not None:
            raise RateLimited(wait)

    return check


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(target, safe='')}"


def safe_next(target: str | None) -> str:
    """A local path to return to after signing in (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    """A page with the viewer, CSRF token and notice every layout needs."""
    shared = web(request)
    notice = NOTICES.get(request.query_params.get("notice", ""))
    values = {
        "viewer": current_viewer(request),
        "csrf_token": csrf_token(request, shared.key),
        "csrf_field": CSRF_FIELD,
        "notice": notice,
        "settings": shared.settings,
        **context,
    }
    response = shared.templates.TemplateResponse(request, template, values, status_code=status_code)
    set_csrf_cookie(request, response)
    return response


def problem_page(
    request: Request, title: str, message: str, status: int, back: str | None = None
) -> HTMLResponse:
    """The error page: what went wrong, in words, and where to go back to."""
    return render(request, "error.html", {"title": title, "message": message, "back": back}, status)


def set_csrf_cookie(request: Request, response: Any) -> None:
    seed = getattr(request.state, "new_csrf_seed", None)
    if seed:
        response.set_cookie(
            CSRF_COOKIE,
            seed,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            max_age=60 * 60 * 24 * 365,
        )
