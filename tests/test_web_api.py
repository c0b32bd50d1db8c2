"""The JSON API (Hugging Face Papers API compatible) and the RSS/Atom feeds, over HTTP on a real app.

Every test runs on SQLite and PostgreSQL (the `db_url` fixtures). The data is the real Hugging Face
`/api/daily_papers` response of 2024-10-25 (29 papers); adding papers by arXiv id talks real HTTP to the
local server replaying recorded arXiv API responses (tests/http_fixture_server.py). Expected values are
computed from the fixture file itself, never from the code under test.
"""

from __future__ import annotations

import base64
import json
import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from defusedxml import ElementTree as SafeET
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from http_fixture_server import FixtureServer
from paperboy.accounts.users import create_user, issue_api_token
from paperboy.clock import utcnow
from paperboy.community.comments import add_comment, delete_comment
from paperboy.community.submissions import arxiv_fetcher
from paperboy.config import Settings
from paperboy.db.models import DailyEntry, Paper
from paperboy.db.records import DailyRecord, PaperRecord
from paperboy.db.repositories.daily import upsert_daily
from paperboy.db.repositories.papers import upsert_papers
from paperboy.search.indexer import Indexer
from search_support import MemoizingEmbedder
from web_support import HF_DAILY, PASSWORD, csrf_token, ingest_hf_daily, make_client, sign_up

DAY = "2024-10-25"
ATOM = "{http://www.w3.org/2005/Atom}"
# Recorded in fixtures/arxiv_atom (see tests/test_ingest_arxiv_api.py).
INDEXABLE_ID = "1605.08386"
INDEXABLE_TITLE = "Heat-bath random walks with Markov bases"
EMPTY_RESULT_ID = "0808.05394"  # a well-formed id whose recorded arXiv response has no entry
OLD_STYLE = PaperRecord(
    arxiv_id="hep-th/9901001",
    title="An Old-Style Identifier With a Slash",
    abstract="A paper from before 2007, when arXiv ids named the archive.",
    source="test",
    version=2,
    authors=("Ada Lovelace", "Alan Turing"),
    categories=("hep-th", "gr-qc"),
    primary_category="hep-th",
    published_at=datetime(1999, 1, 1, 12, 0, 0),
    updated_at=datetime(1999, 2, 1, 12, 0, 0),
)


# --- helpers ---------------------------------------------------------------------------------------------


def squash(text: str) -> str:
    """Whitespace-normalized text: the store unwraps arXiv's hard line breaks in titles and abstracts
    (the Hugging Face response keeps them), so text is compared modulo whitespace."""
    return " ".join(text.split())


def hf_time(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")


def ids_of(entries: list[dict[str, Any]]) -> list[str]:
    return [entry["paper"]["id"] for entry in entries]


def expected_trending_ids(fixture: list[dict[str, Any]], gravity: float = 1.5) -> list[str]:
    """upvotes / (hours since submission + 24) ^ gravity, hours counted up to the newest submission;
    ties: newest submission, then arXiv id (computed here from the fixture, not by the app)."""
    submitted = {e["paper"]["id"]: hf_time(e["publishedAt"]) for e in fixture}
    reference = max(submitted.values())
    scores = {
        e["paper"]["id"]: e["paper"]["upvotes"]
        / (((reference - submitted[e["paper"]["id"]]).total_seconds() / 3600 + 24) ** gravity)
        for e in fixture
    }
    ids = sorted(scores)
    ids.sort(key=lambda i: submitted[i], reverse=True)
    ids.sort(key=lambda i: scores[i], reverse=True)
    return ids


def assert_json_error(response: Any, status: int | tuple[int, ...], parameter: str | None) -> dict[str, Any]:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert isinstance(body["error"], str) and body["error"]
    if parameter is not None:
        assert body["parameter"] == parameter, body
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_token(sessions: sessionmaker[Session], username: str) -> str:
    """A user and their API token, created directly in the database."""
    with sessions() as session, session.begin():
        user = create_user(session, f"{username}@example.org", username, PASSWORD)
        return issue_api_token(user)


def token_from_account_page(client: TestClient) -> str:
    """Create an API token the way a person does: the form on the account page (client signed in)."""
    response = client.post("/account/token", data={"csrf_token": csrf_token(client, "/account")})
    assert response.status_code == 200, response.text
    match = re.search(r'<code id="api-token">([^<]+)</code>', response.text)
    assert match, "no token on the account page"
    return match.group(1)


def paper_count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Paper)) or 0


def daily_count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(DailyEntry)) or 0


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def parse_xml(response: Any) -> Any:
    return SafeET.fromstring(response.content)


def next_link(response: Any) -> str | None:
    link = response.headers.get("link")
    if link is None:
        return None
    match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert match, link
    return match.group(1)


# --- fixtures --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fixture_entries(shared_data: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads((shared_data / HF_DAILY).read_text(encoding="utf-8"))
    assert len(entries) == 29
    return entries


