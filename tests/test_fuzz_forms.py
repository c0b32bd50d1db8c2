"""Property-based fuzzing (Hypothesis) of what the OpenAPI document does not describe: every HTML form
(found from the app's own routes, with every field it reads) and every path parameter, on both
databases, signed in and not, with valid, forged, missing and non-ASCII CSRF tokens. No request may get a
server error, and the server must keep answering on the same connection afterwards."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session, sessionmaker

from paperboy.config import Settings
from web_support import csrf_token, ingest_hf_daily, make_client, report, sign_up

EXAMPLES = int(os.environ.get("PAPERBOY_FUZZ_EXAMPLES", "30"))
"""Generated requests per route (bench/fuzz_long.py raises it for the long run)."""
HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "\x00",
            "é" * 5,
            "²",
            "³",
            "America",
            "../../../etc/passwd",
            "x/../../../account/token?",
            "<script>alert(1)</script>",
            "9" * 30,
            "-1",
            "0",
            "2410.17243v1",
            "日本語",
            "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
        ]
    ),
)
INTEGERS = st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([0, 1, 2**31, 2**63]))


def api_routes(app: Any) -> list[tuple[str, APIRoute]]:
    """(full path, route) of every route, through included routers (FastAPI keeps those apart)."""
    found: list[tuple[str, APIRoute]] = []
    for route in app.routes:
        if isinstance(route, APIRoute):
            found.append((route.path, route))
        elif hasattr(route, "original_router"):
            prefix = route.original_router.prefix
            found += [(prefix + path, inner) for path, inner in api_routes(route.original_router)]
    return found


def form_routes(client: TestClient) -> list[tuple[str, list[str]]]:
    """(path, form field names) of every state-changing route of the site."""
    found = []
    for path, route in api_routes(client.app):
        if "POST" not in route.methods or path.startswith("/api/"):
            continue
        fields: list[str] = []
        for param in route.dependant.body_params:
            annotation = param.field_info.annotation
            model_fields = getattr(annotation, "model_fields", None)
            fields += list(model_fields) if model_fields else [param.alias]
        found.append((path, fields))
    assert len(found) >= 12, found
    return found


def concrete(path: str, draw: Any) -> str:
    """A route path with its parameters filled: hostile ids and texts, sometimes real ones."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.endswith("_id") and ":path" not in name:
            return str(draw(INTEGERS))
        return draw(st.one_of(st.just("2410.17243"), HOSTILE_TEXT.map(lambda t: quote(t, safe="") or "x")))

    return re.sub(r"\{([^}]+)\}", fill, path)


@pytest.fixture
def site(
    settings: Settings, sessions: sessionmaker[Session], shared_data: Path
) -> tuple[TestClient, TestClient]:
    """An anonymous visitor and a signed-in one, on the real daily list of 2024-10-25."""
    ingest_hf_daily(sessions, shared_data)
    roomy = settings.model_copy(update={"rate_limit_auth": 100_000, "rate_limit_write": 100_000})
    anonymous = make_client(roomy)
    member = make_client(roomy)
    sign_up(member, "fuzzer")
    return anonymous, member


def test_every_form_survives_hostile_input(site: tuple[TestClient, TestClient]) -> None:
    anonymous, member = site
    routes = form_routes(member)
    tokens = {id(anonymous): csrf_token(anonymous, "/login"), id(member): csrf_token(member, "/account")}
    sent = 0

    @given(st.data())
    @settings(
        max_examples=EXAMPLES * len(routes),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def post_something(data: Any) -> None:
        nonlocal sent
        client = data.draw(st.sampled_from([anonymous, member]))
        path, fields = data.draw(st.sampled_from(routes))
        url = concrete(path, data.draw)
        form = {name: data.draw(HOSTILE_TEXT) for name in fields if data.draw(st.booleans())}
        token_choice = data.draw(st.sampled_from(["valid", "hostile", "missing", "header"]))
        headers: dict[str, bytes] = {}
        if token_choice == "valid":
            form["csrf_token"] = tokens[id(client)]
        elif token_choice == "hostile":
            form["csrf_token"] = data.draw(HOSTILE_TEXT)
        elif token_choice == "header":
            headers["X-CSRF-Token"] = data.draw(HOSTILE_TEXT).encode("utf-8")  # raw UTF-8 bytes on the wire
        response = client.post(url, data=form, headers=headers)
        sent += 1
        assert response.status_code < 500, (url, form, headers, response.status_code, response.text[:300])

    post_something()
    report("forms", sent, 0)
    assert sent >= EXAMPLES * len(routes)
    assert anonymous.get("/healthz").status_code == 200 and member.get("/").status_code == 200


def test_every_page_path_survives_hostile_parameters(site: tuple[TestClient, TestClient]) -> None:
    anonymous, member = site
    pages = [path for path, route in api_routes(member.app) if "GET" in route.methods and "{" in path]
    assert len(pages) >= 5, pages
    queries = [
        "/search?q=",
        "/papers?date=",
        "/papers?week=",
        "/papers?month=",
        "/feeds/search.atom?q=",
        "/api/papers?cursor=",
    ]

    sent = 0

    @given(st.data())
    @settings(
        max_examples=EXAMPLES * (len(pages) + len(queries)),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def get_something(data: Any) -> None:
        nonlocal sent
        sent += 1
        client = data.draw(st.sampled_from([anonymous, member]))
        if data.draw(st.booleans()):
            url = concrete(data.draw(st.sampled_from(pages)), data.draw)
            response = client.get(url)
        else:
            response = client.get(
                data.draw(st.sampled_from(queries)) + quote(data.draw(HOSTILE_TEXT), safe="")
            )
        assert response.status_code < 500, (response.url, response.status_code, response.text[:300])

    get_something()
    report("paths", sent, 0)
