"""Recommendations on the web: the "For you" page, the interests page that shows and edits what drives
them, the private Atom feed at a secret address, and deleting an account with everything in it."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperboy.accounts.passwords import verify_password
from paperboy.community.votes import set_vote
from paperboy.db.engine import transaction
from paperboy.db.models import User
from paperboy.db.repositories.authors import follows
from paperboy.db.repositories.library import (
    collections_of,
    delete_account,
    papers_in_order,
    preferences,
    saved_papers,
    voted_papers,
)
from paperboy.db.repositories.papers import find_paper
from paperboy.personal import private_feed
from paperboy.personal.profile import load_profile
from paperboy.personal.recommender import Window, WindowError, recommend
from paperboy.personal.signals import (
    SignalError,
    reset,
    set_paper_signal,
    switch_interest_off,
    switch_interest_on,
    unfollow,
)
from paperboy.taxonomy import canonical_category
from paperboy.web.context import base_url, check_csrf, problem_page, rate_limit, render
from paperboy.web.deps import ReadSession, Shared, SignedIn
from paperboy.web.fields import FormText, RowId
from paperboy.web.routes.feeds import FeedEntry, render_feed

router = APIRouter(include_in_schema=False)
_write = [Depends(check_csrf), Depends(rate_limit("write"))]
DateQuery = Annotated[date | None, Query(description="YYYY-MM-DD")]


@router.get("/for-you", response_class=HTMLResponse)
def read_for_you(
    request: Request,
    viewer: SignedIn,
    shared: Shared,
    session: ReadSession,
    since: DateQuery = None,
    until: DateQuery = None,
) -> HTMLResponse:
    try:
        window = Window.of(session, since, until)
    except WindowError as exc:
        return problem_page(request, "Dates not understood", str(exc), 400, "/for-you")
    user = session.get(User, viewer.id)
    assert user is not None
    model = shared.search().embedder.name
    result = recommend(session, user, model, window, limit=30, cache=shared.pools, profiles=shared.profiles)
    status = shared.search().status()
    context = {
        "result": result,
        "window": window,
        "index_status": status,
        "page_title": "For you",
    }
    return render(request, "for_you.html", context)


@router.get("/interests", response_class=HTMLResponse)
def read_interests(request: Request, viewer: SignedIn, shared: Shared) -> HTMLResponse:
    with transaction(shared.sessions) as session:  # the private feed's key is made on first view
        user = session.get(User, viewer.id)
        assert user is not None
        model = shared.search().embedder.name
        profile = load_profile(session, user, model)
        dismissed = papers_in_order(session, list(profile.dismissed))
        votes = papers_in_order(session, list(voted_papers(session, user.id)))
        saved = papers_in_order(session, list(saved_papers(session, user.id)))
        prefs = preferences(session, user.id)
        context = {
            "profile": profile,
            "dismissed": dismissed,
            "votes": votes,
            "saved": saved,
            "followed": follows(session, user.id),
            "categories": list(prefs.categories) if prefs else [],
            "collections": collections_of(session, user.id),
            "feed_url": base_url(request) + private_feed.feed_path(session, shared.key, user.id),
            "page_title": "Your interests",
        }
    return render(request, "interests.html", context)


@router.post("/interests/off", dependencies=_write, response_model=None)
def post_interest_off(
    request: Request, viewer: SignedIn, shared: Shared, number: Annotated[int, Form(ge=1, le=100)] = 1
) -> Response:
    try:
        with transaction(shared.sessions) as session:
            user = session.get(User, viewer.id)
            assert user is not None
            switch_interest_off(session, user, shared.search().embedder.name, number)
    except SignalError as exc:
        return problem_page(request, "Interest unchanged", str(exc), 400, "/interests")
    return RedirectResponse("/interests?notice=interest-off", status_code=303)


@router.post("/interests/on/{muted_id}", dependencies=_write, response_model=None)
def post_interest_on(request: Request, muted_id: RowId, viewer: SignedIn, shared: Shared) -> Response:
    try:
        with transaction(shared.sessions) as session:
            user = session.get(User, viewer.id)
            assert user is not None
            switch_interest_on(session, user, muted_id)
    except SignalError as exc:
        return problem_page(request, "Interest unchanged", str(exc), 400, "/interests")
    return RedirectResponse("/interests?notice=interest-on", status_code=303)


@router.post("/interests/remove", dependencies=_write, response_model=None)
def post_remove_signal(
    request: Request,
    viewer: SignedIn,
    shared: Shared,
    kind: Annotated[str, Form(pattern="^(upvote|seed|dismissed|follow)$")],
    target: FormText = "",
) -> Response:
    """Remove one signal: an upvote, a seed, a dismissal or a followed author."""
    with transaction(shared.sessions) as session:
        user = session.get(User, viewer.id)
        assert user is not None
        if kind == "follow":
            unfollow(session, user, target)
        else:
            paper = find_paper(session, target)
            if paper is None:
                return problem_page(
                    request, "Paper not found", f"No paper {target[:100]} in this library.", 404, "/interests"
                )
            if kind == "upvote":
                set_vote(session, user, paper, False)
            else:
                set_paper_signal(session, user, paper, None)
    return RedirectResponse("/interests?notice=signal-cleared", status_code=303)


@router.post("/interests/categories", dependencies=_write, response_model=None)
def post_categories(
    request: Request, viewer: SignedIn, shared: Shared, categories: FormText = ""
) -> Response:
    chosen = []
    for name in categories.replace(",", " ").split():
        category = canonical_category(name)
        if category is None:
            return problem_page(
                request,
                "Categories not saved",
                f"{name[:40]!r} is not an arXiv category (for example cs.CL or astro-ph.GA).",
                400,
                "/interests",
            )
        chosen.append(category)
    with transaction(shared.sessions) as session:
        prefs = preferences(session, viewer.id, create=True)
        assert prefs is not None
        prefs.categories = list(dict.fromkeys(chosen))[:50]
    return RedirectResponse("/interests?notice=categories-saved", status_code=303)


@router.post("/interests/reset", dependencies=_write, response_model=None)
def post_reset(viewer: SignedIn, shared: Shared) -> Response:
    with transaction(shared.sessions) as session:
        user = session.get(User, viewer.id)
        assert user is not None
        reset(session, user)
    return RedirectResponse("/interests?notice=interests-reset", status_code=303)


@router.post("/interests/feed", dependencies=_write, response_model=None)
def post_rotate_feed(viewer: SignedIn, shared: Shared) -> Response:
    with transaction(shared.sessions) as session:
        private_feed.rotate(session, viewer.id)
    return RedirectResponse("/interests?notice=feed-rotated#feed", status_code=303)


@router.get("/feeds/for-you/{user_id}/{token}.atom", response_model=None)
def read_private_feed(
    request: Request,
    shared: Shared,
    user_id: RowId,
    token: Annotated[str, Path(max_length=64, pattern="^[0-9a-f]+$")],
) -> Response:
    with shared.sessions() as session:
        user = session.get(User, user_id)
        if user is None or not private_feed.check(session, shared.key, user_id, token):
            return Response(
                "No such feed (its address may have been replaced).\n", 404, media_type="text/plain"
            )
        result = recommend(
            session,
            user,
            shared.search().embedder.name,
            limit=30,
            cache=shared.pools,
            profiles=shared.profiles,
        )
        entries = [
            FeedEntry(
                item.paper.arxiv_id,
                item.paper.title,
                " · ".join(r.text for r in item.reasons) + "\n\n" + item.paper.abstract,
                list(item.paper.authors),
                item.paper.published_at or item.paper.created_at,
            )
            for item in result.items
        ]
    base = base_url(request)
    body = render_feed(
        "atom", f"For {user.username}", f"{base}{request.url.path}", f"{base}/for-you", base, entries
    )
    return Response(
        body,
        media_type="application/atom+xml; charset=utf-8",
        headers={"Cache-Control": "private, max-age=300", "X-Robots-Tag": "noindex"},
    )


@router.post("/account/delete", dependencies=_write, response_model=None)
def post_delete_account(
    request: Request, viewer: SignedIn, shared: Shared, password: FormText = "", confirm: FormText = ""
) -> Response:
    """Delete the account and everything in it: library, notes, signals, votes, comments, subscriptions."""
    with transaction(shared.sessions) as session:
        user = session.get(User, viewer.id)
        assert user is not None
        if (
            confirm != user.username
            or user.password_hash is None
            or not verify_password(user.password_hash, password)
        ):
            return problem_page(
                request,
                "Account not deleted",
                "Type your username and your password to delete the account.",
                400,
                "/account#delete",
            )
        delete_account(session, user)
    response = RedirectResponse("/?notice=account-deleted", status_code=303)
    response.delete_cookie("pb_session")
    return response