@pytest.fixture
def client(settings: Settings, sessions: sessionmaker[Session], shared_data: Path) -> TestClient:
    """An app over the ingested Hugging Face response of 2024-10-25 (arXiv unreachable: tests that
    add papers by id use the fixture server, and nothing may reach the real arXiv)."""
    ingest_hf_daily(sessions, shared_data)
    return app_with_arxiv_at(settings, f"http://127.0.0.1:{closed_port()}/api/query")


@pytest.fixture
def arxiv_server(shared_data: Path) -> Iterator[FixtureServer]:
    with FixtureServer(shared_data / "fixtures") as running:
        yield running


def app_with_arxiv_at(settings: Settings, api_url: str, window_days: int = 0) -> TestClient:
    """An app that fetches from the recorded arXiv responses (years old: no submission window, unless
    `window_days` sets one)."""
    arxiv_settings = settings.model_copy(update={"arxiv_api_url": api_url})
    app_settings = settings.model_copy(update={"submit_window_days": window_days})
    return make_client(app_settings, fetch_paper=arxiv_fetcher(arxiv_settings))


# --- GET /api/daily_papers -------------------------------------------------------------------------------


def test_daily_papers_of_a_day_mirror_the_hugging_face_response(
    client: TestClient, fixture_entries: list[dict[str, Any]]
) -> None:
    response = client.get("/api/daily_papers", params={"date": DAY})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    ours = response.json()
    assert ids_of(ours) == ids_of(fixture_entries)  # same papers, same order (most upvoted first)
    for got, want in zip(ours, fixture_entries, strict=True):
        paper_id = want["paper"]["id"]
        assert set(got) == set(want), paper_id
        # The fixture predates these fields of the live API (and codeRepos is Paperboy's): present when known.
        extras = {"githubRepo", "githubStars", "codeRepos", "projectPage", "ai_keywords"}
        assert set(got["paper"]) - extras == set(want["paper"]), paper_id
        assert set(got["submittedBy"]) == set(want["submittedBy"]), paper_id
        for key in ("numComments", "publishedAt", "submittedBy", "thumbnail"):
            assert got[key] == want[key], (paper_id, key)
        if "mediaUrls" in want:
            assert got["mediaUrls"] == want["mediaUrls"], paper_id
        for key in ("id", "upvotes", "publishedAt", "discussionId"):
            assert got["paper"][key] == want["paper"][key], (paper_id, key)
        assert [a["name"] for a in got["paper"]["authors"]] == [
            a["name"] for a in want["paper"]["authors"]
        ], paper_id
        assert got["paper"]["authors"] == want["paper"]["authors"], paper_id  # served back as imported
        # Our store unwraps arXiv's line breaks in titles and abstracts: equal modulo whitespace.
        assert squash(got["title"]) == squash(want["title"]), paper_id
        assert squash(got["paper"]["title"]) == squash(want["paper"]["title"]), paper_id
        assert squash(got["paper"]["summary"]) == squash(want["paper"]["summary"]), paper_id


def test_limit_and_page_split_the_day_without_loss_or_overlap(
    client: TestClient, fixture_entries: list[dict[str, Any]]
) -> None:
    pages = [client.get("/api/daily_papers", params={"date": DAY, "limit": 10, "p": p}) for p in range(4)]

    assert [r.status_code for r in pages] == [200] * 4
    assert [len(r.json()) for r in pages] == [10, 10, 9, 0]
    assert [i for r in pages for i in ids_of(r.json())] == ids_of(fixture_entries)
    one = client.get("/api/daily_papers", params={"date": DAY, "limit": 1, "p": 28}).json()
    assert ids_of(one) == [fixture_entries[28]["paper"]["id"]]
    most = client.get("/api/daily_papers", params={"date": DAY, "limit": 100}).json()
    assert len(most) == 29


@pytest.mark.parametrize("period", [{"week": "2024-W43"}, {"month": "2024-10"}, {"date": " 2024-10-25 "}])
def test_week_and_month_hold_the_same_papers_as_the_day(
    client: TestClient, fixture_entries: list[dict[str, Any]], period: dict[str, str]
) -> None:
    response = client.get("/api/daily_papers", params=period)

    assert response.status_code == 200
    assert ids_of(response.json()) == ids_of(fixture_entries)


@pytest.mark.parametrize(
    "period", [{"date": "2024-10-24"}, {"date": "2024-10-26"}, {"week": "2024-W44"}, {"month": "2024-09"}]
)
def test_periods_without_entries_are_empty(client: TestClient, period: dict[str, str]) -> None:
    response = client.get("/api/daily_papers", params=period)

    assert response.status_code == 200
    assert response.json() == []


def test_submitter_filter(client: TestClient, fixture_entries: list[dict[str, Any]]) -> None:
    by_brando = [e["paper"]["id"] for e in fixture_entries if e["submittedBy"]["name"] == "brando"]
    assert len(by_brando) == 2  # the only submitter with two papers that day

    for name in ("brando", "BRANDO"):
        entries = client.get("/api/daily_papers", params={"date": DAY, "submitter": name}).json()
        assert ids_of(entries) == by_brando
        assert {e["submittedBy"]["name"] for e in entries} == {"brando"}
    without_period = client.get("/api/daily_papers", params={"submitter": "ClownRat"}).json()
    assert ids_of(without_period) == ["2410.17243"]
    assert client.get("/api/daily_papers", params={"submitter": "nobody-at-all"}).json() == []


