"""Helpers for the web tests: an app client on the test database, sign-up, CSRF tokens, fixture data."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html import unescape
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from paperboy.community.submissions import Fetcher
from paperboy.config import Settings
from paperboy.db.models import User
from paperboy.ingest.runner import run_ingest
from paperboy.ingest.sources.hf_daily import HfDailySource
from paperboy.search.embedder import Embedder
from paperboy.web.app import create_app

HF_DAILY = "fixtures/hf_daily_papers/daily_papers.json"
PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_client(
    settings: Settings, embedder: Embedder | None = None, fetch_paper: Fetcher | None = None
) -> TestClient:
    """A client of a fresh app; server errors come back as responses (500s), never as raised exceptions."""
    app = create_app(settings, embedder=embedder, fetch_paper=fetch_paper)
    return TestClient(app, raise_server_exceptions=False, follow_redirects=False)


def ingest_hf_daily(sessions: sessionmaker[Session], shared_data: Path) -> None:
    """The real Hugging Face daily-papers response of 2024-10-25 (29 papers)."""
    summary = run_ingest(sessions, HfDailySource(str(shared_data / HF_DAILY)))
    assert summary.rejected == 0


def csrf_token(client: TestClient, path: str = "/login") -> str:
    """The CSRF token a page's forms carry (also sets the CSRF cookie on the client)."""
    page = client.get(path)
    match = _CSRF.search(page.text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def sign_up(
    client: TestClient, username: str = "alice", password: str = PASSWORD, email: str | None = None
) -> str:
    """Create an account through the sign-up form (the client is then signed in); returns the CSRF token
    of the new session (signing in replaces it)."""
    token = csrf_token(client, "/signup")
    response = client.post(
        "/signup",
        data={
            "csrf_token": token,
            "email": email or f"{username}@example.org",
            "username": username,
            "password": password,
        },
    )
    assert response.status_code == 200 and "Check your inbox" in response.text, response.text[:500]
    confirm = open_signup_link(client, signup_link(client, email or f"{username}@example.org"))
    assert confirm.status_code == 303, confirm.text[:500]
    return csrf_token(client, "/account")


def open_signup_link(client: httpx.Client, link: str) -> httpx.Response:
    """Open the emailed sign-up link and press its "Create my account" button; the POST's answer."""
    page = client.get(link)
    if page.status_code != 200:
        return page
    csrf = _CSRF.search(page.text)
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert csrf and token, page.text[:500]
    return client.post(
        "/signup/confirm",
        data={"csrf_token": csrf.group(1), "token": unescape(token.group(1))},
        follow_redirects=False,
    )


def outbox_messages(outbox: Path) -> list[EmailMessage]:
    """Every email the app saved in its mail outbox, oldest first."""
    parsed = []
    for path in sorted(outbox.glob("*.eml")):
        message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
        assert isinstance(message, EmailMessage)
        parsed.append(message)
    return parsed


def signup_link(client: httpx.Client, address: str, outbox: Path | None = None) -> str:
    """The link of the newest sign-up email to `address` (from the app's mail outbox, or `outbox` for a
    server in another thread), as a local path."""
    if outbox is None:
        outbox = client.app.state.web.settings.mail_outbox  # type: ignore[attr-defined]
    assert outbox is not None, "sign-up sends its link by email: give the app a mail outbox"
    for message in reversed(outbox_messages(Path(outbox))):
        if address.lower() in str(message["To"]).lower():
            body = message.get_body(preferencelist=("plain",))
            assert body is not None
            found = re.search(r"https?://[^/\s]+(/signup/confirm\?token=\S+)", body.get_content())
            if found:
                return found.group(1)
    raise AssertionError(f"no sign-up link for {address} in {outbox}")


def make_admin(sessions: sessionmaker[Session], username: str) -> None:
    with sessions() as session, session.begin():
        user = session.scalar(select(User).where(User.username == username))
        assert user is not None
        user.is_admin = True


@contextmanager
def running_server(app: FastAPI, sock: socket.socket) -> Iterator[None]:
    """The app on a real uvicorn server in a thread, listening on `sock`, until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert thread.is_alive(), "uvicorn stopped during start-up"
            assert time.monotonic() < deadline, "uvicorn did not start within 30 s"
            time.sleep(0.02)
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def report(suite: str, requests: int, failures: int) -> None:
    """Append a fuzz run's counts to $PAPERBOY_FUZZ_REPORT, when set (bench/fuzz_long.py reads them)."""
    target = os.environ.get("PAPERBOY_FUZZ_REPORT")
    if target:
        with open(target, "a") as handle:
            handle.write(json.dumps({"suite": suite, "requests": requests, "failures": failures}) + "\n")
