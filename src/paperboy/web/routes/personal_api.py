"""The personal API, with a personal token: recommendations (each item the Hugging Face paper object and
its reasons), saving, dismissing and following."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from paperboy.db.engine import transaction
from paperboy.db.models import User
from paperboy.db.repositories.library import (
    collections_of,
    default_collection,
    owned_collection,
    unsave_paper,
)
from paperboy.personal.recommender import MAX_LIMIT, Window, WindowError, recommend
from paperboy.personal.signals import SignalError, follow_author, save, set_paper_signal
from paperboy.web.context import ApiError, rate_limit
from paperboy.web.deps import Shared
from paperboy.web.hf_json import paper_json
from paperboy.web.openapi import errors
from paperboy.web.routes.api import api_user, paper_or_404

router = APIRouter(prefix="/api", tags=["personal"])
ApiUser = Annotated[User, Depends(api_user)]
_write = [Depends(rate_limit("write"))]


@router.get(
    "/recommendations", summary="Papers recommended for the token's owner", responses=errors(400, 401)
)
def list_recommendations(
    shared: Shared,
    user: ApiUser,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 20,
    since: Annotated[date | None, Query(description="First publication day, YYYY-MM-DD.")] = None,
    until: Annotated[date | None, Query(description="Last publication day, YYYY-MM-DD.")] = None,
) -> JSONResponse:
    with shared.sessions() as session:
        try:
            window = Window.of(session, since, until)
        except WindowError as exc:
            raise ApiError(400, str(exc), exc.parameter) from None
        attached = session.get(User, user.id)
        assert attached is not None
        result = recommend(
            session,
            attached,
            shared.search().embedder.name,
            window,
            limit,
            cache=shared.pools,
            profiles=shared.profiles,
        )
        items = [
            {
                "paper": paper_json(item.paper, item.totals),
                "reasons": [reason.json() for reason in item.reasons],
                "score": round(item.score, 4),
            }
            for item in result.items
        ]
    return JSONResponse(items, headers={"Cache-Control": "private, no-store"})


class SaveBody(BaseModel):
    collection: int | None = Field(
        None, ge=1, le=2**31 - 1, description="A collection id; the Reading list by default."
    )


@router.post(
    "/papers/{arxiv_id:path}/save", dependencies=_write, summary="Save a paper", responses=errors(401, 404)
)
def post_save(
    shared: Shared, arxiv_id: str, user: ApiUser, body: Annotated[SaveBody | None, Body()] = None
) -> JSONResponse:
    with transaction(shared.sessions) as session:
        paper = paper_or_404(session, arxiv_id)
        attached = session.get(User, user.id)
        assert attached is not None
        wanted = body.collection if body else None
        target = owned_collection(session, user.id, wanted)
        if target is None:
            raise ApiError(404, f"you have no collection {wanted}", "collection")
        collection = save(session, attached, paper, target)
        answer = {
            "id": paper.arxiv_id,
            "saved": True,
            "collection": {"id": collection.id, "name": collection.name},
        }
    return JSONResponse(answer)


@router.delete(
    "/papers/{arxiv_id:path}/save",
    dependencies=_write,
    summary="Remove a paper from the Reading list",
    responses=errors(401, 404),
)
def delete_save(shared: Shared, arxiv_id: str, user: ApiUser) -> JSONResponse:
    with transaction(shared.sessions) as session:
        paper = paper_or_404(session, arxiv_id)
        unsave_paper(session, default_collection(session, user.id), paper.id)
        return JSONResponse({"id": paper.arxiv_id, "saved": False})


@router.post(
    "/papers/{arxiv_id:path}/dismiss",
    dependencies=_write,
    summary="Not interested in a paper",
    responses=errors(401, 404),
)
def post_dismiss(shared: Shared, arxiv_id: str, user: ApiUser) -> JSONResponse:
    return _signal(shared, arxiv_id, user, "dismissed")


@router.delete(
    "/papers/{arxiv_id:path}/dismiss",
    dependencies=_write,
    summary="Undo a dismissal",
    responses=errors(401, 404),
)
def delete_dismiss(shared: Shared, arxiv_id: str, user: ApiUser) -> JSONResponse:
    return _signal(shared, arxiv_id, user, None)


@router.post(
    "/papers/{arxiv_id:path}/seed",
    dependencies=_write,
    summary="More papers like this one",
    responses=errors(401, 404),
)
def post_seed(shared: Shared, arxiv_id: str, user: ApiUser) -> JSONResponse:
    return _signal(shared, arxiv_id, user, "seed")


def _signal(shared: Shared, arxiv_id: str, user: User, kind: str | None) -> JSONResponse:
    with transaction(shared.sessions) as session:
        paper = paper_or_404(session, arxiv_id)
        attached = session.get(User, user.id)
        assert attached is not None
        set_paper_signal(session, attached, paper, kind)
        return JSONResponse({"id": paper.arxiv_id, "signal": kind})


@router.post(
    "/authors/{name:path}/follow", dependencies=_write, summary="Follow an author", responses=errors(401, 404)
)
def post_follow(shared: Shared, name: str, user: ApiUser) -> JSONResponse:
    return _follow(shared, name, user, True)


@router.delete(
    "/authors/{name:path}/follow",
    dependencies=_write,
    summary="Stop following an author",
    responses=errors(401, 404),
)
def delete_follow(shared: Shared, name: str, user: ApiUser) -> JSONResponse:
    return _follow(shared, name, user, False)


def _follow(shared: Shared, name: str, user: User, following: bool) -> JSONResponse:
    try:
        with transaction(shared.sessions) as session:
            followed = follow_author(session, user.id, name, following)
    except SignalError as exc:
        raise ApiError(404, str(exc), "name") from None
    return JSONResponse({"name": followed, "following": following})


@router.get("/collections", summary="The token owner's collections", responses=errors(401))
def list_collections(request: Request, shared: Shared, user: ApiUser) -> JSONResponse:
    with shared.sessions() as session:
        found = collections_of(session, user.id)
        data = [
            {
                "id": s.collection.id,
                "name": s.collection.name,
                "description": s.collection.description,
                "public": s.collection.is_public,
                "papers": s.papers,
            }
            for s in found
        ]
    return JSONResponse(data, headers={"Cache-Control": "private, no-store"})
