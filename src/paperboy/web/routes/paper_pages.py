"""A paper's page, its upvote button and comment thread, and the admin's moderation actions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from markupsafe import escape
from sqlalchemy.orm import Session

from paperboy.community.comments import (
    CommentError,
    add_comment,
    delete_comment,
    edit_comment,
    list_comments,
    set_comment_hidden,
)
from paperboy.community.votes import has_voted, toggle_vote
from paperboy.db.engine import transaction
from paperboy.db.models import Comment, DailyEntry, Paper, User
from paperboy.db.repositories.authors import badges, claim_of
from paperboy.db.repositories.code import code_links
from paperboy.db.repositories.community import totals_of
from paperboy.db.repositories.library import collections_of, note_of, read_marks, saved_in, signal_of
from paperboy.db.repositories.papers import find_paper, get_paper
from paperboy.links import paper_path
from paperboy.search.service import Hit
from paperboy.search.status import IndexStatus
from paperboy.web.context import (
    Viewer,
    base_url,
    check_csrf,
    current_viewer,
    rate_limit,
    render,
    require_viewer,
    safe_next,
    web,
)
from paperboy.web.deps import Shared
from paperboy.web.fields import LongFormText, OptionalFormRowId, RowId
from paperboy.web.paper_markdown import MEDIA_TYPE as MARKDOWN
from paperboy.web.paper_markdown import paper_markdown

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)
_write = [Depends(check_csrf), Depends(rate_limit("write"))]


def _not_found(request: Request, arxiv_id: str) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {
            "title": "Paper not found",
            "message": f"No paper {arxiv_id} in this library. You can submit it from arXiv.",
            "submit_id": arxiv_id,
        },
        404,
    )


def _similar(request: Request, paper: Paper) -> tuple[list[Hit] | None, IndexStatus | None]:
    """Neighbours from the vector index, or None (with what the index covers) while the paper has no
    vector yet; the page still renders when the index cannot be read."""
    try:
        service = web(request).search()
        similar = service.similar(paper.id, k=6)
        return similar, service.status() if similar is None else None
    except Exception as exc:  # a missing or rebuilding index must not break the paper page
        log.warning("similar papers unavailable for %s: %s", paper.arxiv_id, exc)
        return [], None


@router.get("/papers/{arxiv_id:path}/card.svg")
def read_card(request: Request, shared: Shared, arxiv_id: str) -> Response:
    """A social card image (the API's `thumbnail`): the title on a plain background, no remote assets."""
    with shared.sessions() as session:
        paper = get_paper(session, arxiv_id)
    if paper is None:
        return Response("no such paper", status_code=404, media_type="text/plain")
    words, lines, line = paper.title.split(), [], ""
    for word in words:
        if len(line) + len(word) + 1 > 38 and line:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    shown = lines[:5]
    if len(lines) > 5:
        shown[-1] += " …"
    text = "".join(
        f'<text x="60" y="{150 + 62 * i}" font-size="46" font-family="system-ui,sans-serif" fill="#111">{escape(t)}</text>'
        for i, t in enumerate(shown)
    )
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="630" viewBox="0 0 1200 630">'
        '<rect width="1200" height="630" fill="#fdf6e3"/>'
        '<text x="60" y="80" font-size="30" font-family="system-ui,sans-serif" fill="#b45309">Paperboy · arXiv '
        f"{escape(paper.arxiv_id)}</text>{text}</svg>"
    )
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})


@router.get("/papers/{arxiv_id:path}.md", response_model=None)
def read_paper_markdown(request: Request, shared: Shared, arxiv_id: str) -> Response:
    """The paper as Markdown (what `hf papers read` and `HfApi.read_paper` fetch)."""
    with shared.sessions() as session:
        paper = find_paper(session, arxiv_id)
        if paper is None:
            return Response(f"No paper {arxiv_id} in this library.\n", 404, media_type="text/plain")
        if paper.arxiv_id != arxiv_id:
            return RedirectResponse(f"{paper_path(paper.arxiv_id)}.md", status_code=301)
        text = paper_markdown(paper, totals_of(session, paper.id), base_url(request))
    return Response(text, media_type=MARKDOWN, headers={"Vary": "Accept"})


