"""The web app factory: everything is built from the settings passed in, nothing at import time."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import swagger_ui
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import text
from starlette.exceptions import HTTPException as StarletteHTTPException

from paperboy import __version__
from paperboy.community.submissions import Fetcher, arxiv_fetcher
from paperboy.config import Settings
from paperboy.db.engine import engine_from_settings, session_factory
from paperboy.digest.service import DigestService
from paperboy.feed.periods import Period
from paperboy.search.embedder import Embedder
from paperboy.search.factory import make_embedder, make_search_service
from paperboy.search.service import SearchService
from paperboy.signing import load_secret_key
from paperboy.web.context import (
    ApiError,
    CsrfFailed,
    LoginRequired,
    RateLimited,
    WebContext,
    login_url,
    render,
    web,
)
from paperboy.web.render import linkify, rich_text, short_text
from paperboy.web.routes import (
    account_pages,
    api,
    feed_pages,
    feeds,
    paper_pages,
    search_pages,
    submit_pages,
    subscription_pages,
)
from paperboy.web.search_api import search_router
from paperboy.web.security import RateLimiter, SecurityHeadersMiddleware

HERE = Path(__file__).parent
# Swagger UI 5 (it renders OpenAPI 3.1, which FastAPI writes), from the swagger-ui-py package: no CDN.
SWAGGER_UI = Path(swagger_ui.__file__).parent / "static"
log = logging.getLogger(__name__)
API_PREFIXES = ("/api/", "/feeds/")
DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Paperboy API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static-docs/swagger-ui.css"><link rel="icon" href="/static/logo.svg"></head>
<body><div id="swagger-ui"></div>
<script src="/static-docs/swagger-ui-bundle.js"></script><script src="/static/docs-init.js"></script>
</body></html>"""


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIXES) or "application/json" in request.headers.get(
        "accept", ""
    )


def _date(value: datetime | None, style: str = "%b %-d, %Y") -> str:
    return value.strftime(style) if value else ""


def _authors(names: list[str] | tuple[str, ...], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    return f"{shown}, +{len(names) - limit} more" if len(names) > limit else shown


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.filters.update(rich=rich_text, linkify=linkify, short=short_text, date=_date, authors=_authors)
    env.globals.update(version=__version__, Period=Period)
    return templates


def _error_page(
    request: Request, status: int, title: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    if _is_api(request):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    response = render(
        request, "error.html", {"title": title, "message": message, "page_title": title}, status
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> Response:
        body = {"error": str(exc)}
        if exc.parameter:
            body["parameter"] = exc.parameter
        return JSONResponse(body, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors: list[dict[str, Any]] = []
        for error in exc.errors():
            location = [str(part) for part in error.get("loc", ())]
            errors.append(
                {
                    "parameter": location[-1] if location else "",
                    "in": location[0] if location else "",
                    "message": error.get("msg", ""),
                }
            )
        first = errors[0] if errors else {"parameter": "", "message": "invalid request"}
        message = f"parameter {first['parameter']!r}: {first['message']}"
        if _is_api(request):
            return JSONResponse(
                {"error": message, "parameter": first["parameter"], "errors": errors}, status_code=422
            )
        return _error_page(request, 400, "That request is not valid", message)

    @app.exception_handler(LoginRequired)
    async def on_login_required(request: Request, exc: LoginRequired) -> Response:
        if _is_api(request):
            return JSONResponse({"error": "sign in first"}, status_code=401)
        target = login_url(request) if request.method == "GET" else "/login"
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(RateLimited)
    async def on_rate_limited(request: Request, exc: RateLimited) -> Response:
        message = f"Too many requests from your address. Try again in {exc.retry_after} seconds."
        return _error_page(request, 429, "Slow down", message, {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(CsrfFailed)
    async def on_csrf_failed(request: Request, exc: CsrfFailed) -> Response:
        message = "This form has expired or came from another site. Reload the page and try again."
        return _error_page(request, 403, "Form expired", message)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Page not found", 405: "Method not allowed"}
        message = "There is no page at this address." if exc.status_code == 404 else str(exc.detail)
        return _error_page(
            request, exc.status_code, titles.get(exc.status_code, "Error"), message, dict(exc.headers or {})
        )

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error_page(
            request, 500, "Something went wrong", "An unexpected error occurred; it has been logged."
        )


def create_app(
    settings: Settings, embedder: Embedder | None = None, fetch_paper: Fetcher | None = None
) -> FastAPI:
    """Build the ASGI app for `settings` (tests may pass an embedder to share, and an arXiv fetcher)."""
    engine = engine_from_settings(settings)
    sessions = session_factory(engine)
    app = FastAPI(
        title="Paperboy",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        description="Research papers chosen by the community, hybrid search and digests. "
        "The API mirrors the Hugging Face Papers API.",
    )
    search: list[SearchService] = []

    def search_service() -> SearchService:
        """Created on first use: the model loads only when someone searches."""
        if not search:
            search.append(make_search_service(settings, sessions, embedder or make_embedder(settings)))
        return search[0]

    app.state.web = WebContext(
        settings=settings,
        sessions=sessions,
        key=load_secret_key(settings),
        templates=make_templates(),
        search=search_service,
        fetch_paper=fetch_paper or arxiv_fetcher(settings),
        digests=DigestService(settings, sessions),
        limiters={
            "auth": RateLimiter(settings.rate_limit_auth),
            "write": RateLimiter(settings.rate_limit_write),
        },
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.mount("/static-docs", StaticFiles(directory=str(SWAGGER_UI)), name="static-docs")
    _install_error_handlers(app)
    app.include_router(search_router(search_service))
    for module in (
        api,
        feeds,
        feed_pages,
        search_pages,
        paper_pages,
        submit_pages,
        account_pages,
        subscription_pages,
    ):
        app.include_router(module.router)

    @app.get("/healthz", tags=["meta"])
    def read_health(request: Request) -> JSONResponse:
        """Liveness plus a database round trip; cheap at any size (no table scans)."""
        with web(request).sessions() as session:
            session.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok"})

    @app.get("/docs", include_in_schema=False)
    def read_docs() -> HTMLResponse:
        """The interactive API docs, from the Swagger UI bundled in a PyPI package (no CDN)."""
        return HTMLResponse(DOCS_PAGE)

    @app.get("/help", include_in_schema=False, response_class=HTMLResponse)
    def read_help(request: Request) -> HTMLResponse:
        return render(request, "help.html", {"page_title": "Help"})

    return app
