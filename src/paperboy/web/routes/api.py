"""The JSON API, mirroring the Hugging Face Papers API: daily papers, papers, indexing, upvotes.

Writes take a personal API token (`Authorization: Bearer pb_…`, from the account page). Every bad
parameter is answered with 400/422 and a JSON body naming it.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from paperboy.accounts.users import user_for_api_token
from paperboy.community.submissions import ArxivUnavailable, SubmissionError, SubmissionRules, submit_paper
from paperboy.community.votes import set_vote
from paperboy.db.engine import transaction
from paperboy.db.models import Paper, User
from paperboy.db.repositories.code import code_links
from paperboy.db.repositories.community import paper_totals, totals_of
from paperboy.db.repositories.papers import find_paper, papers_before
from paperboy.digest.mailer import DeliveryError
from paperboy.digest.subscriptions import SubscriptionError, SubscriptionRequest, Topics
from paperboy.feed.daily import period_items, recent_items, site_trending
from paperboy.feed.periods import PeriodError, parse_period
from paperboy.web.context import ApiError, base_url, rate_limit, web
from paperboy.web.deps import AppSettings, ReadSession, Shared
from paperboy.web.hf_json import daily_entry_json, paper_details_json, paper_json
from paperboy.web.openapi import errors

router = APIRouter(prefix="/api", tags=["papers"])


def api_user(request: Request, authorization: Annotated[str | None, Header()] = None) -> User:
    """The token's owner; 401 without a valid `Authorization: Bearer` token."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise ApiError(
            401, "this endpoint needs an API token: Authorization: Bearer <token>", "Authorization"
        )
    with web(request).sessions() as session:
        user = user_for_api_token(session, authorization[7:].strip())
    if user is None:
        raise ApiError(
            401, "the API token is not valid (create a new one on your account page)", "Authorization"
        )
    return user


@router.get("/daily_papers", summary="Daily papers (Hugging Face compatible)", responses=errors(400))
def list_daily_papers(
    request: Request,
    p: Annotated[int, Query(ge=0, le=10_000, description="Page number, from 0.")] = 0,
    limit: Annotated[int, Query(ge=1, le=100, description="Entries per page.")] = 50,
    date: Annotated[str | None, Query(description="A day: YYYY-MM-DD.", max_length=20)] = None,
    week: Annotated[str | None, Query(description="An ISO week: YYYY-Www.", max_length=20)] = None,
    month: Annotated[str | None, Query(description="A month: YYYY-MM.", max_length=20)] = None,
    submitter: Annotated[
        str | None,
        # PostgreSQL text cannot hold NUL: refuse it here instead of failing in the query.
        Query(description="Only entries this user submitted.", max_length=100, pattern=r"^[^\x00]*$"),
    ] = None,
    sort: Annotated[
        Literal["publishedAt", "trending"] | None,
        Query(
            description="publishedAt: newest submission first; trending: upvotes with time decay. "
            "Default: most upvoted first within a period, newest first without one."
        ),
    ] = None,
    *,
    session: ReadSession,
    settings: AppSettings,
) -> JSONResponse:
    try:
        period = parse_period(date, week, month)
    except PeriodError as exc:
        raise ApiError(400, str(exc), exc.parameter) from None
    gravity = settings.trending_gravity
    if period is None and sort == "trending":
        ranked = site_trending(session, settings, submitter=submitter)
        items = ranked[p * limit : (p + 1) * limit]
    elif period is None:
        items = recent_items(session, p * limit, limit, submitter)
    else:
        ranked = period_items(
            session, period, sort or "upvotes", submitter, gravity, code_boost=settings.trending_code_boost
        )
        items = ranked[p * limit : (p + 1) * limit]
    base = base_url(request)
    return JSONResponse([daily_entry_json(item, base) for item in items])


