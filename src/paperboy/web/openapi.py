"""What the API documents about its answers, so that /docs (and clients generated from the OpenAPI
document) match what the routes send: the error shape every route uses, and the media types of feeds.
tests/test_fuzz_api.py holds the routes to it with Schemathesis."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    """Every refusal: what is wrong, and the parameter at fault when there is one."""

    error: str = Field(description="What is wrong, in words.")
    parameter: str | None = Field(None, description="The parameter (or field) at fault.")


class ParameterProblem(BaseModel):
    parameter: str
    in_: str = Field(alias="in", description="path, query, header or body")
    message: str


class ValidationErrorOut(ErrorOut):
    """A request whose parameters do not have the documented types or ranges."""

    errors: list[ParameterProblem] = Field(default_factory=list)


_DESCRIPTIONS = {
    400: "A parameter is not valid; `parameter` names it.",
    401: "This needs a personal API token: `Authorization: Bearer pb_…`.",
    403: "The token's account may not do this.",
    404: "No such paper (or entry).",
    409: "The request conflicts with what exists.",
    422: "A parameter has the wrong type or is out of range; `parameter` names it.",
    429: "Too many requests; `Retry-After` says when to try again.",
    503: "A service Paperboy needs is unavailable for now (the database, the search index being "
    "rebuilt, arXiv, the mail server); `Retry-After` may say when to try again.",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The documented refusals of a route (422 is always among them)."""
    documented: dict[int | str, dict[str, Any]] = {
        422: {"model": ValidationErrorOut, "description": _DESCRIPTIONS[422]}
    }
    for code in codes:
        documented[code] = {"model": ErrorOut, "description": _DESCRIPTIONS[code]}
    return documented


FEED_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The feed: RSS 2.0 for `.rss`, Atom 1.0 for `.atom`.",
        "content": {"application/rss+xml": {}, "application/atom+xml": {}},
    },
    **errors(400, 404),
}
