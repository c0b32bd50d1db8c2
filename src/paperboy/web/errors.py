"""Every error a request can meet, answered as a page or as JSON naming what went wrong: never a
traceback, and never a dropped connection.

Handled errors (bad parameters, sign-in needed, rate limits, CSRF, a database that cannot be reached) get
their own status; anything else is logged with its traceback and answered 500 by a middleware that
catches it before Starlette's last-resort handler, which would re-raise it and make the server close the
client's connection.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from paperboy.db.engine import storage_problem
from paperboy.web.context import (
    AdminRequired,
    ApiError,
    CsrfFailed,
    LoginRequired,
    RateLimited,
    login_url,
    render,
    web,
)
from paperboy.web.security import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("paperboy.web")
API_PREFIXES = ("/api/", "/feeds/")


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIXES) or "application/json" in request.headers.get(
        "accept", ""
    )


def _error_page(
    request: Request, status: int, title: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    if _is_api(request):
        return JSONResponse({"error": message}, status_code=status, headers=headers)
    response = render(
        request, "error.html", {"title": title, "message": message, "page_title": title}, status
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def on_api_error(request: Request, exc: ApiError) -> Response:
        body = {"error": str(exc)}
        if exc.parameter:
            body["parameter"] = exc.parameter
        return JSONResponse(body, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors: list[dict[str, Any]] = []
        for error in exc.errors():
            location = [str(part) for part in error.get("loc", ())]
            errors.append(
                {
                    "parameter": location[-1] if location else "",
                    "in": location[0] if location else "",
                    "message": error.get("msg", ""),
                }
            )
        first = errors[0] if errors else {"parameter": "", "message": "invalid request"}
        message = f"parameter {first['parameter']!r}: {first['message']}"
        if _is_api(request):
            return JSONResponse(
                {"error": message, "parameter": first["parameter"], "errors": errors}, status_code=422
            )
        return _error_page(request, 400, "That request is not valid", message)

    @app.exception_handler(LoginRequired)
    async def on_login_required(request: Request, exc: LoginRequired) -> Response:
        if _is_api(request):
            return JSONResponse({"error": "sign in first"}, status_code=401)
        target = login_url(request) if request.method == "GET" else "/login"
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(RateLimited)
    async def on_rate_limited(request: Request, exc: RateLimited) -> Response:
        message = f"Too many requests from your address. Try again in {exc.retry_after} seconds."
        return _error_page(request, 429, "Slow down", message, {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(AdminRequired)
    async def on_admin_required(request: Request, exc: AdminRequired) -> Response:
        return _error_page(request, 403, "Not allowed", "Only an admin can do that.")

    @app.exception_handler(CsrfFailed)
    async def on_csrf_failed(request: Request, exc: CsrfFailed) -> Response:
        message = "This form has expired or came from another site. Reload the page and try again."
        return _error_page(request, 403, "Form expired", message)

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "Page not found", 405: "Method not allowed"}
        message = "There is no page at this address." if exc.status_code == 404 else str(exc.detail)
        return _error_page(
            request, exc.status_code, titles.get(exc.status_code, "Error"), message, dict(exc.headers or {})
        )

    @app.exception_handler(OperationalError)
    async def on_storage_error(request: Request, exc: OperationalError) -> Response:
        problem = storage_problem(exc, web(request).settings.home)
        log.error("cannot serve %s %s: %s (%s)", request.method, request.url.path, problem, exc.orig)
        message = f"The server cannot reach its data right now: {problem}. Try again in a minute."
        return _error_page(request, 503, "Temporarily unavailable", message, {"Retry-After": "60"})

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error_page(
            request, 500, "Something went wrong", "An unexpected error occurred; it has been logged."
        )


class ErrorBoundaryMiddleware:
    """Answers an unexpected exception with the 500 page itself (logged with its traceback), so the
    connection stays open for the client's next request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if started:  # too late for an error page: let the server end the response
                raise
            request = Request(scope)
            log.exception("unhandled error on %s %s", request.method, request.url.path)
            response = _error_page(
                request, 500, "Something went wrong", "An unexpected error occurred; it has been logged."
            )
            await response(scope, receive, send)
