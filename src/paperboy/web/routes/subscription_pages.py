"""Digest subscriptions on the site: the subscribe box and page, the emailed confirm, preferences,
unsubscribe (one-click, RFC 8058) and preview links, and an admin preview by address."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, field_validator

from paperboy.digest.mailer import DeliveryError
from paperboy.digest.subscriptions import (
    FREQUENCIES,
    SubscriptionError,
    SubscriptionRequest,
    Topics,
    topics_of,
)
from paperboy.signing import TokenError
from paperboy.web.context import Viewer, check_csrf, current_viewer, rate_limit, render, require_viewer
from paperboy.web.deps import Shared
from paperboy.web.fields import storable

router = APIRouter(include_in_schema=False)
Token = Annotated[str, Query(max_length=1000)]
PREVIEW_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
)


def split_list(text: str) -> tuple[str, ...]:
    """Comma- or newline-separated form values (keywords may contain spaces)."""
    return tuple(part.strip() for part in re.split(r"[,\n]", text) if part.strip())


def _int(value: str, default: int) -> int:
    """A small whole number as typed (ASCII digits only: "²" is a digit to str.isdigit, not to int)."""
    return int(value) if _SMALL_INTEGER.match(value.strip()) else default


_SMALL_INTEGER = re.compile(r"^-?[0-9]{1,6}$")


class TopicsForm(BaseModel):
    """The schedule and topic fields shared by the subscribe and preferences forms (kept as typed)."""

    @field_validator("*")
    @classmethod
    def _storable(cls, value: object) -> object:
        return storable(value) if isinstance(value, str) else value

    send_hour: str = Field("", max_length=10)
    timezone: str = Field("", max_length=100)
    max_papers: str = Field("", max_length=10)
    categories: str = Field("", max_length=4000)
    keywords: str = Field("", max_length=4000)
    authors: str = Field("", max_length=4000)
    excluded_keywords: str = Field("", max_length=4000)

    def request(self, email: str, frequency: str) -> SubscriptionRequest:
        return SubscriptionRequest(
            email=email,
            frequency=frequency,
            send_hour=_int(self.send_hour, -1) if self.send_hour.strip() else 7,
            timezone=self.timezone.strip() or "UTC",
            max_papers=_int(self.max_papers, 0) if self.max_papers.strip() else 10,
            topics=Topics(
                split_list(self.categories),
                split_list(self.keywords),
                split_list(self.authors),
                split_list(self.excluded_keywords),
            ),
        )


class SubscribeForm(TopicsForm):
    email: str = Field("", max_length=400)
    frequency: str = Field("daily", max_length=20)


def _form_page(
    request: Request, values: dict[str, str], error: SubscriptionError | None, status: int = 200
) -> HTMLResponse:
    context = {
        "values": values,
        "error": error,
        "frequencies": FREQUENCIES,
        "page_title": "Get papers in your inbox",
    }
    return render(request, "subscribe.html", context, status)


@router.get("/subscribe", response_class=HTMLResponse)
def read_subscribe(request: Request, email: Annotated[str, Query(max_length=320)] = "") -> HTMLResponse:
    viewer = current_viewer(request)
    return _form_page(request, {"email": email or (viewer.email if viewer else "")}, None)


@router.post(
    "/subscribe", dependencies=[Depends(check_csrf), Depends(rate_limit("auth"))], response_class=HTMLResponse
)
def post_subscribe(request: Request, shared: Shared, form: Annotated[SubscribeForm, Form()]) -> HTMLResponse:
    values = form.model_dump()
    viewer = current_viewer(request)
    try:
        outcome = shared.digests.request(
            form.request(form.email, form.frequency), viewer.id if viewer else None
        )
    except SubscriptionError as exc:
        return _form_page(request, values, exc, 400)
    except DeliveryError:
        message = "We could not send the confirmation email just now. Your request is saved: try again in a few minutes to get the link."
        return render(
            request,
            "subscription_done.html",
            {"title": "Email not sent yet", "message": message, "page_title": "Subscribe"},
            503,
        )
    # The same answer whether or not the address already gets the digest (its owner gets an email).
    message = (
        f"We sent an email to {outcome.email}. If it asked for a new digest, the digest starts once you "
        "click the confirmation link in it: nothing is sent to an address that did not ask for it."
    )
    return render(
        request,
        "subscription_done.html",
        {"title": "Check your inbox", "message": message, "page_title": "Subscribe"},
    )


def _bad_link(request: Request, error: TokenError) -> HTMLResponse:
    message = f"This link cannot be used: {error}. Subscribe again from any page to get a new one."
    return render(
        request,
        "subscription_done.html",
        {"title": "Link not valid", "message": message, "page_title": "Subscription"},
        400,
    )


@router.get("/subscriptions/confirm", response_class=HTMLResponse)
def read_confirm(request: Request, shared: Shared, token: Token = "") -> HTMLResponse:
    service = shared.digests
    try:
        subscription = service.confirm(token)
    except TokenError as exc:
        return _bad_link(request, exc)
    links = service.links(subscription)
    message = f"{subscription.email} will get the {subscription.frequency} digest."
    context = {
        "title": "You are subscribed",
        "message": message,
        "preferences": links.preferences,
        "page_title": "Subscribed",
    }
    return render(request, "subscription_done.html", context)


@router.get("/subscriptions/unsubscribe", response_class=HTMLResponse)
def read_unsubscribe(request: Request, shared: Shared, token: Token = "") -> HTMLResponse:
    """A page with a button: mail scanners that open links must not unsubscribe anyone."""
    try:
        subscription = shared.digests.find(token)
    except TokenError as exc:
        return _bad_link(request, exc)
    return render(
        request,
        "unsubscribe.html",
        {"subscription": subscription, "token": token, "page_title": "Unsubscribe"},
    )


@router.post("/subscriptions/unsubscribe", response_class=HTMLResponse)
def post_unsubscribe(request: Request, shared: Shared, token: Token = "") -> HTMLResponse:
    """The button, and RFC 8058 one-click (`List-Unsubscribe=One-Click` POSTed by the mail client).
    The signed token is the authority here, so no CSRF token is needed (mail clients send none)."""
    try:
        subscription = shared.digests.unsubscribe(token)
    except TokenError as exc:
        return _bad_link(request, exc)
    message = f"{subscription.email} will get no more {subscription.frequency} digests."
    return render(
        request,
        "subscription_done.html",
        {"title": "You are unsubscribed", "message": message, "page_title": "Unsubscribed"},
    )


@router.get("/subscriptions/preferences", response_class=HTMLResponse)
def read_preferences(request: Request, shared: Shared, token: Token = "") -> HTMLResponse:
    try:
        subscription = shared.digests.find(token)
    except TokenError as exc:
        return _bad_link(request, exc)
    topics = topics_of(subscription)
    values = {
        "email": subscription.email,
        "frequency": subscription.frequency,
        "send_hour": str(subscription.send_hour),
        "timezone": subscription.timezone,
        "max_papers": str(subscription.max_papers),
        "categories": ", ".join(topics.categories),
        "keywords": "\n".join(topics.keywords),
        "authors": "\n".join(topics.authors),
        "excluded_keywords": "\n".join(topics.excluded_keywords),
    }
    context = {
        "values": values,
        "token": token,
        "status": subscription.status,
        "error": None,
        "saved": False,
        "page_title": "Digest preferences",
    }
    return render(request, "preferences.html", context)


@router.post(
    "/subscriptions/preferences",
    dependencies=[Depends(check_csrf), Depends(rate_limit("write"))],
    response_model=None,
)
def post_preferences(
    request: Request, shared: Shared, form: Annotated[TopicsForm, Form()], token: Token = ""
) -> Response:
    service = shared.digests
    try:
        current = service.find(token)
        service.update(token, form.request(current.email, current.frequency))
    except TokenError as exc:
        return _bad_link(request, exc)
    except SubscriptionError as exc:
        values = {"email": current.email, "frequency": current.frequency, **form.model_dump()}
        context = {
            "values": values,
            "token": token,
            "status": current.status,
            "error": exc,
            "saved": False,
            "page_title": "Digest preferences",
        }
        return render(request, "preferences.html", context, 400)
    return RedirectResponse(
        f"/subscriptions/preferences?{urlencode({'token': token})}&notice=preferences-saved", status_code=303
    )


def _preview_response(html: str) -> Response:
    return HTMLResponse(
        html, headers={"Content-Security-Policy": PREVIEW_POLICY, "Cache-Control": "no-store"}
    )


@router.get("/subscriptions/preview")
def read_preview(request: Request, shared: Shared, token: Token = "") -> Response:
    """Exactly the digest this subscriber would get now (nothing is recorded or sent)."""
    try:
        subscription = shared.digests.find(token)
    except TokenError as exc:
        return _bad_link(request, exc)
    return _preview_response(shared.digests.preview(subscription.id, shared.search().embedder).html)


@router.get("/admin/digest/preview")
def read_admin_preview(
    request: Request,
    shared: Shared,
    viewer: Annotated[Viewer, Depends(require_viewer)],
    email: Annotated[str, Query(max_length=320)] = "",
    frequency: Annotated[str, Query(max_length=10)] = "daily",
) -> Response:
    """For operators: the digest a subscriber would get now."""
    if not viewer.is_admin:
        return render(
            request,
            "error.html",
            {"title": "Not allowed", "message": "Only an admin can preview digests."},
            403,
        )
    subscription = shared.digests.by_email(email, frequency)
    if subscription is None:
        return render(
            request,
            "error.html",
            {"title": "No such subscription", "message": f"No {frequency} subscription for {email!r}."},
            404,
        )
    return _preview_response(shared.digests.preview(subscription.id, shared.search().embedder).html)