def test_sort_published_at_is_newest_submission_first(
    client: TestClient, fixture_entries: list[dict[str, Any]]
) -> None:
    expected = [
        e["paper"]["id"]
        for e in sorted(fixture_entries, key=lambda e: hf_time(e["publishedAt"]), reverse=True)
    ]

    ours = client.get("/api/daily_papers", params={"date": DAY, "sort": "publishedAt"}).json()

    assert ids_of(ours) == expected
    assert ids_of(ours) != ids_of(fixture_entries)
    stamps = [hf_time(e["publishedAt"]) for e in ours]
    assert stamps == sorted(stamps, reverse=True)
    # Without a period the default order is also newest submission first, over all entries.
    assert ids_of(client.get("/api/daily_papers").json()) == expected


def test_sort_trending_uses_upvotes_with_time_decay(
    client: TestClient, fixture_entries: list[dict[str, Any]]
) -> None:
    expected = expected_trending_ids(fixture_entries)
    assert expected != ids_of(fixture_entries)  # the decay reorders the day, so the test can tell

    in_period = client.get("/api/daily_papers", params={"date": DAY, "sort": "trending"}).json()
    overall = client.get("/api/daily_papers", params={"sort": "trending"}).json()
    paged = [
        client.get("/api/daily_papers", params={"sort": "trending", "limit": 12, "p": p}).json()
        for p in range(3)
    ]

    assert ids_of(in_period) == expected
    assert ids_of(overall) == expected
    assert [i for page in paged for i in ids_of(page)] == expected
    # The entries are unchanged by the sort: same upvotes as in the fixture.
    upvotes = {e["paper"]["id"]: e["paper"]["upvotes"] for e in fixture_entries}
    assert all(e["paper"]["upvotes"] == upvotes[e["paper"]["id"]] for e in in_period)


# --- bad and hostile parameters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "status", "parameter"),
    [
        ("/api/daily_papers", {"limit": 0}, 422, "limit"),
        ("/api/daily_papers", {"limit": 101}, 422, "limit"),
        ("/api/daily_papers", {"limit": "ten"}, 422, "limit"),
        ("/api/daily_papers", {"p": -1}, 422, "p"),
        ("/api/daily_papers", {"p": "first"}, 422, "p"),
        ("/api/daily_papers", {"date": "2024-13-45"}, 400, "date"),
        ("/api/daily_papers", {"date": "yesterday"}, 400, "date"),
        ("/api/daily_papers", {"week": "2024-W99"}, 400, "week"),
        ("/api/daily_papers", {"week": "2024-43"}, 400, "week"),
        ("/api/daily_papers", {"week": "9999-W52"}, 400, "week"),  # its Sunday is past year 9999
        ("/api/daily_papers", {"month": "2024-13"}, 400, "month"),
        ("/api/daily_papers", {"month": "0000-01"}, 400, "month"),
        ("/api/daily_papers", {"date": DAY, "week": "2024-W43"}, 400, "week"),
        ("/api/daily_papers", {"week": "2024-W43", "month": "2024-10"}, 400, "month"),
        ("/api/daily_papers", {"sort": "bogus"}, 422, "sort"),
        ("/api/daily_papers", {"submitter": "x" * 101}, 422, "submitter"),
        ("/api/papers", {"cursor": "garbage"}, 400, "cursor"),
        ("/api/papers", {"cursor": base64.urlsafe_b64encode(b"q:12").decode()}, 400, "cursor"),
        ("/api/papers", {"cursor": base64.urlsafe_b64encode(b"p:" + b"9" * 40).decode()}, 400, "cursor"),
        ("/api/papers", {"limit": 0}, 422, "limit"),
        ("/api/papers", {"limit": 101}, 422, "limit"),
        ("/feeds/daily.rss", {"date": "2024-13-45"}, 400, "date"),
        ("/feeds/daily.atom", {"week": "2024-W99"}, 400, "week"),
    ],
)
def test_bad_parameters_are_named_in_a_json_error(
    client: TestClient, path: str, params: dict[str, Any], status: int, parameter: str
) -> None:
    response = client.get(path, params=params)

    assert_json_error(response, status, parameter)


