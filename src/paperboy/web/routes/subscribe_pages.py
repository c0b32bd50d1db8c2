"""The "get trending papers in your email inbox" box that every page carries."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.exc import IntegrityError

from paperboy.db.engine import transaction
from paperboy.digest.subscriptions import SubscriptionError, subscribe
from paperboy.web.context import check_csrf, current_viewer, rate_limit, render, web

router = APIRouter(include_in_schema=False)


@router.post(
    "/subscribe", dependencies=[Depends(check_csrf), Depends(rate_limit("auth"))], response_class=HTMLResponse
)
def post_subscribe(
    request: Request,
    email: Annotated[str, Form(max_length=400)] = "",
    frequency: Annotated[str, Form(max_length=20)] = "daily",
) -> HTMLResponse:
    viewer = current_viewer(request)
    try:
        with transaction(web(request).sessions) as session:
            outcome = subscribe(session, email, frequency, viewer.id if viewer else None)
    except SubscriptionError as exc:
        return render(
            request, "subscribed.html", {"error": str(exc), "email": email, "page_title": "Subscribe"}, 400
        )
    except IntegrityError:  # the same address subscribed at the same moment: that subscription stands
        outcome = None
    return render(
        request,
        "subscribed.html",
        {"error": None, "email": email.strip(), "outcome": outcome, "page_title": "Subscribe"},
    )
