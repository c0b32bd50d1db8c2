"""Regression tests for what an outside test round found (issue 11): each of these answered 500, aborted
an ingest, or let a link act on the viewer's account, before the fix."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from paperboy.cli import app as cli_app
from paperboy.config import Settings
from paperboy.digest.service import DigestService
from paperboy.digest.subscriptions import SubscriptionRequest
from paperboy.links import paper_path
from web_support import PASSWORD, csrf_token, ingest_hf_daily, make_client, sign_up


@pytest.fixture
def client(settings: Settings, sessions: sessionmaker[Session], shared_data: Path) -> TestClient:
    ingest_hf_daily(sessions, shared_data)
    return make_client(settings)


# --- 1. a non-ASCII CSRF token -----------------------------------------------------------------
@pytest.mark.parametrize("where", ["field", "header"])
@pytest.mark.parametrize("path", ["/login", "/signup", "/subscribe", "/logout"])
def test_a_non_ascii_csrf_token_is_refused_not_a_500(client: TestClient, where: str, path: str) -> None:
    csrf_token(client, "/login")  # the browser has its CSRF cookie
    hostile = "é" * 64
    if where == "field":
        response = client.post(path, data={"csrf_token": hostile, "login": "a", "password": "b"})
    else:
        response = client.post(path, data={"login": "a"}, headers={"X-CSRF-Token": hostile.encode()})
    assert response.status_code == 403 and "Form expired" in response.text
    assert client.get("/healthz").status_code == 200, "the server keeps answering"


def test_the_csrf_token_is_bound_to_the_session_and_replaced_at_sign_in(client: TestClient) -> None:
    before = csrf_token(client, "/signup")
    sign_up(client, "alice")
    after = csrf_token(client, "/account")
    assert before != after
    refused = client.post("/account/token", data={"csrf_token": before})
    assert refused.status_code == 403, "a token seen before signing in is worthless after it"
    assert client.post("/account/token", data={"csrf_token": after}).status_code == 200


# --- 3. one bad record must not abort an ingest ------------------------------------------------
def _records(shared_data: Path, count: int) -> list[dict[str, object]]:
    lines = (shared_data / "arxiv" / "arxiv_api_2023-2025.part01.jsonl").read_text().splitlines()[:count]
    return [json.loads(line) for line in lines]


def _papers(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT COUNT(*) FROM papers")).scalar_one())


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ({"version": "v99999999999999999999"}, "field 'version': not a version number"),
        ({"version": "v²"}, "field 'version': not a version number"),
        ({"upvotes": 1099511627776}, "field 'upvotes': expected a whole number from 0 to 2147483647"),
        ({"id": "x/../../../account/token?"}, "unusable id"),
        ({"id": "logout?"}, "unusable id"),
    ],
)
def test_a_record_out_of_range_is_rejected_alone(
    cli: CliRunner, engine: Engine, shared_data: Path, tmp_path: Path, bad: dict[str, object], reason: str
) -> None:
    records = _records(shared_data, 30)
    records[12] = {**records[12], **bad}
    path = tmp_path / "papers.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    assert cli.invoke(cli_app, ["init"]).exit_code == 0
    result = cli.invoke(cli_app, ["ingest", "jsonl", str(path), "--json"])
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert (summary["new"], summary["rejected"]) == (29, 1)
    assert summary["rejections"][0].startswith(f"{path}:13: ") and reason in summary["rejections"][0]
    assert _papers(engine) == 29


def test_deeply_nested_json_is_one_rejected_line(
    cli: CliRunner, engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    lines = [json.dumps(r) for r in _records(shared_data, 10)]
    lines[4] = "[" * 100_000 + "]" * 100_000
    path = tmp_path / "papers.jsonl"
    path.write_text("\n".join(lines) + "\n")
    assert cli.invoke(cli_app, ["init"]).exit_code == 0
    summary = json.loads(cli.invoke(cli_app, ["ingest", "jsonl", str(path), "--json"]).stdout)
    assert summary["rejections"] == [f"{path}:5: invalid JSON: nested too deeply"]
    assert _papers(engine) == 9


def test_one_invalid_byte_in_a_csv_rejects_its_row_only(
    cli: CliRunner, engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    rows = [b"id,title,abstract"]
    for n, record in enumerate(_records(shared_data, 1200)):
        title = str(record["title"]).replace('"', "'").encode()
        abstract = str(record["abstract"]).replace('"', "'").encode()
        if n == 700:
            abstract = abstract[:20] + b"\xff" + abstract[20:]
        rows.append(b'"%s","%s","%s"' % (str(record["id"]).encode(), title, abstract))
    path = tmp_path / "papers.csv"
    path.write_bytes(b"\n".join(rows) + b"\n")
    assert cli.invoke(cli_app, ["init"]).exit_code == 0
    result = cli.invoke(cli_app, ["ingest", "csv", str(path), "--json"])
    summary = json.loads(result.stdout)
    assert (summary["new"], summary["rejected"]) == (1199, 1), summary
    last_line_of_the_bad_row = b"\n".join(rows[:702]).count(b"\n") + 1  # csv counts physical lines
    assert summary["rejections"] == [f"{path}:{last_line_of_the_bad_row}: not UTF-8 text"]
    assert _papers(engine) == 1199, "the open batch and every row after it are kept"


def test_a_truncated_gzip_keeps_what_was_read_and_says_where_it_ends(
    cli: CliRunner, engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    whole = gzip.compress(("\n".join(json.dumps(r) for r in _records(shared_data, 600)) + "\n").encode())
    path = tmp_path / "papers.jsonl.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    assert cli.invoke(cli_app, ["init"]).exit_code == 0
    result = cli.invoke(cli_app, ["ingest", "jsonl", str(path), "--json"])
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout)
    assert (
        summary["rejected"] == 1
        and "the compressed file is damaged or ends early" in summary["rejections"][0]
    )
    assert 100 < _papers(engine) < 600 and summary["new"] == _papers(engine)


# --- 4. more 500s ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "path", ["/comments/{}/edit", "/comments/{}/delete", "/comments/{}/hide", "/daily/{}/remove"]
)
@pytest.mark.parametrize("row_id", [2**31, 2**63, 2**70, -1, 0])
def test_ids_out_of_the_database_range_are_refused(client: TestClient, path: str, row_id: int) -> None:
    token = sign_up(client, "alice")
    response = client.post(path.format(row_id), data={"csrf_token": token, "body": "x", "hidden": "true"})
    assert response.status_code in (400, 404, 422), response.text[:200]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("send_hour", "²", "send_hour must be between 0 and 23"),
        ("max_papers", "³", "max_papers must be between 1 and 100"),
        ("timezone", "America", "is not a time zone"),
        ("timezone", "../../etc/passwd", "is not a time zone"),
        ("keywords", "dif\x00fusion", "NUL"),
    ],
)
def test_subscription_fields_are_checked_not_a_500(
    client: TestClient, field: str, value: str, message: str
) -> None:
    token = csrf_token(client, "/subscribe")
    response = client.post(
        "/subscribe",
        data={"csrf_token": token, "email": "reader@example.org", "frequency": "daily", field: value},
    )
    assert response.status_code == 400 and message in response.text


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/login", {"login": "ali\x00ce", "password": PASSWORD}),
        (
            "/signup",
            {"email": "a@example.org", "username": "bob", "password": PASSWORD, "display_name": "B\x00b"},
        ),
        ("/papers/2410.17243/comments", {"body": "a NUL \x00 in a comment"}),
    ],
)
def test_a_nul_character_in_a_form_is_refused(client: TestClient, path: str, fields: dict[str, str]) -> None:
    token = sign_up(client, "alice") if "comments" in path else csrf_token(client, "/login")
    response = client.post(path, data={"csrf_token": token, **fields})
    assert response.status_code == 400 and "NUL" in response.text


def test_a_database_that_cannot_be_written_answers_503_and_the_connection_stays_usable(
    client: TestClient, settings: Settings
) -> None:
    token = sign_up(client, "alice")
    if settings.effective_database_url.startswith("sqlite"):
        database = Path(settings.effective_database_url.removeprefix("sqlite:///"))
        database.chmod(0o444)  # as root the file stays writable: point the app at a folder instead
    broken = make_client(settings.model_copy(update={"database_url": "sqlite:////proc/no-such/db.sqlite"}))
    response = broken.get("/papers/2410.17243")
    assert response.status_code == 503 and "cannot be opened" in response.text
    assert response.headers["retry-after"] == "60"
    assert broken.get("/healthz").status_code == 503, "the same connection answers the next request"
    if settings.effective_database_url.startswith("sqlite"):
        database.chmod(0o644)
    assert client.post("/papers/2410.17243/upvote", data={"csrf_token": token}).status_code == 303


# --- 5. ids go into URLs encoded ---------------------------------------------------------------
def test_paper_links_are_path_encoded() -> None:
    assert paper_path("hep-th/9901001") == "/papers/hep-th/9901001"
    assert paper_path("x?y#z") == "/papers/x%3Fy%23z"
    assert paper_path("a b%") == "/papers/a%20b%25"


# --- 6. passwords and sign-in throttling -------------------------------------------------------
@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short pas", "at least 10 characters"),
        ("password123", "one of the most common"),
        ("qwertyuiop", "one of the most common"),
        ("alice-is-the-best", "must not contain your username"),
    ],
)
def test_weak_passwords_are_refused(client: TestClient, password: str, message: str) -> None:
    token = csrf_token(client, "/signup")
    response = client.post(
        "/signup",
        data={"csrf_token": token, "email": "alice@example.org", "username": "alice", "password": password},
    )
    assert response.status_code == 400 and message in response.text


def test_sign_in_is_throttled_per_account_whatever_the_address(
    settings: Settings, sessions: sessionmaker[Session], shared_data: Path
) -> None:
    roomy = settings.model_copy(update={"rate_limit_auth": 3})
    owner = make_client(roomy)
    sign_up(owner, "alice")
    attempts = []
    for n in range(4):
        attacker = TestClient(owner.app, client=(f"10.0.0.{n}", 4000 + n), follow_redirects=False)
        token = csrf_token(attacker, "/login")
        attempts.append(
            attacker.post("/login", data={"csrf_token": token, "login": "alice", "password": f"guess {n}"})
        )
    assert [a.status_code for a in attempts] == [400, 400, 400, 429]
    elsewhere = TestClient(owner.app, client=("10.0.0.9", 5000), follow_redirects=False)
    token = csrf_token(elsewhere, "/login")
    assert (
        elsewhere.post("/login", data={"csrf_token": token, "login": "bob", "password": "x"}).status_code
        == 400
    )


# --- 7. email and feed links -------------------------------------------------------------------
def test_an_old_preferences_link_does_not_restart_an_unsubscribed_digest(
    settings: Settings, sessions: sessionmaker[Session]
) -> None:
    service = DigestService(settings, sessions)
    outcome = service.subscribe_confirmed(SubscriptionRequest("reader@example.org", "daily"))
    with sessions() as session:
        from paperboy.db.models import Subscription

        subscription = session.get(Subscription, outcome.subscription_id)
        assert subscription is not None
        token = service.links(subscription).preferences.split("token=")[1]
    service.unsubscribe(token)
    service.update(token, SubscriptionRequest("reader@example.org", "daily", max_papers=5))
    assert service.find(token).status == "unsubscribed"


def test_feeds_without_a_base_url_do_not_trust_the_host_header(
    client: TestClient, settings: Settings
) -> None:
    feed = client.get("/feeds/daily.atom", headers={"Host": "evil.example"})
    assert feed.status_code == 200 and "evil.example" not in feed.text
    assert f"http://127.0.0.1:{settings.port}/papers/" in feed.text
    here = client.get("/feeds/daily.atom", headers={"Host": f"localhost:{settings.port}"})
    assert f"http://localhost:{settings.port}/papers/" in here.text


def test_links_in_emails_use_the_port_serve_listens_on(settings: Settings) -> None:
    from paperboy.digest.links import site_url

    assert site_url(settings.model_copy(update={"port": 9123})) == "http://127.0.0.1:9123"
    assert (
        site_url(settings.model_copy(update={"base_url": "https://papers.example/"}))
        == "https://papers.example"
    )


def test_serve_refuses_a_port_out_of_range(cli: CliRunner) -> None:
    result = cli.invoke(cli_app, ["serve", "--port", "99999"])
    assert result.exit_code == 2 and "--port must be between 1 and 65535, got 99999" in result.output
