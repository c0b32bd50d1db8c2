"""Submitting a paper to today's list by arXiv id or URL."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperboy.community.submissions import SubmissionError, SubmissionRules, submit_paper
from paperboy.db.models import User
from paperboy.links import paper_path
from paperboy.web.context import Viewer, check_csrf, rate_limit, render, require_viewer
from paperboy.web.deps import Shared
from paperboy.web.fields import FormText

router = APIRouter(include_in_schema=False)


@router.get("/submit", response_class=HTMLResponse)
def read_submit(
    request: Request,
    viewer: Annotated[Viewer, Depends(require_viewer)],
    paper: Annotated[str, Query(max_length=300)] = "",
) -> HTMLResponse:
    return render(request, "submit.html", {"value": paper, "error": None, "page_title": "Submit a paper"})


@router.post("/submit", dependencies=[Depends(check_csrf), Depends(rate_limit("write"))], response_model=None)
def post_submit(
    request: Request,
    shared: Shared,
    viewer: Annotated[Viewer, Depends(require_viewer)],
    paper: FormText = "",
) -> Response:
    shared = shared
    with shared.sessions() as session:
        user = session.get(User, viewer.id)
    try:
        result = submit_paper(
            shared.sessions, user, paper, shared.fetch_paper, SubmissionRules.of(shared.settings)
        )
    except SubmissionError as exc:
        context = {"value": paper, "error": str(exc), "page_title": "Submit a paper"}
        return render(request, "submit.html", context, 400)
    if result.added:
        return RedirectResponse(f"{paper_path(result.arxiv_id)}?notice=submitted", status_code=303)
    # Listed before: to that day's list, at the paper (a paper is listed once).
    target = f"/papers?date={result.date.isoformat()}&notice=already-submitted#paper-{quote(result.arxiv_id)}"
    return RedirectResponse(target, status_code=303)
