"""Authors as people: an author's page (papers, co-authors, follow), claiming authorship of a paper and
the admin's decisions, and a user's profile (claimed papers, submissions)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperboy.authors import author_path, name_key
from paperboy.community.authorship import ClaimError, claim_authorship, decide_claim
from paperboy.db.engine import transaction
from paperboy.db.models import User
from paperboy.db.repositories.authors import (
    author_profile,
    badges,
    claimed_papers,
    is_following,
    pending_claims,
    submissions_of,
    user_by_username,
)
from paperboy.db.repositories.library import collections_of
from paperboy.db.repositories.papers import get_paper
from paperboy.links import paper_path
from paperboy.personal.signals import SignalError, follow_author
from paperboy.web.context import check_csrf, problem_page, rate_limit, render
from paperboy.web.deps import Admin, OptionalViewer, ReadSession, Shared, SignedIn
from paperboy.web.fields import FormText, RowId

router = APIRouter(include_in_schema=False)
_write = [Depends(check_csrf), Depends(rate_limit("write"))]


@router.get("/authors/{name:path}", response_class=HTMLResponse)
def read_author(request: Request, name: str, session: ReadSession, viewer: OptionalViewer) -> HTMLResponse:
    key = name_key(name)
    profile = author_profile(session, key) if key else None
    if profile is None:
        return problem_page(request, "Author not found", f"No paper in this library is by {name[:200]}.", 404)
    paper_badges = badges(session, profile.papers)
    known = next((b for per in paper_badges.values() if (b := per.get(key))), None)
    context = {
        "profile": profile,
        "badge": known,
        "following": bool(viewer and is_following(session, viewer.id, key)),
        "page_title": profile.name,
    }
    return render(request, "author.html", context)


@router.post("/authors/{name:path}/follow", dependencies=_write, response_model=None)
def post_follow(
    request: Request,
    name: str,
    viewer: SignedIn,
    shared: Shared,
    following: Annotated[bool, Form()] = True,
) -> Response:
    try:
        with transaction(shared.sessions) as session:
            followed = follow_author(session, viewer.id, name, following)
    except SignalError:
        return problem_page(request, "Author not found", f"No paper in this library is by {name[:200]}.", 404)
    notice = "author-followed" if following else "author-unfollowed"
    return RedirectResponse(f"{author_path(followed)}?notice={notice}", status_code=303)


@router.post("/papers/{arxiv_id:path}/claim", dependencies=_write, response_model=None)
def post_claim(
    request: Request, arxiv_id: str, viewer: SignedIn, shared: Shared, author_name: FormText = ""
) -> Response:
    try:
        with transaction(shared.sessions) as session:
            paper = get_paper(session, arxiv_id)
            user = session.get(User, viewer.id)
            if paper is None or user is None:
                return problem_page(request, "Paper not found", f"No paper {arxiv_id} in this library.", 404)
            claim_authorship(session, user, paper, author_name)
    except ClaimError as exc:
        return problem_page(request, "Claim not saved", str(exc), 400, paper_path(arxiv_id))
    return RedirectResponse(f"{paper_path(arxiv_id)}?notice=claim-sent#authors", status_code=303)


@router.get("/admin/claims", response_class=HTMLResponse)
def read_claims(request: Request, admin: Admin, session: ReadSession) -> HTMLResponse:
    context = {"claims": pending_claims(session), "page_title": "Authorship claims"}
    return render(request, "admin_claims.html", context)


@router.post("/admin/claims/{claim_id}", dependencies=_write, response_model=None)
def post_claim_decision(
    request: Request,
    claim_id: RowId,
    admin: Admin,
    shared: Shared,
    decision: Annotated[str, Form(pattern="^(approve|reject)$")] = "approve",
) -> Response:
    try:
        with transaction(shared.sessions) as session:
            user = session.get(User, admin.id)
            assert user is not None
            decide_claim(session, user, claim_id, decision == "approve")
    except ClaimError as exc:
        return problem_page(request, "Claim unchanged", str(exc), 400, "/admin/claims")
    return RedirectResponse("/admin/claims?notice=claim-decided", status_code=303)


@router.get("/users/{username}", response_class=HTMLResponse)
def read_profile(request: Request, username: str, session: ReadSession) -> HTMLResponse:
    user = user_by_username(session, username)
    if user is None:
        return problem_page(request, "No such user", f"No user is called {username[:64]}.", 404)
    context = {
        "user": user,
        "claimed": claimed_papers(session, user.id),
        "submissions": submissions_of(session, user.id),
        "collections": collections_of(session, user.id, public_only=True),
        "page_title": user.display_name or user.username,
    }
    return render(request, "profile.html", context)
