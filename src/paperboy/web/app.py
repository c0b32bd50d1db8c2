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

TEMPLATES = Path(__file__).parent / "templates"


def create_app(settings: Settings) -> FastAPI:
    """Build the ASGI app for `settings`."""
    engine = engine_from_settings(settings)
    sessions = session_factory(engine)
    templates = Jinja2Templates(directory=str(TEMPLATES))
    app = FastAPI(title="Paperboy", version=__version__)
    app.state.settings = settings

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