@router.get("/papers", summary="All papers, newest first, by cursor", responses=errors(400))
def list_papers(
    request: Request,
    cursor: Annotated[
        str | None, Query(description="The `next` cursor of the previous page.", max_length=200)
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    *,
    session: ReadSession,
) -> JSONResponse:
    after = _decode_cursor(cursor) if cursor else None
    papers = papers_before(session, after, limit + 1)
    more = len(papers) > limit
    papers = papers[:limit]
    totals = paper_totals(session, [paper.id for paper in papers])
    code = code_links(session, papers)
    body = [paper_json(paper, totals[paper.id], code=code[paper.id]) for paper in papers]
    headers = {}
    if more and papers:
        next_cursor = _encode_cursor(papers[-1].id)
        headers["Link"] = f'<{base_url(request)}/api/papers?cursor={next_cursor}&limit={limit}>; rel="next"'
        headers["X-Next-Cursor"] = next_cursor
    return JSONResponse(body, headers=headers)


def _encode_cursor(paper_id: int) -> str:
    return base64.urlsafe_b64encode(f"p:{paper_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, value = text.split(":", 1)
        if kind != "p" or not value.isdigit() or not 0 < int(value) < 2**31:
            raise ValueError(text)  # ids are 32-bit: a larger one fails in the database
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, f"cursor {cursor!r} is not a cursor this API gave out", "cursor") from None


def paper_or_404(session: Session, arxiv_id: str) -> Paper:
    """The paper, in any form of its id; an API 404 naming the id otherwise."""
    paper = find_paper(session, arxiv_id)
    if paper is None:
        raise ApiError(404, f"no paper {arxiv_id!r}", "id")
    return paper


@router.post(
    "/papers/{arxiv_id:path}/upvote",
    dependencies=[Depends(rate_limit("write"))],
    summary="Upvote a paper",
    responses=errors(401, 404, 429),
)
def post_upvote(request: Request, arxiv_id: str, user: Annotated[User, Depends(api_user)]) -> JSONResponse:
    return _vote(request, arxiv_id, user, True)


@router.delete(
    "/papers/{arxiv_id:path}/upvote",
    dependencies=[Depends(rate_limit("write"))],
    summary="Withdraw an upvote",
    responses=errors(401, 404, 429),
)
def delete_upvote(request: Request, arxiv_id: str, user: Annotated[User, Depends(api_user)]) -> JSONResponse:
    return _vote(request, arxiv_id, user, False)


def _vote(request: Request, arxiv_id: str, user: User, voted: bool) -> JSONResponse:
    with transaction(web(request).sessions) as session:
        paper = paper_or_404(session, arxiv_id)
        attached = session.get(User, user.id)
        assert attached is not None
        state = set_vote(session, attached, paper, voted)
        session.flush()
        upvotes = totals_of(session, paper.id).upvotes
    return JSONResponse({"id": arxiv_id, "upvoted": state, "upvotes": upvotes})


@router.get("/papers/{arxiv_id:path}", summary="One paper", responses=errors(404))
def read_paper(
    request: Request, arxiv_id: Annotated[str, Path(max_length=100)], session: ReadSession
) -> JSONResponse:
    paper = paper_or_404(session, arxiv_id)
    code = code_links(session, [paper])[paper.id]
    return JSONResponse(paper_details_json(paper, totals_of(session, paper.id), code, base_url(request)))


class IndexRequest(BaseModel):
    arxivId: str = Field(max_length=300, description="An arXiv id or abs/pdf URL.")


@router.post(
    "/papers/index",
    dependencies=[Depends(rate_limit("write"))],
    summary="Add a paper (and submit it today)",
    responses=errors(400, 401, 429, 503),
)
def post_index(
    request: Request,
    shared: Shared,
    body: Annotated[IndexRequest, Body()],
    user: Annotated[User, Depends(api_user)],
) -> JSONResponse:
    shared = shared
    try:
        result = submit_paper(
            shared.sessions, user, body.arxivId, shared.fetch_paper, SubmissionRules.of(shared.settings)
        )
    except ArxivUnavailable as exc:
        raise ApiError(502, str(exc), "arxivId") from None
    except SubmissionError as exc:
        raise ApiError(400, str(exc), "arxivId") from None
    with shared.sessions() as session:
        paper = paper_or_404(session, result.arxiv_id)
        data = paper_json(paper, totals_of(session, paper.id))
    return JSONResponse(data, status_code=201 if result.added else 200)


class SubscriptionBody(BaseModel):
    """A digest subscription; the address gets a confirmation link before anything else."""

    email: str = Field(max_length=320)
    frequency: Literal["daily", "weekly"] = "daily"
    sendHour: int = Field(7, ge=0, le=23)
    timezone: str = Field("UTC", max_length=64)
    maxPapers: int = Field(10, ge=1, le=100)
    categories: list[str] = Field(default_factory=list, max_length=20)
    keywords: list[str] = Field(default_factory=list, max_length=20)
    authors: list[str] = Field(default_factory=list, max_length=20)
    excludedKeywords: list[str] = Field(default_factory=list, max_length=20)


_SUBSCRIPTION_FIELDS = {
    "send_hour": "sendHour",
    "max_papers": "maxPapers",
    "excluded_keywords": "excludedKeywords",
}


@router.post(
    "/subscriptions",
    dependencies=[Depends(rate_limit("auth"))],
    summary="Subscribe to the email digest (double opt-in)",
    responses=errors(400, 429, 503),
    status_code=202,
)
def post_subscription(
    request: Request, shared: Shared, body: Annotated[SubscriptionBody, Body()]
) -> JSONResponse:
    topics = Topics(
        tuple(body.categories), tuple(body.keywords), tuple(body.authors), tuple(body.excludedKeywords)
    )
    wanted = SubscriptionRequest(
        body.email, body.frequency, body.sendHour, body.timezone, body.maxPapers, topics
    )
    try:
        outcome = shared.digests.request(wanted)
    except SubscriptionError as exc:
        raise ApiError(400, str(exc), _SUBSCRIPTION_FIELDS.get(exc.field, exc.field)) from None
    except DeliveryError as exc:
        raise ApiError(
            503, f"the confirmation email could not be sent now; try again later ({exc})"
        ) from None
    # "pending" whatever the address's state: the API must not tell who is subscribed (the owner of an
    # address that already is gets an email instead).
    return JSONResponse(
        {"email": outcome.email, "frequency": body.frequency, "status": "pending"}, status_code=202
    )
