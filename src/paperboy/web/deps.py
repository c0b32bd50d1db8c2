"""Typed dependencies routes declare in their signatures, as the FastAPI full-stack template does: the
database session of the request, the viewer (optional, required, admin), the search service and the
app's shared parts. A route says what it needs; it does not fetch it from a service locator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from paperboy.config import Settings
from paperboy.search.service import SearchService
from paperboy.web.context import AdminRequired, Viewer, WebContext, current_viewer, require_viewer, web


def _read_session(request: Request) -> Iterator[Session]:
    """A session for the request's reads (writes open a transaction of their own: `transaction`)."""
    with web(request).sessions() as session:
        yield session


def _admin(viewer: Annotated[Viewer, Depends(require_viewer)]) -> Viewer:
    if not viewer.is_admin:
        raise AdminRequired()
    return viewer


def _search(request: Request) -> SearchService:
    return web(request).search()


def _settings(request: Request) -> Settings:
    return web(request).settings


Shared = Annotated[WebContext, Depends(web)]
AppSettings = Annotated[Settings, Depends(_settings)]
ReadSession = Annotated[Session, Depends(_read_session)]
OptionalViewer = Annotated[Viewer | None, Depends(current_viewer)]
SignedIn = Annotated[Viewer, Depends(require_viewer)]
Admin = Annotated[Viewer, Depends(_admin)]
Search = Annotated[SearchService, Depends(_search)]
