"""The web app factory: everything is built from the settings passed in, nothing at import time."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select

from paperboy import __version__
from paperboy.config import Settings
from paperboy.db.engine import engine_from_settings, session_factory
from paperboy.db.models import DailyEntry
from paperboy.db.repositories.daily import daily_items
from paperboy.db.repositories.papers import count_papers, recent_papers
from paperboy.search.embedder import Embedder
from paperboy.search.factory import make_embedder, make_search_service
from paperboy.search.service import SearchService
from paperboy.web.search_api import search_router

TEMPLATES = Path(__file__).parent / "templates"


def create_app(settings: Settings, embedder: Embedder | None = None) -> FastAPI:
    """Build the ASGI app for `settings` (tests may pass an embedder to share one across apps)."""
    engine = engine_from_settings(settings)
    sessions = session_factory(engine)
    templates = Jinja2Templates(directory=str(TEMPLATES))
    app = FastAPI(title="Paperboy", version=__version__)
    app.state.settings = settings
    search: list[SearchService] = []

    def search_service() -> SearchService:
        """Created on first use: the model loads only when someone searches."""
        if not search:
            search.append(make_search_service(settings, sessions, embedder or make_embedder(settings)))
        return search[0]

    app.state.search_service = search_service
    app.include_router(search_router(search_service))

    @app.get("/", response_class=HTMLResponse)
    def read_index(request: Request, page: int = Query(1, ge=1, le=10_000)) -> HTMLResponse:
        per_page = 50
        with sessions() as session:
            latest_day = session.scalar(select(func.max(DailyEntry.date)))
            daily = daily_items(session, latest_day) if latest_day else []
            papers = recent_papers(session, limit=per_page, offset=(page - 1) * per_page)
            total = count_papers(session)
        return templates.TemplateResponse(
            request,
            "index.html",
            {
                "daily": daily,
                "latest_day": latest_day,
                "papers": papers,
                "total": total,
                "page": page,
                "has_next": page * per_page < total,
            },
        )

    @app.get("/healthz")
    def read_health() -> JSONResponse:
        with sessions() as session:
            return JSONResponse({"status": "ok", "papers": count_papers(session)})

    return app