HOSTILE = [
    pytest.param("x" * 10_000, id="very-long"),
    pytest.param("論文 — ünïcödé 🚀 \u202e", id="unicode"),
    pytest.param("' OR 1=1; DROP TABLE papers; --", id="sql"),
    pytest.param('"; SELECT * FROM users WHERE "a"="a', id="sql-quotes"),
    pytest.param("../../../../etc/passwd", id="path-traversal"),
    pytest.param("%2e%2e%2f%2e%2e%2fetc%2fpasswd", id="encoded-traversal"),
    pytest.param("nul\x00byte", id="nul-byte"),
    pytest.param("<script>alert(1)</script>", id="markup"),
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_inputs_never_cause_a_server_error(
    client: TestClient, sessions: sessionmaker[Session], value: str
) -> None:
    token = new_token(sessions, "mallory")
    segment = value.replace("\x00", "%00")  # HTTP clients refuse a raw NUL in a URL: send it encoded
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/api/daily_papers", {"params": {name: value}})
        for name in ("date", "week", "month", "submitter", "sort", "p", "limit")
    ]
    requests += [
        ("GET", "/api/daily_papers", {"params": {"submitter": value, "date": DAY}}),
        ("GET", "/api/papers", {"params": {"cursor": value}}),
        ("GET", "/api/papers", {"params": {"cursor": base64.urlsafe_b64encode(value.encode()).decode()}}),
        ("GET", f"/api/papers/{segment}", {}),
        ("GET", f"/api/papers/2410.17243/{segment}", {}),
        ("POST", f"/api/papers/{segment}/upvote", {"headers": bearer(token)}),
        ("DELETE", f"/api/papers/{segment}/upvote", {"headers": bearer(token)}),
        ("POST", "/api/papers/index", {"headers": bearer(token), "json": {"arxivId": value}}),
        ("GET", "/feeds/daily.rss", {"params": {"date": value}}),
        ("GET", "/feeds/daily.atom", {"params": {"week": value}}),
        ("GET", f"/feeds/{segment}.rss", {}),
    ]
    if "\x00" not in value:  # (no client can send NUL in a header) the token itself is hostile, as UTF-8
        hostile_auth = {"Authorization": b"Bearer " + value.encode()}
        requests.append(("POST", "/api/papers/2410.17243/upvote", {"headers": hostile_auth}))

    for method, path, options in requests:
        response = client.request(method, path, **options)
        assert response.status_code < 500, (method, path[:80], options, response.text[:300])
        if response.request.url.path.startswith("/api/"):
            body = response.json()  # always JSON under /api, errors included
            assert response.status_code < 400 or "error" in body, (method, path[:80], body)
    # Nothing was changed or dropped by any of it.
    assert paper_count(sessions) == 29
    assert len(client.get("/api/daily_papers", params={"date": DAY}).json()) == 29
    assert client.get("/api/papers/2410.17243").json()["upvotes"] == 64


# --- GET /api/papers/{id} --------------------------------------------------------------------------------


def test_paper_details(client: TestClient, fixture_entries: list[dict[str, Any]]) -> None:
    want = fixture_entries[0]["paper"]

    response = client.get(f"/api/papers/{want['id']}")

    assert response.status_code == 200
    paper = response.json()
    assert paper["id"] == "2410.17243"
    assert squash(paper["title"]) == squash(want["title"])
    assert squash(paper["summary"]) == squash(want["summary"])
    assert [a["name"] for a in paper["authors"]] == [a["name"] for a in want["authors"]]
    assert paper["upvotes"] == want["upvotes"] == 64
    assert paper["publishedAt"] == want["publishedAt"]
    assert paper["discussionId"]
    assert paper["categories"] == []  # the Hugging Face response has no categories
    assert paper["withdrawn"] is False
    assert paper["arxivUrl"] == "https://arxiv.org/abs/2410.17243"
    assert paper["pdfUrl"] == "https://arxiv.org/pdf/2410.17243"
    assert paper["url"].endswith("/papers/2410.17243")
    assert isinstance(paper["numComments"], int) and paper["numComments"] >= 0


@pytest.mark.parametrize("unknown", ["2501.00001", "hep-th/0000001", "not-an-id"])
def test_unknown_paper_is_a_json_404(client: TestClient, unknown: str) -> None:
    response = client.get(f"/api/papers/{unknown}")

    body = assert_json_error(response, 404, "id")
    assert unknown in body["error"]


