"""Sign-up, sign-in, sign-out, password change and personal API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from paperboy.accounts.sessions import end_other_sessions, end_session, start_session
from paperboy.accounts.signup import (
    SignupRefused,
    check_signup,
    finish_signup,
    read_signup_link,
    signup_message,
)
from paperboy.accounts.users import AccountError, authenticate, change_password, issue_api_token
from paperboy.clock import utcnow
from paperboy.db.engine import transaction
from paperboy.db.models import User
from paperboy.db.repositories.authors import follows
from paperboy.digest.mailer import DeliveryError, Mailer
from paperboy.signing import Signer, TokenError
from paperboy.web.context import (
    RateLimited,
    Viewer,
    base_url,
    check_csrf,
    rate_limit,
    render,
    require_viewer,
    safe_next,
    set_csrf_cookie,
    web,
)
from paperboy.web.deps import Shared
from paperboy.web.fields import FormText, NextPath
from paperboy.web.security import SESSION_COOKIE, new_csrf_seed

router = APIRouter(include_in_schema=False)
_auth = [Depends(check_csrf), Depends(rate_limit("auth"))]
_write = [Depends(check_csrf), Depends(rate_limit("write"))]
Text = FormText


def _signed_in(request: Request, user: User, target: str, notice: str) -> RedirectResponse:
    settings = web(request).settings
    with transaction(web(request).sessions) as session:
        attached = session.get(User, user.id)
        assert attached is not None
        token = start_session(session, attached, settings.session_days)
    separator = "&" if "?" in target else "?"
    response = RedirectResponse(f"{target}{separator}notice={notice}", status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_days * 86400,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    new_csrf_seed(request)
    set_csrf_cookie(request, response)
    return response


@router.get("/signup", response_class=HTMLResponse)
def read_signup(
    request: Request, next_: Annotated[str | None, Query(alias="next", max_length=500)] = None
) -> HTMLResponse:
    return render(
        request,
        "signup.html",
        {"next": safe_next(next_), "errors": {}, "values": {}, "page_title": "Create an account"},
    )


@router.post("/signup", dependencies=_auth, response_model=None)
def post_signup(
    request: Request,
    shared: Shared,
    email: Text = "",
    username: Text = "",
    password: Text = "",
    display_name: Text = "",
    next_: NextPath = "/",
) -> Response:
    values = {"email": email, "username": username, "display_name": display_name}
    try:
        with transaction(shared.sessions) as session:
            signup = check_signup(session, email, username, password, display_name)
    except SignupRefused as exc:
        errors = exc.errors
        context = {
            "next": safe_next(next_),
            "errors": errors,
            "values": values,
            "page_title": "Create an account",
        }
        return render(request, "signup.html", context, 400)
    message = signup_message(
        shared.settings, Signer(shared.key), signup, base_url(request), utcnow(), safe_next(next_)
    )
    try:
        with Mailer(shared.settings) as mailer:
            mailer.send(message)
    except DeliveryError:
        text = "We could not send the email that finishes your sign-up just now: try again in a few minutes."
        return render(request, "subscription_done.html", {"title": "Email not sent", "message": text}, 503)
    # The same answer whether or not the address has an account (its owner's email says which).
    text = (
        f"We sent an email to {signup.email}. Open the link in it to finish creating your account; "
        f"it works for {shared.settings.confirm_days} days."
    )
    if shared.settings.mail_outbox is not None:  # a server without a mail relay: say where its mail is
        text += f" (This server has no mail relay: its emails are saved as files in {shared.settings.mail_outbox}.)"
    return render(
        request,
        "subscription_done.html",
        {"title": "Check your inbox", "message": text, "page_title": "Create an account"},
    )


def _signup_link_problem(request: Request, exc: Exception) -> HTMLResponse:
    context = {"title": "This link cannot create an account", "message": f"{exc}. You can sign up again."}
    return render(request, "subscription_done.html", context, 400)


@router.get("/signup/confirm", response_model=None)
def read_signup_confirm(
    request: Request, shared: Shared, token: Annotated[str, Query(max_length=4000)] = ""
) -> Response:
    """The emailed link shows what it will create; a button (a CSRF-checked POST) creates it. A GET never
    creates an account: mail scanners open links, and a link planted by someone else must not sign the
    visitor in to the planter's account."""
    try:
        pending = read_signup_link(Signer(shared.key), token, shared.settings.confirm_days * 86400)
    except TokenError as exc:
        return _signup_link_problem(request, exc)
    context = {"pending": pending, "token": token, "page_title": "Finish creating your account"}
    return render(request, "signup_confirm.html", context)