def _library_state(session: Session, user_id: int, paper_id: int) -> dict[str, Any]:
    """The viewer's own marks on the paper (collections, note, read, signal), for its page only."""
    return {
        "collections": collections_of(session, user_id),
        "saved_in": saved_in(session, user_id, paper_id),
        "note": note_of(session, user_id, paper_id),
        "is_read": bool(read_marks(session, user_id, [paper_id])),
        "signal": signal_of(session, user_id, paper_id),
    }


def _wants_markdown(request: Request) -> bool:
    return "text/markdown" in request.headers.get("accept", "")


@router.get("/papers/{arxiv_id:path}", response_class=HTMLResponse, response_model=None)
def read_paper(request: Request, shared: Shared, arxiv_id: str) -> Response:
    if _wants_markdown(request):  # content negotiation: the same address, as Markdown
        return read_paper_markdown(request, shared, arxiv_id)
    viewer = current_viewer(request)
    with shared.sessions() as session:
        paper = find_paper(session, arxiv_id)
        if paper is None:
            return _not_found(request, arxiv_id)
        if paper.arxiv_id != arxiv_id:  # 2410.17243v1 or an arXiv URL: one address per paper
            return RedirectResponse(paper_path(paper.arxiv_id), status_code=301)
        totals = totals_of(session, paper.id)
        voted = has_voted(session, viewer.id if viewer else None, paper)
        comments = list_comments(session, paper, include_hidden=bool(viewer and viewer.is_admin))
        versions = [(v.version, v.submitted_at) for v in paper.versions]
        code = code_links(session, [paper])[paper.id]
        author_badges = badges(session, [paper])[paper.id]
        my_claim = claim_of(session, viewer.id, paper.id) if viewer else None
        library = _library_state(session, viewer.id, paper.id) if viewer else {}
    similar, index_status = _similar(request, paper)
    page = render(
        request,
        "paper.html",
        {
            "paper": paper,
            "upvotes": totals.upvotes,
            "totals": totals,
            "voted": voted,
            "comments": comments,
            "versions": versions,
            "similar": similar,
            "index_status": index_status,
            "code": code,
            "badges": author_badges,
            "my_claim": my_claim,
            **library,
            "editing": request.query_params.get("edit"),
            "replying": request.query_params.get("reply"),
            "page_title": paper.title,
        },
    )
    page.headers.append("Vary", "Accept")  # the same address serves Markdown to who asks for it
    return page


def _load_paper(session: Session, arxiv_id: str) -> Paper | None:
    return get_paper(session, arxiv_id)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


@router.post("/papers/{arxiv_id:path}/upvote", dependencies=_write, response_model=None)
def post_upvote(
    request: Request, shared: Shared, arxiv_id: str, viewer: Annotated[Viewer, Depends(require_viewer)]
) -> Response:
    with transaction(shared.sessions) as session:
        paper = _load_paper(session, arxiv_id)
        user = session.get(User, viewer.id)
        if paper is None or user is None:
            return _not_found(request, arxiv_id)
        voted = toggle_vote(session, user, paper)
        session.flush()
        upvotes = totals_of(session, paper.id).upvotes
    if _wants_json(request):
        return JSONResponse({"upvoted": voted, "upvotes": upvotes})
    return RedirectResponse(_same_site_referer(request) or paper_path(arxiv_id), status_code=303)


def _same_site_referer(request: Request) -> str | None:
    """The page the vote came from, when it is on this site (never a redirect to another one)."""
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc != request.url.netloc:
        return None
    target = referer.path + (f"?{referer.query}" if referer.query else "")
    return safe_next(target) if target else None


def _comment_error(request: Request, arxiv_id: str, message: str) -> HTMLResponse:
    return render(
        request,
        "error.html",
        {"title": "Comment not saved", "message": message, "back": paper_path(arxiv_id)},
        400,
    )