def test_old_style_ids_with_a_slash(client: TestClient, sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        upsert_papers(session, [OLD_STYLE])

    response = client.get("/api/papers/hep-th/9901001")

    assert response.status_code == 200, response.text
    paper = response.json()
    assert paper["id"] == "hep-th/9901001"
    assert paper["title"] == OLD_STYLE.title
    assert paper["summary"] == OLD_STYLE.abstract
    assert [a["name"] for a in paper["authors"]] == ["Ada Lovelace", "Alan Turing"]
    assert paper["categories"] == ["hep-th", "gr-qc"]
    assert paper["primaryCategory"] == "hep-th"
    assert paper["version"] == 2
    assert paper["publishedAt"] == "1999-01-01T12:00:00.000Z"
    assert paper["updatedAt"] == "1999-02-01T12:00:00.000Z"
    assert paper["upvotes"] == 0
    assert paper["arxivUrl"] == "https://arxiv.org/abs/hep-th/9901001"
    assert paper["url"].endswith("/papers/hep-th/9901001")
    assert_json_error(client.get("/api/papers/hep-th/9901002"), 404, "id")


# --- GET /api/papers (cursor) ----------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [7, 10])
def test_cursor_pagination_walks_every_paper_once_newest_first(
    client: TestClient, sessions: sessionmaker[Session], limit: int
) -> None:
    withdrawn = PaperRecord(
        arxiv_id="2401.99999", title="Withdrawn", abstract="Gone.", source="test", withdrawn=True
    )
    with sessions() as session, session.begin():
        upsert_papers(session, [withdrawn])
    with sessions() as session, session.begin():
        upsert_papers(session, [OLD_STYLE])  # added last: the newest paper
    with sessions() as session:
        expected = list(
            session.scalars(
                select(Paper.arxiv_id).where(Paper.withdrawn.is_(False)).order_by(Paper.id.desc())
            )
        )
    assert len(expected) == 30

    pages = []
    url: str | None = f"/api/papers?limit={limit}"
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200, response.text
        pages.append(response)
        url = next_link(response)
        if url is not None:
            query = parse_qs(urlsplit(url).query)
            assert query["cursor"] == [response.headers["x-next-cursor"]]
            assert query["limit"] == [str(limit)]
        else:
            assert "x-next-cursor" not in response.headers
        assert len(pages) <= 10, "the cursor does not advance"

    walked = [paper["id"] for page in pages for paper in page.json()]
    assert walked == expected
    assert walked[0] == "hep-th/9901001"
    assert len(set(walked)) == 30 and "2401.99999" not in walked
    assert [len(page.json()) for page in pages] == [limit] * (30 // limit) + (
        [30 % limit] if 30 % limit else []
    )
    upvotes = {p["id"]: p["upvotes"] for page in pages for p in page.json()}
    assert upvotes["2410.17243"] == 64 and upvotes["hep-th/9901001"] == 0


def test_cursor_pagination_of_an_empty_store(settings: Settings) -> None:
    response = make_client(settings).get("/api/papers")

    assert response.status_code == 200
    assert response.json() == []
    assert "link" not in response.headers and "x-next-cursor" not in response.headers


# --- upvotes ---------------------------------------------------------------------------------------------


def upvotes_seen(client: TestClient, arxiv_id: str) -> tuple[int, int]:
    """The paper's upvotes as /api/papers/{id} and /api/daily_papers show them."""
    details = client.get(f"/api/papers/{arxiv_id}").json()["upvotes"]
    daily = client.get("/api/daily_papers", params={"date": DAY}).json()
    (entry,) = [e for e in daily if e["paper"]["id"] == arxiv_id]
    return details, entry["paper"]["upvotes"]


def test_upvote_needs_a_valid_token(client: TestClient) -> None:
    target = "/api/papers/2410.17243/upvote"
    sign_up(client, "carol")
    token = token_from_account_page(client)
    client.cookies.clear()  # the API does not take the session cookie: only the token
    cases = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer pb_not-a-real-token"},
        {"Authorization": f"Bearer {token}x"},
        {"Authorization": f"Basic {token}"},
        {"Authorization": token},
    ]

    for headers in cases:
        for method in ("POST", "DELETE"):
            assert_json_error(client.request(method, target, headers=headers), 401, "Authorization")

    assert upvotes_seen(client, "2410.17243") == (64, 64)


def test_upvote_withdraw_and_idempotence(client: TestClient, sessions: sessionmaker[Session]) -> None:
    target = "/api/papers/2410.18234/upvote"  # 2 upvotes in the fixture
    sign_up(client, "carol")
    token = token_from_account_page(client)
    other = new_token(sessions, "dave")

    first = client.post(target, headers=bearer(token))
    assert first.status_code == 200, first.text
    assert first.json() == {"id": "2410.18234", "upvoted": True, "upvotes": 3}
    assert upvotes_seen(client, "2410.18234") == (3, 3)

    again = client.post(target, headers=bearer(token))
    assert again.json() == {"id": "2410.18234", "upvoted": True, "upvotes": 3}
    assert upvotes_seen(client, "2410.18234") == (3, 3)

    assert client.post(target, headers=bearer(other)).json()["upvotes"] == 4
    assert upvotes_seen(client, "2410.18234") == (4, 4)

    removed = client.delete(target, headers=bearer(token))
    assert removed.status_code == 200
    assert removed.json() == {"id": "2410.18234", "upvoted": False, "upvotes": 3}
    assert client.delete(target, headers=bearer(token)).json()["upvotes"] == 3
    assert upvotes_seen(client, "2410.18234") == (3, 3)
    listed = {p["id"]: p["upvotes"] for p in client.get("/api/papers", params={"limit": 100}).json()}
    assert listed["2410.18234"] == 3
    assert upvotes_seen(client, "2410.17243") == (64, 64)  # other papers untouched

    # Creating a new token revokes the old one.
    replacement = token_from_account_page(client)
    assert_json_error(client.post(target, headers=bearer(token)), 401, "Authorization")
    assert client.post(target, headers=bearer(replacement)).json()["upvotes"] == 4


def test_upvote_reorders_the_day(client: TestClient, sessions: sessionmaker[Session]) -> None:
    # 2410.18538, 2410.18977 and 2410.18451 have 11 upvotes each, in this order (newest submission first).
    tokens = [new_token(sessions, name) for name in ("erin", "frank")]
    for token in tokens:
        assert client.post("/api/papers/2410.18451/upvote", headers=bearer(token)).status_code == 200

    order = ids_of(client.get("/api/daily_papers", params={"date": DAY}).json())

    assert order.index("2410.18451") < order.index("2410.18538") < order.index("2410.18977")
    assert order.index("2410.18451") == order.index("2410.18745") + 1  # 13 votes: right after the 14