@router.post("/signup/confirm", dependencies=_auth, response_model=None)
def post_signup_confirm(
    request: Request, shared: Shared, token: Annotated[str, Form(max_length=4000)] = ""
) -> Response:
    """Create the account the link asks for and sign in."""
    try:
        pending = read_signup_link(Signer(shared.key), token, shared.settings.confirm_days * 86400)
        with transaction(shared.sessions) as session:
            user = finish_signup(session, pending)
    except (TokenError, AccountError) as exc:
        return _signup_link_problem(request, exc)
    return _signed_in(request, user, safe_next(pending.next_path), "signed-up")


@router.get("/login", response_class=HTMLResponse)
def read_login(
    request: Request, next_: Annotated[str | None, Query(alias="next", max_length=500)] = None
) -> HTMLResponse:
    return render(
        request, "login.html", {"next": safe_next(next_), "error": None, "login": "", "page_title": "Sign in"}
    )


@router.post("/login", dependencies=_auth, response_model=None)
def post_login(
    request: Request,
    shared: Shared,
    login: Text = "",
    password: Text = "",
    next_: NextPath = "/",
) -> Response:
    attempts = shared.limiters["account"]
    account = login.strip().lower()
    wait = attempts.blocked(account)
    if wait is not None:
        raise RateLimited(wait)
    with transaction(shared.sessions) as session:
        user = authenticate(session, login, password)
    if user is None:
        attempts.hit(account)
        context = {
            "next": safe_next(next_),
            "error": "That email or username and password do not match an account.",
            "login": login,
            "page_title": "Sign in",
        }
        return render(request, "login.html", context, 400)
    return _signed_in(request, user, safe_next(next_), "signed-in")


@router.post("/logout", dependencies=[Depends(check_csrf)], response_model=None)
def post_logout(request: Request, shared: Shared) -> Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        with transaction(shared.sessions) as session:
            end_session(session, token)
    response = RedirectResponse("/?notice=signed-out", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    new_csrf_seed(request)
    set_csrf_cookie(request, response)
    return response


def _account_page(
    request: Request, viewer: Viewer, errors: dict[str, str], new_token: str | None = None, status: int = 200
) -> HTMLResponse:
    """The account page with what it shows beside the forms: the notification choice and followed authors."""
    with web(request).sessions() as session:
        user = session.get(User, viewer.id)
        followed = follows(session, viewer.id)
    context = {
        "errors": errors,
        "new_token": new_token,
        "notify_replies": bool(user and user.notify_replies),
        "follows": followed,
        "page_title": "Your account",
    }
    return render(request, "account.html", context, status)


@router.get("/account", response_class=HTMLResponse)
def read_account(request: Request, viewer: Annotated[Viewer, Depends(require_viewer)]) -> HTMLResponse:
    return _account_page(request, viewer, {})


@router.post("/account/notifications", dependencies=_write, response_model=None)
def post_notifications(
    request: Request,
    shared: Shared,
    viewer: Annotated[Viewer, Depends(require_viewer)],
    notify_replies: Annotated[bool, Form()] = False,
) -> Response:
    """Turn the discussion emails on or off."""
    with transaction(shared.sessions) as session:
        user = session.get(User, viewer.id)
        assert user is not None
        user.notify_replies = notify_replies
    return RedirectResponse("/account?notice=notifications-saved#notifications", status_code=303)


@router.post("/account/password", dependencies=_auth, response_model=None)
def post_password(
    request: Request,
    shared: Shared,
    viewer: Annotated[Viewer, Depends(require_viewer)],
    current_password: Text = "",
    new_password: Text = "",
) -> Response:
    try:
        with transaction(shared.sessions) as session:
            user = session.get(User, viewer.id)
            assert user is not None
            change_password(session, user, current_password, new_password)
            end_other_sessions(session, user, request.cookies.get(SESSION_COOKIE))
    except AccountError as exc:
        return _account_page(request, viewer, {exc.field: exc.message}, status=400)
    return RedirectResponse("/account?notice=password-changed", status_code=303)


@router.post("/account/token", dependencies=_write, response_model=None)
def post_token(
    request: Request, shared: Shared, viewer: Annotated[Viewer, Depends(require_viewer)]
) -> Response:
    with transaction(shared.sessions) as session:
        user = session.get(User, viewer.id)
        assert user is not None
        token = issue_api_token(user)
    response = _account_page(request, viewer, {}, new_token=token)
    response.headers["Cache-Control"] = "no-store"
    return response