@router.post("/papers/{arxiv_id:path}/comments", dependencies=_write, response_model=None)
def post_comment(
    request: Request,
    shared: Shared,
    arxiv_id: str,
    viewer: Annotated[Viewer, Depends(require_viewer)],
    body: LongFormText = "",
    parent_id: OptionalFormRowId = None,
) -> Response:
    try:
        with transaction(shared.sessions) as session:
            paper = _load_paper(session, arxiv_id)
            user = session.get(User, viewer.id)
            if paper is None or user is None:
                return _not_found(request, arxiv_id)
            comment = add_comment(session, user, paper, body, parent_id)
            session.flush()
            anchor = comment.id
    except CommentError as exc:
        return _comment_error(request, arxiv_id, str(exc))
    return RedirectResponse(f"{paper_path(arxiv_id)}?notice=comment-saved#comment-{anchor}", status_code=303)


def _comment_paper_id(session: Session, comment_id: int) -> str:
    comment = session.get(Comment, comment_id)
    paper = session.get(Paper, comment.paper_id) if comment else None
    return paper.arxiv_id if paper else ""


def _change_comment(
    request: Request,
    viewer: Viewer,
    comment_id: RowId,
    change: Callable[[Session, User], object],
    failure: str,
    target: str,
) -> Response:
    """Apply one comment change as the viewer; back to the paper (`target` formats `{paper}`, its path)."""
    try:
        with transaction(web(request).sessions) as session:
            user = session.get(User, viewer.id)
            assert user is not None
            change(session, user)
            arxiv_id = _comment_paper_id(session, comment_id)
    except CommentError as exc:
        return render(request, "error.html", {"title": failure, "message": str(exc)}, 400)
    return RedirectResponse(target.format(paper=paper_path(arxiv_id)), status_code=303)


@router.post("/comments/{comment_id}/edit", dependencies=_write, response_model=None)
def post_comment_edit(
    request: Request,
    comment_id: RowId,
    viewer: Annotated[Viewer, Depends(require_viewer)],
    body: LongFormText = "",
) -> Response:
    return _change_comment(
        request,
        viewer,
        comment_id,
        lambda session, user: edit_comment(session, user, comment_id, body),
        "Comment not saved",
        f"{{paper}}?notice=comment-saved#comment-{comment_id}",
    )


@router.post("/comments/{comment_id}/delete", dependencies=_write, response_model=None)
def post_comment_delete(
    request: Request, comment_id: RowId, viewer: Annotated[Viewer, Depends(require_viewer)]
) -> Response:
    return _change_comment(
        request,
        viewer,
        comment_id,
        lambda session, user: delete_comment(session, user, comment_id),
        "Comment not deleted",
        "{paper}?notice=comment-deleted#comments",
    )


def _forbidden(request: Request) -> HTMLResponse:
    return render(
        request, "error.html", {"title": "Not allowed", "message": "Only an admin can do that."}, 403
    )


@router.post("/comments/{comment_id}/hide", dependencies=_write, response_model=None)
def post_comment_hide(
    request: Request,
    comment_id: RowId,
    viewer: Annotated[Viewer, Depends(require_viewer)],
    hidden: Annotated[bool, Form()] = True,
) -> Response:
    if not viewer.is_admin:
        return _forbidden(request)
    return _change_comment(
        request,
        viewer,
        comment_id,
        lambda session, admin: set_comment_hidden(session, admin, comment_id, hidden),
        "Comment unchanged",
        f"{{paper}}#comment-{comment_id}",
    )


@router.post("/daily/{entry_id}/remove", dependencies=_write, response_model=None)
def post_remove_entry(
    request: Request, shared: Shared, entry_id: RowId, viewer: Annotated[Viewer, Depends(require_viewer)]
) -> Response:
    if not viewer.is_admin:
        return _forbidden(request)
    with transaction(shared.sessions) as session:
        entry = session.get(DailyEntry, entry_id)
        if entry is None:
            return render(
                request, "error.html", {"title": "Not found", "message": f"No daily entry {entry_id}."}, 404
            )
        entry.hidden = True
        day = entry.date
    return RedirectResponse(f"/papers?date={day.isoformat()}&notice=entry-removed", status_code=303)
