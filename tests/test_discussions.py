"""Discussions: comments in Markdown with math (safe: no raw HTML, no images, no script links), one level
of replies, and the emails that tell the people in a thread and a paper's confirmed authors, sent once
through the notification outbox to a real SMTP server (aiosmtpd on 127.0.0.1); on both databases."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mail_support import SmtpServer
from paperboy.config import Settings
from paperboy.db.models import AuthorClaim, Comment, Notification, User
from paperboy.digest.notifications import NotificationSender
from paperboy.web.render import markdown_comment
from test_web_pages import browser, comment_id_of, elements, post
from web_support import ingest_hf_daily, make_admin, make_client, sign_up

TOP = "2410.17243"
SECOND = "2410.16251"


@pytest.fixture
def client(mail_settings: Settings, sessions: sessionmaker[Session], shared_data: Path) -> TestClient:
    ingest_hf_daily(sessions, shared_data)
    # sign-up links go to an outbox (the SMTP server is for the notifications under test)
    return make_client(mail_settings.model_copy(update={"mail_outbox": mail_settings.home / "outbox"}))


def test_markdown_is_rendered_safely_with_math() -> None:
    html = str(
        markdown_comment(
            "**Bold** and *italic*, `code $x$`, $\\alpha^2$, [a link](https://example.org/a)\n\n"
            "> a quote\n\n- one\n- two\n\n<script>alert(1)</script> <img src=x onerror=alert(2)>\n"
            "[bad](javascript:alert(3)) ![tracker](https://evil.example/pixel.png)"
        )
    )
    assert "<strong>Bold</strong>" in html and "<em>italic</em>" in html
    assert "<code>code $x$</code>" in html, "math inside code stays as typed"
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline"><mrow><msup><mi>' in html
    assert '<a href="https://example.org/a" rel="nofollow ugc noopener noreferrer">a link</a>' in html
    assert "<blockquote>" in html and "<li>one</li>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<img" not in html and "javascript:" not in html.replace("[bad](javascript:alert(3))", "")
    assert 'href="https://evil.example/pixel.png"' in html, "an image is shown as a link, never loaded"


def _notifications(sessions: sessionmaker[Session]) -> list[tuple[str, str, str]]:
    with sessions() as session:
        rows = session.execute(
            select(User.username, Notification.reason, Notification.status).join(
                User, User.id == Notification.user_id
            )
        )
        return sorted((r[0], r[1], r[2]) for r in rows)


def test_replies_thread_one_level_and_tell_the_thread_and_the_authors(
    client: TestClient, mail_settings: Settings, sessions: sessionmaker[Session], smtp: SmtpServer
) -> None:
    alice, bob, carol, author = (browser(client) for _ in range(4))
    tokens = {
        name: sign_up(c, name, email=f"{name}@example.org")
        for name, c in (("alice", alice), ("bob", bob), ("carol", carol), ("hangz", author))
    }
    with sessions() as session, session.begin():  # Hang Zhang's authorship, as an admin approved it
        hang = session.scalars(select(User).where(User.username == "hangz")).one()
        from paperboy.db.repositories.papers import get_paper

        paper = get_paper(session, TOP)
        assert paper is not None
        session.add(
            AuthorClaim(user_id=hang.id, paper_id=paper.id, author_name="Hang Zhang", status="approved")
        )

    first = comment_id_of(
        post(alice, f"/papers/{TOP}/comments", tokens["alice"], body="Is the **tiling** exact?")
    )
    assert _notifications(sessions) == [("hangz", "author", "pending")], "the paper's author is told"
    reply = comment_id_of(
        post(
            bob,
            f"/papers/{TOP}/comments",
            tokens["bob"],
            body="Yes: $O(n^2)$ memory drops.",
            parent_id=str(first),
        )
    )
    nested = comment_id_of(
        post(carol, f"/papers/{TOP}/comments", tokens["carol"], body="Agreed.", parent_id=str(reply))
    )
    with sessions() as session:
        parents = dict(session.execute(select(Comment.id, Comment.parent_id)).all())
    assert parents == {first: None, reply: first, nested: first}, "a reply to a reply joins the thread"
    # alice (thread) and hangz (author) for bob's reply; alice, bob and hangz for carol's: never twice
    # per comment, never the one who wrote it
    with sessions() as session:
        told = sorted(
            (c, u)
            for c, u in session.execute(
                select(Notification.comment_id, User.username).join(User, User.id == Notification.user_id)
            )
        )
    assert told == [
        (first, "hangz"),
        (reply, "alice"),
        (reply, "hangz"),
        (nested, "alice"),
        (nested, "bob"),
        (nested, "hangz"),
    ]

    page = client.get(f"/papers/{TOP}").text
    thread = page.split(f'id="comment-{first}"')[1]
    assert '<ol class="replies" aria-label="Replies">' in thread
    assert thread.index(f'id="comment-{reply}"') < thread.index(f'id="comment-{nested}"')
    assert "<strong>tiling</strong>" in page and "<msup><mi>n</mi><mn>2</mn></msup>" in page
    assert 'Discussion <span class="muted">(6)</span>' in page, "3 imported + 3 local"

    elsewhere = post(bob, f"/papers/{SECOND}/comments", tokens["bob"], body="x", parent_id=str(first))
    assert elsewhere.status_code == 400 and "is not in this paper's discussion" in unescape(elsewhere.text)

    summary = NotificationSender(mail_settings, sessions).run()
    assert (summary.sent, summary.failed) == (6, 0)
    assert NotificationSender(mail_settings, sessions).run().sent == 0, "each is sent once"
    to_alice = [r for r in smtp.received if r.rcpt_tos == ("alice@example.org",)]
    assert len(to_alice) == 2
    message = to_alice[0].message
    assert message["Subject"].startswith("bob replied in your discussion of “Breaking the Memory Barrier")
    assert re.fullmatch(r"<notify\.\d+@[\w.-]+>", message["Message-ID"])
    text = to_alice[0].part("plain")
    assert f"http://testserver/papers/{TOP}#comment-{reply}" in text
    assert "Turn them off on your account page: http://testserver/account#notifications" in text
    assert all(s == "sent" for _, _, s in _notifications(sessions))


def test_discussion_emails_can_be_turned_off(
    client: TestClient, mail_settings: Settings, sessions: sessionmaker[Session]
) -> None:
    alice, bob = browser(client), browser(client)
    alice_token = sign_up(alice, "alice")
    bob_token = sign_up(bob, "bob")
    assert 'name="notify_replies" value="true" checked' in alice.get("/account").text
    off = post(alice, "/account/notifications", alice_token)
    assert off.status_code == 303
    assert 'name="notify_replies" value="true" checked' not in alice.get("/account").text
    first = comment_id_of(post(alice, f"/papers/{TOP}/comments", alice_token, body="A question."))
    post(bob, f"/papers/{TOP}/comments", bob_token, body="An answer.", parent_id=str(first))
    assert _notifications(sessions) == []


def test_a_removed_comment_keeps_its_replies_under_a_placeholder(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    alice, bob = browser(client), browser(client)
    alice_token, bob_token = sign_up(alice, "alice"), sign_up(bob, "bob")
    first = comment_id_of(post(alice, f"/papers/{TOP}/comments", alice_token, body="Original."))
    post(bob, f"/papers/{TOP}/comments", bob_token, body="A reply that stays.", parent_id=str(first))
    assert post(alice, f"/comments/{first}/delete", alice_token).status_code == 303
    page = client.get(f"/papers/{TOP}").text
    assert "This comment was removed." in page and "Original." not in page
    assert "A reply that stays." in page
    admin = browser(client)
    sign_up(admin, "root")
    make_admin(sessions, "root")
    reply_forms = [f for f in elements(page, "form") if f.get("action") == f"/papers/{TOP}/comments"]
    assert len(reply_forms) == 0, "signed out: no forms"
    assert 'Discussion <span class="muted">(4)</span>' in page, "3 imported + the visible reply"
