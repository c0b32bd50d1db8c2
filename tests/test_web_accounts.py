"""Accounts and security over HTTP: sign-up, sign-in, sign-out, password change and `next` redirects; CSRF
on every form route; escaping of paper text, names and comments on every page; security headers and
scripts; rate limits. Every test runs against SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import fastapi.routing
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from http_fixture_server import FixtureServer
from paperboy.community.submissions import arxiv_fetcher
from paperboy.config import Settings
from paperboy.db.models import (
    AuthorFollow,
    Collection,
    CollectionPaper,
    Comment,
    DailyEntry,
    MutedInterest,
    Paper,
    PaperNote,
    PaperRead,
    PaperSignal,
    Subscription,
    User,
    UserPreferences,
    UserSession,
    Vote,
)
from paperboy.search.indexer import Indexer
from search_support import MemoizingEmbedder
from test_web_pages import (
    DAY,
    TOP,
    add_paper,
    assert_no_active_content,
    browser,
    closed_port,
    comment_id_of,
    elements,
    first_match,
    item_of,
    post,
)
from web_support import (
    PASSWORD,
    csrf_token,
    ingest_hf_daily,
    make_admin,
    make_client,
    open_signup_link,
    outbox_messages,
    sign_up,
    signup_link,
)

SESSION = "pb_session"
NEW_PASSWORD = "a different long passphrase"
LOGIN_FAILED = "That email or username and password do not match an account."


def login(client: TestClient, name: str, password: str = PASSWORD, **extra: str) -> Any:
    token = csrf_token(client, "/login")
    return client.post("/login", data={"csrf_token": token, "login": name, "password": password, **extra})


def signed_in_as(client: TestClient) -> str | None:
    """The username the account page shows, or None when it sends the browser to sign in."""
    page = client.get("/account")
    if page.status_code == 303:
        assert page.headers["location"] == "/login?next=%2Faccount"
        return None
    assert page.status_code == 200
    match = re.search(r"Signed in as <strong>([^<]+)</strong>", page.text)
    assert match
    return match.group(1)


def session_cookie_header(response: Any) -> str:
    (header,) = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{SESSION}=")]
    return str(header)


def field_error(html: str, field: str) -> str | None:
    match = re.search(rf'<p class="field-error" id="{field}-error" role="alert">(.*?)</p>', html)
    return unescape(match.group(1)) if match else None


def users(sessions: sessionmaker[Session]) -> list[tuple[str, str]]:
    with sessions() as session:
        return sorted((row.username, row.email) for row in session.execute(select(User.username, User.email)))


def session_rows(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return len(session.scalars(select(UserSession.token_hash)).all())


def password_hash(sessions: sessionmaker[Session], username: str) -> str:
    with sessions() as session:
        value = session.scalar(select(User.password_hash).where(User.username == username))
        assert value is not None
        return value


@pytest.fixture
def client(settings: Settings, embedder: MemoizingEmbedder) -> TestClient:
    return make_client(settings, embedder)


@pytest.fixture
def daily(sessions: sessionmaker[Session], shared_data: Path) -> None:
    """The real daily list of 2024-10-25."""
    ingest_hf_daily(sessions, shared_data)


# --- sign-up -------------------------------------------------------------------------------------


def test_sign_up_does_not_tell_whether_an_address_has_an_account(
    client: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    """ASVS 2.5: the form answers alike; only the mailbox learns that the address had an account."""
    sign_up(browser(client), "alice", email="alice@example.org")
    answers = []
    for address, name in (("ALICE@example.org", "alice2"), ("nobody@example.org", "nobody")):
        visitor = browser(client)
        token = csrf_token(visitor, "/signup")
        form = {"csrf_token": token, "email": address, "username": name, "password": PASSWORD}
        answers.append(visitor.post("/signup", data=form))
    assert answers[0].status_code == answers[1].status_code == 200
    shown = [
        re.sub(re.escape(address), "ADDRESS", re.sub(r'value="[0-9a-f]{64}"', "CSRF", a.text), flags=re.I)
        for a, address in zip(answers, ("alice@example.org", "nobody@example.org"), strict=True)
    ]
    assert "We sent an email to ADDRESS." in shown[0]
    assert shown[0] == shown[1]
    assert settings.mail_outbox is not None
    last = {str(m["To"]).lower(): m for m in outbox_messages(settings.mail_outbox)}
    assert last["alice@example.org"]["Subject"] == "You already have a Paperboy account"
    assert (
        "/signup/confirm" not in last["alice@example.org"].get_body(preferencelist=("plain",)).get_content()
    )  # type: ignore[union-attr]
    assert last["nobody@example.org"]["Subject"] == "Finish creating your Paperboy account"
    assert [u for u, _ in users(sessions)] == ["alice"]


def test_a_sign_up_link_is_signed_and_works_once(client: TestClient, sessions: sessionmaker[Session]) -> None:
    token = csrf_token(client, "/signup")
    form = {"csrf_token": token, "email": "carol@example.org", "username": "carol", "password": PASSWORD}
    assert client.post("/signup", data=form).status_code == 200
    link = signup_link(client, "carol@example.org")
    tampered = client.get(link[:-4] + ("AAAA" if not link.endswith("AAAA") else "BBBB"))
    assert tampered.status_code == 400 and "not valid" in tampered.text
    shown = client.get(link)
    assert "The account <strong>carol</strong> for <strong>carol@example.org</strong>" in shown.text
    assert users(sessions) == [], "opening the link (a GET, as mail scanners do) creates nothing"
    assert open_signup_link(client, link).status_code == 303
    again = open_signup_link(browser(client), link)
    assert again.status_code == 400 and "has an account already" in again.text
    assert [u for u, _ in users(sessions)] == ["carol"]


def test_a_server_without_mail_saves_readable_emails(client: TestClient, settings: Settings) -> None:
    """PAPERBOY_MAIL_OUTBOX (what `make run` uses): each email is an .eml file and a .txt beside it whose
    link is whole (the .eml's plain part is quoted-printable, which cuts long links)."""
    token = csrf_token(client, "/signup")
    form = {"csrf_token": token, "email": "dan@example.org", "username": "dan", "password": PASSWORD}
    answer = client.post("/signup", data=form)
    assert settings.mail_outbox is not None
    assert f"saved as files in {settings.mail_outbox}" in answer.text
    texts = sorted(Path(settings.mail_outbox).glob("*.txt"))
    assert len(texts) == 1 and texts[0].with_suffix(".eml").exists()
    readable = texts[0].read_text()
    assert "To: dan@example.org" in readable and "Subject: Finish creating your Paperboy account" in readable
    link = re.search(r"http://\S+(/signup/confirm\?token=\S+)", readable)
    assert link and link.group(1) == signup_link(client, "dan@example.org")


def test_sign_up_creates_an_argon2_account_and_signs_in(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    token = csrf_token(client, "/signup")
    response = client.post(
        "/signup",
        data={
            "csrf_token": token,
            "email": "Alice@Example.ORG",
            "username": "alice",
            "display_name": "Alice Liddell",
            "password": PASSWORD,
        },
    )

    assert response.status_code == 200 and "Check your inbox" in response.text
    assert users(sessions) == [], "the account exists once the emailed link is opened"
    response = open_signup_link(client, signup_link(client, "Alice@example.org"))
    assert response.status_code == 303
    assert response.headers["location"] == "/?notice=signed-up"
    cookie = session_cookie_header(response)
    assert "httponly" in cookie.lower()
    assert "samesite=lax" in cookie.lower()
    assert "path=/" in cookie.lower()
    assert f"max-age={30 * 86400}" in cookie.lower()
    home = client.get(response.headers["location"]).text
    assert "Welcome to Paperboy! Your account is ready." in home
    assert '<a href="/account" class="who">Alice Liddell</a>' in home
    assert signed_in_as(client) == "alice"

    assert users(sessions) == [("alice", "Alice@example.org")]
    stored = password_hash(sessions, "alice")
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert PasswordHasher().verify(stored, PASSWORD)
    assert session_rows(sessions) == 1


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"email": "not-an-email"}, "email", "'not-an-email' is not a valid email address"),
        ({"email": ""}, "email", "an email address is required"),
        ({"password": "short"}, "password", "the password must have at least 10 characters"),
        ({"password": " " * 12}, "password", "the password cannot be only spaces"),
        ({"username": "x"}, "username", "a username has 2 to 39 letters, digits"),
        ({"username": "bad name!"}, "username", "a username has 2 to 39 letters, digits"),
        ({"username": "ALICE"}, "username", "this username is taken"),
    ],
)
def test_sign_up_errors_are_shown_next_to_their_field(
    client: TestClient, sessions: sessionmaker[Session], fields: dict[str, str], field: str, message: str
) -> None:
    sign_up(browser(client), "alice", email="ALICE@example.org")
    before = users(sessions)
    form = {
        "email": "bob@example.org",
        "username": "bob",
        "password": PASSWORD,
        "display_name": "Bob",
        **fields,
    }
    token = csrf_token(client, "/signup")

    response = client.post("/signup", data={"csrf_token": token, **form})

    assert response.status_code == 400
    shown = field_error(response.text, field)
    assert shown is not None and message in shown
    assert f'aria-describedby="{field}-error"' in response.text
    for other in ("email", "username", "password", "display_name"):
        if other != field:
            assert field_error(response.text, other) is None
    # what was typed stays in the form, except the password
    if field != "email":
        assert f'value="{form["email"]}"' in response.text
    assert 'value="Bob"' in response.text
    assert PASSWORD not in response.text
    assert not [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{SESSION}=")]
    assert users(sessions) == before
    assert signed_in_as(client) is None


def test_sign_up_shows_every_error_at_once(client: TestClient, sessions: sessionmaker[Session]) -> None:
    sign_up(browser(client), "alice")
    token = csrf_token(client, "/signup")
    form = {"csrf_token": token, "email": "nope", "username": "Alice", "password": "short"}
    response = client.post("/signup", data=form)
    assert response.status_code == 400
    assert "is not a valid email address" in (field_error(response.text, "email") or "")
    assert "this username is taken" in (field_error(response.text, "username") or "")
    assert "at least 10 characters" in (field_error(response.text, "password") or "")
    assert [u for u, _ in users(sessions)] == ["alice"]


# --- sign-in and sign-out ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["alice", "ALICE", "alice@example.org", "Alice@EXAMPLE.org"])
def test_sign_in_by_username_or_email(client: TestClient, sessions: sessionmaker[Session], name: str) -> None:
    sign_up(browser(client), "alice")
    response = login(client, name)
    assert response.status_code == 303
    assert response.headers["location"] == "/?notice=signed-in"
    cookie = session_cookie_header(response).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "Welcome back — you are signed in." in client.get(response.headers["location"]).text
    assert signed_in_as(client) == "alice"
    assert session_rows(sessions) == 2  # the sign-up's and this one


@pytest.mark.parametrize(
    ("name", "password"),
    [("alice", "wrong password!"), ("nobody", PASSWORD), ("nobody@example.org", PASSWORD), ("alice", "")],
)
def test_failed_sign_in_is_a_400_with_one_generic_message(
    client: TestClient, sessions: sessionmaker[Session], name: str, password: str
) -> None:
    sign_up(browser(client), "alice")
    response = login(client, name, password)
    assert response.status_code == 400
    match = re.search(r'<p class="field-error" role="alert">(.*?)</p>', response.text)
    assert match and unescape(match.group(1)) == LOGIN_FAILED
    assert f'name="login" value="{name}"' in response.text
    assert not [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{SESSION}=")]
    assert signed_in_as(client) is None
    assert session_rows(sessions) == 1


def test_sign_out_ends_the_session_even_when_the_cookie_is_replayed(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    token = sign_up(client, "alice")
    stolen = client.cookies[SESSION]
    other_device = browser(client)
    login(other_device, "alice")

    response = client.post("/logout", data={"csrf_token": token})

    assert response.status_code == 303
    assert response.headers["location"] == "/?notice=signed-out"
    cleared = session_cookie_header(response).lower()
    assert "max-age=0" in cleared or "expires=thu, 01 jan 1970" in cleared
    assert "You are signed out." in client.get("/?notice=signed-out").text
    assert signed_in_as(client) is None
    replay = browser(client)
    replay.cookies.set(SESSION, stolen)
    assert signed_in_as(replay) is None
    assert 'href="/login?next=/"' in replay.get("/").text
    assert signed_in_as(other_device) == "alice"  # signing out here leaves the other device signed in
    assert session_rows(sessions) == 1


def test_password_change_needs_the_current_password_and_ends_other_sessions(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    token = sign_up(client, "alice")
    other_device = browser(client)
    assert login(other_device, "alice").status_code == 303
    original = password_hash(sessions, "alice")

    wrong = client.post(
        "/account/password",
        data={"csrf_token": token, "current_password": "not my password", "new_password": NEW_PASSWORD},
    )
    assert wrong.status_code == 400
    assert "the current password is not correct" in wrong.text
    assert (
        'id="current_password" name="current_password" type="password" required maxlength="1024" autocomplete="current-password" aria-invalid="true"'
        in wrong.text
    )
    short = client.post(
        "/account/password", data={"csrf_token": token, "current_password": PASSWORD, "new_password": "short"}
    )
    assert short.status_code == 400
    assert "the password must have at least 10 characters" in short.text
    assert password_hash(sessions, "alice") == original
    assert signed_in_as(other_device) == "alice"

    changed = client.post(
        "/account/password",
        data={"csrf_token": token, "current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )

    assert changed.status_code == 303
    assert changed.headers["location"] == "/account?notice=password-changed"
    assert (
        "Your password is changed; other sign-ins were ended." in client.get(changed.headers["location"]).text
    )
    assert signed_in_as(client) == "alice"
    assert signed_in_as(other_device) is None
    assert session_rows(sessions) == 1
    stored = password_hash(sessions, "alice")
    assert stored != original and stored.startswith("$argon2id$")
    assert login(browser(client), "alice", PASSWORD).status_code == 400
    assert login(browser(client), "alice", NEW_PASSWORD).status_code == 303


def test_account_page_needs_sign_in_and_creates_api_tokens(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    assert signed_in_as(client) is None
    token = sign_up(client, "alice")
    first = client.post("/account/token", data={"csrf_token": token})
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-store"
    shown = re.search(r'<code id="api-token">(pb_[A-Za-z0-9_-]{20,})</code>', first.text)
    assert shown
    second = client.post("/account/token", data={"csrf_token": token})
    again = re.search(r'<code id="api-token">(pb_[A-Za-z0-9_-]{20,})</code>', second.text)
    assert again and again.group(1) != shown.group(1)
    assert shown.group(1) not in client.get("/account").text  # shown once
    # the newest token works for the API, the replaced one does not
    api = browser(client)
    headers = {"Authorization": f"Bearer {again.group(1)}"}
    assert api.post("/api/papers/2501.99999/upvote", headers=headers).status_code == 404
    old = api.post("/api/papers/2501.99999/upvote", headers={"Authorization": f"Bearer {shown.group(1)}"})
    assert old.status_code == 401


# --- next ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/papers?date=2024-10-25", "/papers?date=2024-10-25&notice=signed-in"),
        ("/account", "/account?notice=signed-in"),
        ("//evil.com", "/?notice=signed-in"),
        ("//evil.com/path", "/?notice=signed-in"),
        ("https://evil.com", "/?notice=signed-in"),
        ("http:evil.com", "/?notice=signed-in"),
        ("/\\evil.com", "/?notice=signed-in"),
        ("javascript:alert(1)", "/?notice=signed-in"),
        ("", "/?notice=signed-in"),
    ],
)
def test_next_only_redirects_within_the_site(client: TestClient, target: str, location: str) -> None:
    sign_up(browser(client), "alice")
    page = client.get("/login", params={"next": target})
    kept = re.sub(r"[?&]notice=signed-in$", "", location)
    assert f'name="next" value="{kept}"' in unescape(page.text)

    response = login(client, "alice", next=target)

    assert response.status_code == 303
    assert response.headers["location"] == location


@pytest.mark.parametrize("target", ["/\t/evil.com", "/\n/evil.com", "/%2F/evil.com", " //evil.com"])
def test_next_with_control_characters_stays_local(client: TestClient, target: str) -> None:
    """Browsers drop tabs and newlines from URLs: `/<tab>/evil.com` must not become `//evil.com`."""
    sign_up(browser(client), "alice")
    response = login(client, "alice", next=target)
    assert response.status_code == 303
    location = response.headers["location"]
    as_browser_reads_it = re.sub(r"[\t\n\r]", "", unescape(location)).replace("\\", "/")
    assert as_browser_reads_it.startswith("/") and not as_browser_reads_it.startswith("//"), location


def test_sign_up_follows_a_local_next_only(client: TestClient) -> None:
    for target, location in (
        ("/trending", "/trending?notice=signed-up"),
        ("//evil.com", "/?notice=signed-up"),
    ):
        fresh = browser(client)
        token = csrf_token(fresh, f"/signup?next={target}")
        name = "alice" if target == "/trending" else "bob"
        response = fresh.post(
            "/signup",
            data={
                "csrf_token": token,
                "email": f"{name}@example.org",
                "username": name,
                "password": PASSWORD,
                "next": target,
            },
        )
        assert response.status_code == 200
        confirmed = open_signup_link(fresh, signup_link(fresh, f"{name}@example.org"))
        assert confirmed.status_code == 303
        assert confirmed.headers["location"] == location


# --- CSRF ----------------------------------------------------------------------------------------

FORM = {
    "body": "forged comment",
    "paper": "1605.08386",
    "email": "forged@example.org",
    "username": "mallory",
    "login": "alice",
    "password": PASSWORD,
    "current_password": PASSWORD,
    "new_password": NEW_PASSWORD,
    "hidden": "true",
    "frequency": "daily",
    "send_hour": "3",
    "max_papers": "5",
    "keywords": "forged topic",
}
EXPECTED_FORM_ROUTES = {
    "/papers/{arxiv_id:path}/upvote",
    "/papers/{arxiv_id:path}/comments",
    "/comments/{comment_id}/edit",
    "/comments/{comment_id}/delete",
    "/comments/{comment_id}/hide",
    "/daily/{entry_id}/remove",
    "/signup",
    "/login",
    "/logout",
    "/account/password",
    "/account/token",
    "/submit",
    "/subscribe",
    "/subscriptions/preferences",
    "/signup/confirm",
    "/authors/{name:path}/follow",
    "/papers/{arxiv_id:path}/claim",
    "/admin/claims/{claim_id}",
    "/account/notifications",
    "/account/delete",
    "/library/collections",
    "/library/import",
    "/library/profile",
    "/collections/{collection_id}",
    "/collections/{collection_id}/delete",
    "/collections/{collection_id}/move",
    "/collections/{collection_id}/remove",
    "/papers/{arxiv_id:path}/save",
    "/papers/{arxiv_id:path}/signal",
    "/papers/{arxiv_id:path}/note",
    "/papers/{arxiv_id:path}/read",
    "/interests/off",
    "/interests/on/{muted_id}",
    "/interests/remove",
    "/interests/categories",
    "/interests/reset",
    "/interests/feed",
}
# Authorised by the signed token of an emailed link, not by a CSRF token: mail clients POST RFC 8058
# one-click unsubscribes without cookies. A forger does not have the signed token.
SIGNED_LINK_ROUTES = {"/subscriptions/unsubscribe"}


@pytest.fixture
def arxiv(shared_data: Path) -> Iterator[FixtureServer]:
    with FixtureServer(shared_data / "fixtures") as server:
        yield server


def snapshot(sessions: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a form could change."""
    queries = {
        "users": select(
            User.id, User.username, User.email, User.password_hash, User.api_token_hash, User.is_admin
        ),
        "sessions": select(UserSession.token_hash, UserSession.user_id),
        "votes": select(Vote.user_id, Vote.paper_id),
        "comments": select(Comment.id, Comment.body, Comment.hidden, Comment.deleted, Comment.edited_at),
        "entries": select(DailyEntry.id, DailyEntry.paper_id, DailyEntry.date, DailyEntry.hidden),
        "subscriptions": select(
            Subscription.email,
            Subscription.frequency,
            Subscription.status,
            Subscription.send_hour,
            Subscription.max_papers,
            Subscription.keywords,
        ),
        "papers": select(Paper.arxiv_id),
        "collections": select(Collection.id, Collection.name, Collection.description, Collection.is_public),
        "saved": select(CollectionPaper.collection_id, CollectionPaper.paper_id, CollectionPaper.position),
        "notes": select(PaperNote.user_id, PaperNote.paper_id, PaperNote.body),
        "reads": select(PaperRead.user_id, PaperRead.paper_id),
        "signals": select(PaperSignal.user_id, PaperSignal.paper_id, PaperSignal.kind),
        "muted": select(MutedInterest.id, MutedInterest.label),
        "preferences": select(UserPreferences.user_id, UserPreferences.categories, UserPreferences.feed_key),
        "follows": select(AuthorFollow.user_id, AuthorFollow.name_key),
    }
    with sessions() as session:
        return {
            name: sorted((tuple(row) for row in session.execute(query)), key=repr)
            for name, query in queries.items()
        }


def form_routes(client: TestClient) -> list[str]:
    """Paths of the app's state-changing routes outside the token-authenticated /api/.

    Newer FastAPI keeps included routers as branches of `app.routes`; `iter_route_contexts` flattens them.
    """
    app: FastAPI = client.app  # type: ignore[assignment]
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = list(flatten(app.routes)) if flatten else list(app.routes)
    found = []
    for route in routes:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if not path or not methods or path.startswith("/api/"):
            continue
        if set(methods) & {"POST", "PUT", "PATCH", "DELETE"}:
            found.append(path)
    return found


def test_every_form_route_refuses_requests_without_this_browsers_token(
    settings: Settings,
    embedder: MemoizingEmbedder,
    sessions: sessionmaker[Session],
    shared_data: Path,
    arxiv: FixtureServer,
) -> None:
    ingest_hf_daily(sessions, shared_data)
    fetch = arxiv_fetcher(settings.model_copy(update={"arxiv_api_url": arxiv.api_url}))
    sign_up(make_client(settings, embedder, fetch), "alice")  # the sign-up link goes to the mail outbox
    client = make_client(
        settings.model_copy(update={"smtp_port": closed_port(), "mail_outbox": None}), embedder, fetch
    )
    assert login(client, "alice").status_code == 303
    token = csrf_token(client, "/account")
    make_admin(sessions, "alice")
    comment = client.post(f"/papers/{TOP}/comments", data={"csrf_token": token, "body": "my comment"})
    # a pending subscription (its confirmation email cannot be sent here, the request is kept)
    subscribed = client.post("/subscribe", data={"csrf_token": token, "email": "alice@example.org"})
    assert comment.status_code == 303 and subscribed.status_code == 503
    created = client.post("/library/collections", data={"csrf_token": token, "name": "Mine"})
    saved_one = client.post(f"/papers/{TOP}/save", data={"csrf_token": token})
    assert created.status_code == 303 and saved_one.status_code == 303  # forged requests could change them
    with sessions() as session:
        comment_id = session.scalar(select(Comment.id))
        entry_id = session.scalar(select(DailyEntry.id).join(Paper).where(Paper.arxiv_id == TOP))
        subscription = session.scalars(select(Subscription)).one()
        links = client.app.state.web.digests.links(subscription)  # type: ignore[attr-defined]
    assert comment_id and entry_id
    values = {
        "arxiv_id": TOP,
        "comment_id": str(comment_id),
        "entry_id": str(entry_id),
        "name": "Zesen Cheng",
        "claim_id": "1",
        "collection_id": "1",
        "muted_id": "1",
    }
    # the signed link's token goes along, so only the CSRF check can stop the forged request
    queries = {"/subscriptions/preferences": urlsplit(links.preferences).query}
    other = browser(client)
    other_token = csrf_token(other, "/")
    assert other_token != token
    no_csrf_cookie = browser(client)
    no_csrf_cookie.cookies.set(SESSION, client.cookies[SESSION])
    before = snapshot(sessions)

    routes = form_routes(client)
    assert set(routes) >= EXPECTED_FORM_ROUTES | SIGNED_LINK_ROUTES
    for template in routes:
        path = re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values[m.group(1)], template)
        if template in queries:
            path += f"?{queries[template]}"
        attempts = {
            "no token": client.post(path, data=FORM),
            "empty token": client.post(path, data={**FORM, "csrf_token": ""}),
            "other browser's token": client.post(path, data={**FORM, "csrf_token": other_token}),
            "other browser's token in the header": client.post(
                path, data=FORM, headers={"X-CSRF-Token": other_token}
            ),
            "token without its cookie": no_csrf_cookie.post(path, data={**FORM, "csrf_token": token}),
            "json without token": client.post(path, headers={"Accept": "application/json"}),
        }
        if template in SIGNED_LINK_ROUTES:
            for name, response in attempts.items():
                assert response.status_code == 400, (template, name, response.status_code)
            assert "This link cannot be used" in attempts["no token"].text
            continue
        for name, response in attempts.items():
            assert response.status_code == 403, (template, name, response.status_code)
        assert "This form has expired or came from another site." in attempts["no token"].text
        assert attempts["json without token"].json()["error"].startswith("This form has expired")

    assert snapshot(sessions) == before
    assert arxiv.logged() == []
    assert signed_in_as(client) == "alice"
    # the same requests with this browser's token do change things (the snapshot would notice)
    assert client.post(f"/papers/{TOP}/upvote", data={**FORM, "csrf_token": token}).status_code == 303
    saved = client.post(
        f"/subscriptions/preferences?{queries['/subscriptions/preferences']}",
        data={**FORM, "csrf_token": token},
    )
    assert saved.status_code == 303
    after = snapshot(sessions)
    assert len(after["votes"]) == 1
    assert after["subscriptions"] == [("alice@example.org", "daily", "pending", 3, 5, ["forged topic"])]


def test_the_csrf_cookie_is_http_only_and_same_site(client: TestClient) -> None:
    page = client.get("/login")
    (cookie,) = [h for h in page.headers.get_list("set-cookie") if h.startswith("pb_csrf=")]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    # the browser keeps its token: a second page carries the same one and sets no new cookie
    again = client.get("/signup")
    assert csrf_token(client, "/signup") == csrf_token(client, "/login")
    assert not [h for h in again.headers.get_list("set-cookie") if h.startswith("pb_csrf=")]


# --- escaping ------------------------------------------------------------------------------------

XSS_ID = "2410.99001"


@pytest.fixture
def hostile_paper(sessions: sessionmaker[Session]) -> None:
    add_paper(
        sessions,
        XSS_ID,
        title="Zebrafish <script>alert(1)</script> <img src=x onerror=alert(2)>",
        abstract='Zebrafish <script>alert(3)</script> <a href="javascript:alert(4)">click</a> '
        "<img src=x onerror=alert(5)> <svg onload=alert(6)>",
        authors=("<script>alert(7)</script>", "Eve <img src=x onerror=alert(8)>"),
        day=DAY,
        submitter="<script>alert(9)</script>",
        comments="see javascript:alert(10) and <script>alert(11)</script>",
        journal_ref='<b onmouseover="alert(12)">J</b>',
        upvotes=1000,
    )


def _assert_escaped(html: str, shows_payload: bool = True) -> None:
    assert_no_active_content(html)
    for raw in ("<script>alert", "<img src=x", "<svg", "<b onmouseover"):
        assert raw not in html
    if shows_payload:
        assert "&lt;script&gt;alert(" in html  # shown as text, not dropped


def test_paper_text_is_escaped_on_every_list_and_page(
    client: TestClient, hostile_paper: None, daily: None
) -> None:
    signed = browser(client)
    sign_up(signed, "eve", email="eve@example.org")
    for path in ("/", "/papers?date=2024-10-25", "/papers?week=2024-W43", "/trending", f"/papers/{XSS_ID}"):
        for viewer in (client, signed):
            page = viewer.get(path)
            assert page.status_code == 200, path
            _assert_escaped(page.text)
            assert (
                "Zebrafish &lt;script&gt;alert(1)&lt;/script&gt; &lt;img src=x onerror=alert(2)&gt;"
                in page.text
            )
    item = item_of(client.get("/").text, XSS_ID)
    assert item.authors == "<script>alert(7)</script>, Eve <img src=x onerror=alert(8)>"
    assert item.submitter == "<script>alert(9)</script>"


def test_comments_and_display_names_are_escaped(client: TestClient, hostile_paper: None) -> None:
    token = csrf_token(client, "/signup")
    signed_up = client.post(
        "/signup",
        data={
            "csrf_token": token,
            "email": "mallory@example.org",
            "username": "mallory",
            "display_name": "<img src=x onerror=alert(13)>",
            "password": "correct horse battery",
        },
    )
    assert signed_up.status_code == 200
    assert open_signup_link(client, signup_link(client, "mallory@example.org")).status_code == 303
    token = csrf_token(client, "/account")  # signing up starts a session with a token of its own
    body = "<script>alert(14)</script> <a href='javascript:alert(15)'>x</a> javascript:alert(16) https://ok.example/a?b=1&c=2"
    cid = comment_id_of(post(client, f"/papers/{XSS_ID}/comments", token, body=body))

    for path in (f"/papers/{XSS_ID}", f"/papers/{XSS_ID}?edit={cid}", "/account", "/"):
        page = client.get(path)
        assert page.status_code == 200
        _assert_escaped(page.text, shows_payload=path != "/account")
        assert '<a href="/account" class="who">&lt;img src=x onerror=alert(13)&gt;</a>' in page.text
    html = client.get(f"/papers/{XSS_ID}").text
    assert "<strong>&lt;img src=x onerror=alert(13)&gt;</strong>" in html
    comment = first_match(r'<div class="comment-body">(.*?)</div>', html)
    assert comment is not None
    # the only link is the web link, with its & escaped; the javascript: text stays text
    assert [a["href"] for a in elements(comment, "a")] == ["https://ok.example/a?b=1&c=2"]
    assert 'rel="nofollow ugc noopener noreferrer"' in comment
    assert "javascript:alert(16)" in comment


def test_search_results_are_escaped_and_highlighted(
    settings: Settings,
    sessions: sessionmaker[Session],
    embedder: MemoizingEmbedder,
    client: TestClient,
    hostile_paper: None,
) -> None:
    Indexer(sessions, settings.home, embedder).run()
    page = client.get("/search", params={"q": "zebrafish <script>alert(0)</script>"})
    assert page.status_code == 200
    _assert_escaped(page.text)
    result = first_match(r'<li class="result">(.*?)</li>', page.text)
    assert result is not None
    assert f'href="/papers/{XSS_ID}"' in result
    assert "<mark>Zebrafish</mark> &lt;<mark>script</mark>&gt;<mark>alert</mark>(1)" in result
    assert 'value="zebrafish &lt;script&gt;alert(0)&lt;/script&gt;"' in page.text


# --- security headers and scripts -------------------------------------------------------------

HEADER_PATHS = [
    "/",
    "/trending",
    f"/papers/{TOP}",
    "/login",
    "/search?q=memory",
    "/papers?date=nope",
    "/papers/2501.99999",
    "/api/daily_papers",
    "/api/papers/search?q=memory",
    "/openapi.json",
    "/docs",
    "/feeds/daily.atom",
    "/static/app.css",
    "/healthz",
    "/submit",
]


def test_security_headers_on_pages_and_api(client: TestClient, daily: None) -> None:
    for path in HEADER_PATHS:
        response = client.get(path)
        assert response.status_code < 500, path
        policy = response.headers.get("content-security-policy", "")
        directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
        assert directives.get("script-src") == ["'self'"], (path, policy)
        assert directives.get("object-src") == ["'none'"], path
        assert directives.get("frame-ancestors") == ["'none'"], path
        assert "'unsafe-inline'" not in directives.get("default-src", []), path
        assert response.headers.get("x-content-type-options") == "nosniff", path
        assert response.headers.get("x-frame-options") == "DENY", path
        assert response.headers.get("referrer-policy") == "strict-origin-when-cross-origin", path


def test_pages_have_no_inline_scripts(client: TestClient, daily: None) -> None:
    token = sign_up(client)
    cid = comment_id_of(post(client, f"/papers/{TOP}/comments", token, body="hello"))
    pages = {
        "/": 200,
        "/trending": 200,
        f"/papers/{TOP}": 200,
        f"/papers/{TOP}?edit={cid}": 200,
        "/search": 200,
        "/account": 200,
        "/submit": 200,
        "/help": 200,
        "/docs": 200,
        "/papers/2501.99999": 404,
        "/papers?date=nope": 400,
    }
    for path, status in pages.items():
        page = client.get(path)
        assert page.status_code == status, path
        assert_no_active_content(page.text)


# --- rate limits ---------------------------------------------------------------------------------


def test_sign_in_attempts_over_the_limit_get_429_with_retry_after(
    settings: Settings, embedder: MemoizingEmbedder, sessions: sessionmaker[Session], shared_data: Path
) -> None:
    ingest_hf_daily(sessions, shared_data)
    sign_up(make_client(settings, embedder), "alice")
    client = make_client(settings.model_copy(update={"rate_limit_auth": 3}), embedder)

    for _ in range(3):
        assert login(client, "alice", "wrong password!").status_code == 400
    limited = login(client, "alice")  # even the right password waits

    assert limited.status_code == 429
    retry = int(limited.headers["retry-after"])
    assert 1 <= retry <= 60
    assert f"Too many requests from your address. Try again in {retry} seconds." in limited.text
    assert not [h for h in limited.headers.get_list("set-cookie") if h.startswith(f"{SESSION}=")]
    assert session_rows(sessions) == 1
    as_json = client.post(
        "/login",
        data={"csrf_token": csrf_token(client), "login": "alice", "password": PASSWORD},
        headers={"Accept": "application/json"},
    )
    assert as_json.status_code == 429 and "retry-after" in as_json.headers
    assert "Too many requests" in as_json.json()["error"]
    # sign-up shares the sign-in allowance; reading pages does not count
    token = csrf_token(client, "/signup")
    signup = client.post(
        "/signup",
        data={"csrf_token": token, "email": "bob@example.org", "username": "bob", "password": PASSWORD},
    )
    assert signup.status_code == 429
    assert users(sessions) == [("alice", "alice@example.org")]
    assert client.get("/").status_code == 200


def test_writes_over_the_limit_get_429(
    settings: Settings, embedder: MemoizingEmbedder, sessions: sessionmaker[Session], shared_data: Path
) -> None:
    ingest_hf_daily(sessions, shared_data)
    client = make_client(settings.model_copy(update={"rate_limit_write": 3}), embedder)
    token = sign_up(client, "alice")
    accept = {"Accept": "application/json"}

    states = [
        client.post(f"/papers/{TOP}/upvote", data={"csrf_token": token}, headers=accept).json()
        for _ in range(3)
    ]
    assert [s["upvoted"] for s in states] == [True, False, True]
    limited = client.post(f"/papers/{TOP}/upvote", data={"csrf_token": token})

    assert limited.status_code == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    with sessions() as session:
        assert len(session.scalars(select(Vote.paper_id)).all()) == 1  # the refused toggle changed nothing
    comment = client.post(f"/papers/{TOP}/comments", data={"csrf_token": token, "body": "hello"})
    assert comment.status_code == 429
    with sessions() as session:
        assert session.scalars(select(Comment.id)).all() == []
    # the write allowance is separate from the sign-in one
    assert login(browser(client), "alice").status_code == 303