def test_upvotes_on_old_style_and_unknown_ids(client: TestClient, sessions: sessionmaker[Session]) -> None:
    token = new_token(sessions, "grace")
    with sessions() as session, session.begin():
        upsert_papers(session, [OLD_STYLE])

    response = client.post("/api/papers/hep-th/9901001/upvote", headers=bearer(token))

    assert response.status_code == 200, response.text
    assert response.json() == {"id": "hep-th/9901001", "upvoted": True, "upvotes": 1}
    assert client.get("/api/papers/hep-th/9901001").json()["upvotes"] == 1
    for method in ("POST", "DELETE"):
        assert_json_error(
            client.request(method, "/api/papers/2501.00001/upvote", headers=bearer(token)), 404, "id"
        )


def test_local_comments_add_to_num_comments(client: TestClient, sessions: sessionmaker[Session]) -> None:
    def counts() -> tuple[int, int]:
        (entry,) = [
            e
            for e in client.get("/api/daily_papers", params={"date": DAY}).json()
            if e["paper"]["id"] == "2410.17243"
        ]
        return entry["numComments"], client.get("/api/papers/2410.17243").json()["numComments"]

    daily_before, details_before = counts()
    assert daily_before == 3  # imported from the Hugging Face response
    assert details_before == daily_before  # one count, whichever endpoint asks
    with sessions() as session, session.begin():
        user = create_user(session, "kim@example.org", "kim", PASSWORD)
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == "2410.17243"))
        assert paper is not None
        add_comment(session, user, paper, "A first comment.")
        add_comment(session, user, paper, "A second comment.")
        removed = add_comment(session, user, paper, "Deleted again.")
        delete_comment(session, user, removed.id)

    assert counts() == (daily_before + 2, details_before + 2)


# --- POST /api/papers/index ------------------------------------------------------------------------------


def test_index_fetches_stores_and_lists_the_paper_today(
    settings: Settings,
    sessions: sessionmaker[Session],
    shared_data: Path,
    arxiv_server: FixtureServer,
) -> None:
    ingest_hf_daily(sessions, shared_data)
    client = app_with_arxiv_at(settings, arxiv_server.api_url)
    token = new_token(sessions, "heidi")
    today = utcnow().date().isoformat()

    assert_json_error(client.post("/api/papers/index", json={"arxivId": INDEXABLE_ID}), 401, "Authorization")
    assert arxiv_server.logged() == [] and paper_count(sessions) == 29

    before = datetime.now(UTC).replace(tzinfo=None)
    created = client.post("/api/papers/index", json={"arxivId": INDEXABLE_ID}, headers=bearer(token))

    assert created.status_code == 201, created.text
    paper = created.json()
    assert paper["id"] == INDEXABLE_ID
    assert paper["title"] == INDEXABLE_TITLE
    assert [a["name"] for a in paper["authors"]] == ["Caprice Stanley", "Tobias Windisch"]
    assert paper["publishedAt"] == "2016-05-26T17:59:46.000Z"
    assert paper["upvotes"] == 0
    assert [r.params.get("id_list") for r in arxiv_server.logged("/api/query")] == [INDEXABLE_ID]
    assert paper_count(sessions) == 30
    details = client.get(f"/api/papers/{INDEXABLE_ID}").json()
    assert details["categories"] == ["math.CO", "math.ST"]
    assert details["summary"].startswith("Graphs on lattice points are studied whose edges")
    (entry,) = client.get("/api/daily_papers", params={"date": today}).json()
    assert entry["paper"]["id"] == INDEXABLE_ID
    assert entry["submittedBy"]["name"] == "heidi"
    assert before <= hf_time(entry["publishedAt"]) <= datetime.now(UTC).replace(tzinfo=None)
    assert ids_of(client.get("/api/daily_papers", params={"date": DAY}).json())[0] == "2410.17243"

    # The same paper again (also as a versioned abs URL): 200, nothing duplicated, no new fetch.
    for again in (INDEXABLE_ID, f"https://arxiv.org/abs/{INDEXABLE_ID}v1"):
        repeated = client.post("/api/papers/index", json={"arxivId": again}, headers=bearer(token))
        assert repeated.status_code == 200, repeated.text
        assert repeated.json()["id"] == INDEXABLE_ID
    assert paper_count(sessions) == 30
    assert daily_count(sessions) == 30
    assert len(client.get("/api/daily_papers", params={"date": today}).json()) == 1
    assert len(arxiv_server.logged("/api/query")) == 1


