"""The web app factory: everything is built from the settings passed in, nothing at import time."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import swagger_ui
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import text

from paperboy import __version__
from paperboy.authors import author_path, name_key
from paperboy.community.submissions import Fetcher, arxiv_fetcher
from paperboy.config import Settings
from paperboy.db.engine import engine_from_settings, session_factory
from paperboy.digest.service import DigestService
from paperboy.feed.periods import Period
from paperboy.links import paper_path
from paperboy.search.embedder import Embedder
from paperboy.search.factory import make_embedder, make_search_service
from paperboy.search.service import SearchService
from paperboy.signing import load_secret_key
from paperboy.tex import tex_plain, tex_prose
from paperboy.web.context import (
    WebContext,
    render,
    web,
)
from paperboy.web.errors import ErrorBoundaryMiddleware, install_error_handlers
from paperboy.web.render import linkify, markdown_comment, rich_text, short_text
from paperboy.web.routes import (
    account_pages,
    api,
    author_pages,
    feed_pages,
    feeds,
    for_you_pages,
    library_pages,
    paper_pages,
    personal_api,
    search_pages,
    submit_pages,
    subscription_pages,
)
from paperboy.web.search_api import search_router
from paperboy.web.security import RateLimiter, SecurityHeadersMiddleware, worker_share

HERE = Path(__file__).parent
# Swagger UI 5 (it renders OpenAPI 3.1, which FastAPI writes), from the swagger-ui-py package: no CDN.
SWAGGER_UI = Path(swagger_ui.__file__).parent / "static"
log = logging.getLogger(__name__)
DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Paperboy API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static-docs/swagger-ui.css"><link rel="icon" href="/static/logo.svg"></head>
<body><div id="swagger-ui"></div>
<script src="/static-docs/swagger-ui-bundle.js"></script><script src="/static/docs-init.js"></script>
</body></html>"""


def _date(value: datetime | None, style: str = "%b %-d, %Y") -> str:
    return value.strftime(style) if value else ""


def _authors(names: list[str] | tuple[str, ...], limit: int = 8) -> str:
    shown = ", ".join(tex_prose(name) for name in names[:limit])
    return f"{shown}, +{len(names) - limit} more" if len(names) > limit else shown


def _stars(count: int) -> str:
    """1234 → 1.2k, as repository hosts write star counts."""
    return f"{count / 1000:.1f}k".replace(".0k", "k") if count >= 1000 else str(count)


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.filters.update(
        rich=rich_text,
        linkify=linkify,
        short=short_text,
        date=_date,
        authors=_authors,
        paper_path=paper_path,
        stars=_stars,
        plain=tex_plain,
        prose=tex_prose,
        author_path=author_path,
        author_key=name_key,
        markdown=markdown_comment,
    )
    env.globals.update(version=__version__, Period=Period)
    return templates


def create_app(
    settings: Settings,
    embedder: Embedder | None = None,
    fetch_paper: Fetcher | None = None,
    workers: int = 1,
) -> FastAPI:
    """Build the ASGI app for `settings` (tests may pass an embedder to share, and an arXiv fetcher).
    `workers`: how many server processes share the port; each counts its own share of every rate limit,
    so together they never allow more than the limit."""
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
            "auth": RateLimiter(worker_share(settings.rate_limit_auth, workers)),
            # Failed sign-ins per account, whatever address they come from (ASVS 2.2.1).
            "account": RateLimiter(worker_share(settings.rate_limit_auth, workers), window=900),
            "write": RateLimiter(worker_share(settings.rate_limit_write, workers)),
        },
    )
    app.add_middleware(ErrorBoundaryMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.mount("/static-docs", StaticFiles(directory=str(SWAGGER_UI)), name="static-docs")
    install_error_handlers(app)
    app.include_router(search_router(search_service))
    for module in (
        personal_api,
        api,
        feeds,
        for_you_pages,
        feed_pages,
        search_pages,
        paper_pages,
        submit_pages,
        account_pages,
        author_pages,
        subscription_pages,
        library_pages,
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