def test_index_refuses_a_paper_older_than_the_submission_window(
    settings: Settings, sessions: sessionmaker[Session], arxiv_server: FixtureServer
) -> None:
    client = app_with_arxiv_at(settings, arxiv_server.api_url, window_days=14)
    token = new_token(sessions, "heidi")
    refused = client.post("/api/papers/index", json={"arxivId": INDEXABLE_ID}, headers=bearer(token))
    body = assert_json_error(refused, 400, "arxivId")
    assert "was first published on arXiv on May 26, 2016" in str(body)
    assert "within 14 days of their first version" in str(body)
    assert paper_count(sessions) == 0 and daily_count(sessions) == 0


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"arxivId": "not an id"}, 400),
        ({"arxivId": ""}, 400),
        ({"arxivId": "https://example.org/abs/1605.08386x"}, 400),
        ({"arxivId": EMPTY_RESULT_ID}, 400),  # well-formed, but arXiv has no such paper
        ({"arxivId": "1" * 301}, 422),
        ({"arxivId": 1605.08386}, 422),
        ({}, 422),
    ],
)
def test_index_refuses_bad_ids_naming_arxiv_id(
    settings: Settings,
    sessions: sessionmaker[Session],
    arxiv_server: FixtureServer,
    body: dict[str, Any],
    status: int,
) -> None:
    client = app_with_arxiv_at(settings, arxiv_server.api_url)
    token = new_token(sessions, "ivan")

    response = client.post("/api/papers/index", json=body, headers=bearer(token))

    assert_json_error(response, status, "arxivId")
    assert paper_count(sessions) == 0 and daily_count(sessions) == 0
    fetched = [r.params.get("id_list") for r in arxiv_server.logged("/api/query")]
    assert fetched == ([EMPTY_RESULT_ID] if body.get("arxivId") == EMPTY_RESULT_ID else [])


def test_index_when_arxiv_is_unreachable_is_a_502_and_saves_nothing(
    settings: Settings, sessions: sessionmaker[Session], shared_data: Path, arxiv_server: FixtureServer
) -> None:
    ingest_hf_daily(sessions, shared_data)
    token = new_token(sessions, "judy")
    today = utcnow().date().isoformat()
    down = app_with_arxiv_at(settings, f"http://127.0.0.1:{closed_port()}/api/query")
    arxiv_server.fail_with_status({"id_list": INDEXABLE_ID}, status=503, retry_after=None, times=None)
    failing = app_with_arxiv_at(settings, arxiv_server.api_url)

    for client in (down, failing):
        response = client.post("/api/papers/index", json={"arxivId": INDEXABLE_ID}, headers=bearer(token))

        body = assert_json_error(response, 502, "arxivId")
        assert "nothing was saved" in body["error"]
        assert paper_count(sessions) == 29 and daily_count(sessions) == 29
        assert client.get("/api/daily_papers", params={"date": today}).json() == []
        assert_json_error(client.get(f"/api/papers/{INDEXABLE_ID}"), 404, "id")
    assert {r.status for r in arxiv_server.logged("/api/query")} == {503}


# --- feeds -----------------------------------------------------------------------------------------------


def test_daily_rss_feed_holds_the_day_most_upvoted_first(
    client: TestClient, fixture_entries: list[dict[str, Any]]
) -> None:
    for params in ({}, {"date": DAY}):
        response = client.get("/feeds/daily.rss", params=params)

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/rss+xml")
        root = parse_xml(response)
        assert root.tag == "rss" and root.get("version") == "2.0"
        channel = root.find("channel")
        assert channel is not None
        assert "October 25, 2024" in (channel.findtext("title") or "")
        assert channel.findtext("link")
        items = channel.findall("item")
        assert len(items) == 29
        links = [item.findtext("link") or "" for item in items]
        assert [link.rsplit("/papers/", 1)[1] for link in links] == ids_of(fixture_entries)
        assert [item.findtext("guid") for item in items] == links
        assert [item.findtext("title") for item in items] == [
            squash(e["paper"]["title"]) for e in fixture_entries
        ]
        assert all(item.findtext("description") and item.findtext("pubDate") for item in items)


def test_daily_atom_feed(client: TestClient, fixture_entries: list[dict[str, Any]]) -> None:
    response = client.get("/feeds/daily.atom", params={"week": "2024-W43"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    root = parse_xml(response)
    assert root.tag == f"{ATOM}feed"
    assert root.findtext(f"{ATOM}id") and root.findtext(f"{ATOM}updated")
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 29
    ids = [entry.findtext(f"{ATOM}id") or "" for entry in entries]
    assert [i.rsplit("/papers/", 1)[1] for i in ids] == ids_of(fixture_entries)
    for entry, want in zip(entries, fixture_entries, strict=True):
        assert entry.findtext(f"{ATOM}title") == squash(want["paper"]["title"])
        updated = datetime.fromisoformat(entry.findtext(f"{ATOM}updated") or "")
        assert updated.replace(tzinfo=None) == hf_time(want["publishedAt"])
        authors = [a.findtext(f"{ATOM}name") for a in entry.findall(f"{ATOM}author")]
        assert authors == [a["name"] for a in want["paper"]["authors"] if not a["hidden"]]
    empty = parse_xml(client.get("/feeds/daily.atom", params={"date": "2024-10-24"}))
    assert empty.findall(f"{ATOM}entry") == []


def test_trending_feeds_follow_the_trending_order(
    client: TestClient, fixture_entries: list[dict[str, Any]]
) -> None:
    expected = expected_trending_ids(fixture_entries)

    rss = parse_xml(client.get("/feeds/trending.rss"))
    atom = parse_xml(client.get("/feeds/trending.atom"))

    assert [(i.findtext("link") or "").rsplit("/papers/", 1)[1] for i in rss.iter("item")] == expected
    assert [
        (e.findtext(f"{ATOM}id") or "").rsplit("/papers/", 1)[1] for e in atom.iter(f"{ATOM}entry")
    ] == expected


def test_feeds_of_an_empty_store_are_valid_and_empty(settings: Settings) -> None:
    client = make_client(settings)
    for fmt in ("rss", "atom"):
        for name in ("daily", "trending"):
            response = client.get(f"/feeds/{name}.{fmt}")
            assert response.status_code == 200
            root = parse_xml(response)
            assert list(root.iter("item")) == [] and list(root.iter(f"{ATOM}entry")) == []


def test_paper_text_round_trips_through_the_feeds_as_text(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    title = 'Cats & Dogs <script>alert(1)</script> "quoted" ]]> &amp;'
    abstract = "Less < more & <b>bold</b> claims; ]]> is not the end."
    authors = ("Émile <img src=x onerror=alert(1)>", "O'Brien & Sons")
    record = PaperRecord(
        arxiv_id="2410.99999", title=title, abstract=abstract, source="test", authors=authors
    )
    with sessions() as session, session.begin():
        upsert_papers(session, [record])
        upsert_daily(
            session,
            [
                DailyRecord(
                    arxiv_id="2410.99999",
                    date=datetime(2024, 10, 25).date(),
                    submitted_at=datetime(2024, 10, 25, 23, 0, 0),
                    source="test",
                    submitter_name="zoe",
                )
            ],
        )

    rss = client.get("/feeds/daily.rss", params={"date": DAY})
    atom = client.get("/feeds/daily.atom", params={"date": DAY})

    assert b"<script>" not in rss.content and b"<script>" not in atom.content
    (item,) = [i for i in parse_xml(rss).iter("item") if (i.findtext("link") or "").endswith("/2410.99999")]
    assert item.findtext("title") == title
    assert item.findtext("description") == f"{abstract}\n\n0 upvotes, 0 comments"  # and the totals
    assert item.findtext("author") == ", ".join(authors)
    (entry,) = [
        e
        for e in parse_xml(atom).iter(f"{ATOM}entry")
        if (e.findtext(f"{ATOM}id") or "").endswith("/2410.99999")
    ]
    assert entry.findtext(f"{ATOM}title") == title
    assert entry.findtext(f"{ATOM}summary") == f"{abstract}\n\n0 upvotes, 0 comments"
    assert [a.findtext(f"{ATOM}name") for a in entry.findall(f"{ATOM}author")] == list(authors)
    # The JSON API gives the same text back unchanged.
    (listed,) = [
        e
        for e in client.get("/api/daily_papers", params={"date": DAY}).json()
        if e["paper"]["id"] == "2410.99999"
    ]
    assert listed["title"] == title and listed["paper"]["summary"] == abstract


def test_search_feeds(
    settings: Settings, sessions: sessionmaker[Session], shared_data: Path, embedder: MemoizingEmbedder
) -> None:
    ingest_hf_daily(sessions, shared_data)
    Indexer(sessions, settings.home, embedder).run()
    client = make_client(settings, embedder=embedder)
    query = "speculative sampling draft & <tokens>"

    rss = client.get("/feeds/search.rss", params={"q": query, "limit": 5})
    atom = client.get("/feeds/search.atom", params={"q": query, "limit": 5})

    assert rss.status_code == 200 and atom.status_code == 200
    assert rss.headers["content-type"].startswith("application/rss+xml")
    rss_root, atom_root = parse_xml(rss), parse_xml(atom)
    assert rss_root.findtext("channel/title") == f"Search: {query}"
    assert atom_root.findtext(f"{ATOM}title") == f"Search: {query}"
    items = rss_root.findall("channel/item")
    entries = atom_root.findall(f"{ATOM}entry")
    assert 1 <= len(items) <= 5 and len(entries) == len(items)
    assert (items[0].findtext("link") or "").endswith("/papers/2410.18234")
    assert (entries[0].findtext(f"{ATOM}id") or "").endswith("/papers/2410.18234")
    assert (items[0].findtext("title") or "").startswith("Multi-Draft Speculative Sampling")
    assert all(e.findtext(f"{ATOM}updated") for e in entries)
    # Characters XML cannot hold must not break the feed (it echoes the query in its title).
    for fmt in ("rss", "atom"):
        for hostile in ("speculative\x0bsampling\x1b", "speculative\x00sampling"):
            response = client.get(f"/feeds/search.{fmt}", params={"q": hostile})
            assert response.status_code == 200, response.text
            root = parse_xml(response)
            title = root.findtext("channel/title") if fmt == "rss" else root.findtext(f"{ATOM}title")
            assert title == "Search: speculativesampling"

    for fmt in ("rss", "atom"):
        assert_json_error(client.get(f"/feeds/search.{fmt}", params={"q": ""}), 400, "q")
        assert_json_error(client.get(f"/feeds/search.{fmt}", params={"q": "AND OR"}), 400, "q")
        assert_json_error(client.get(f"/feeds/search.{fmt}"), 422, "q")
        assert_json_error(client.get(f"/feeds/search.{fmt}", params={"q": "x", "limit": 0}), 422, "limit")
