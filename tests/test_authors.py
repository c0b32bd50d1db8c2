"""Authors as people: the author page (papers, co-authors, follow), follows feeding the digest, claiming
authorship with an admin's approval, badges (local claims and Hugging Face's imported claims) and the
user's profile page; on both databases, with the real Hugging Face list of 2024-10-25."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from paperboy.authors import author_path, name_key
from paperboy.config import Settings
from paperboy.db.models import AuthorFollow, PaperAuthor
from paperboy.db.records import PaperRecord
from paperboy.db.repositories.papers import upsert_papers
from paperboy.digest.compose import DigestComposer
from paperboy.digest.service import DigestService
from paperboy.digest.subscriptions import SubscriptionRequest
from test_web_pages import browser, post
from web_support import csrf_token, ingest_hf_daily, make_admin, make_client, sign_up

TOP = "2410.17243"
FIRST_AUTHOR = "Zesen Cheng"  # claimed and verified on Hugging Face as ClownRat (in the fixture)


@pytest.fixture
def client(settings: Settings, sessions: sessionmaker[Session], shared_data: Path) -> TestClient:
    ingest_hf_daily(sessions, shared_data)
    return make_client(settings)


def test_names_have_one_key_and_a_safe_path() -> None:
    assert name_key("Zésen  CHENG") == name_key("Zesen Cheng") == "zesen cheng"
    assert name_key('Schr\\"odinger') == "schrodinger"
    assert author_path("A. B/C?d") == "/authors/A.%20B%2FC%3Fd"


def test_the_author_page_lists_papers_and_co_authors(client: TestClient) -> None:
    page = client.get(author_path(FIRST_AUTHOR))
    assert page.status_code == 200
    assert f"<h1>{FIRST_AUTHOR}" in page.text
    assert "1 paper in this library" in page.text
    assert f'href="/papers/{TOP}"' in page.text
    assert '<a href="/authors/Hang%20Zhang">Hang Zhang</a>' in page.text  # a co-author
    assert "✓ Hugging Face: ClownRat" in page.text
    assert client.get("/authors/zesen%20CHENG").status_code == 200, "any spelling of the name"
    missing = client.get("/authors/Nobody%20Atall")
    assert missing.status_code == 404 and "No paper in this library is by Nobody Atall" in missing.text
    paper = client.get(f"/papers/{TOP}").text
    assert f'<a href="/authors/Zesen%20Cheng">{FIRST_AUTHOR}</a> <span class="badge hub"' in paper


def test_author_rows_follow_the_author_list(client: TestClient, sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        upsert_papers(
            session,
            [
                PaperRecord(
                    arxiv_id="2501.00001",
                    title="A new one",
                    abstract="Text.",
                    source="test",
                    authors=("Zesen Cheng", "New Person"),
                    version=1,
                )
            ],
        )
    assert "2 papers in this library" in client.get(author_path(FIRST_AUTHOR)).text
    assert client.get("/authors/New%20Person").status_code == 200
    with sessions() as session, session.begin():
        upsert_papers(
            session,
            [
                PaperRecord(
                    arxiv_id="2501.00001",
                    title="A new one",
                    abstract="Text.",
                    source="test",
                    authors=("Other Person",),
                    version=2,
                )
            ],
        )
    assert client.get("/authors/New%20Person").status_code == 404
    with sessions() as session:
        keys = set(session.scalars(select(PaperAuthor.name_key)))
        assert "other person" in keys and "new person" not in keys


def test_following_an_author_feeds_the_digest(
    client: TestClient, settings: Settings, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session, session.begin():  # a new paper, on no daily list (so it does not trend)
        upsert_papers(
            session,
            [
                PaperRecord(
                    arxiv_id="2501.00002",
                    title="Fresh results",
                    abstract="Text.",
                    source="test",
                    authors=("Ada Fresh", "Deli Zhao"),
                    version=1,
                )
            ],
        )
    viewer = browser(client)
    token = sign_up(viewer, "reader", email="reader@example.org")
    followed = post(viewer, f"{author_path('Deli Zhao')}/follow", token, following="true")
    assert followed.status_code == 303 and followed.headers["location"].endswith("notice=author-followed")
    assert "Following ✓" in viewer.get(author_path("Deli Zhao")).text
    with sessions() as session:
        assert [(f.name, f.name_key) for f in session.scalars(select(AuthorFollow))] == [
            ("Deli Zhao", "deli zhao")
        ]

    service = DigestService(settings, sessions)
    service.subscribe_confirmed(SubscriptionRequest("reader@example.org"))
    with sessions() as session:
        from paperboy.clock import utcnow
        from paperboy.db.models import Subscription

        subscription = session.scalars(select(Subscription)).one()
        composer = DigestComposer(session, "daily", utcnow(), None, 100_000, 1.5)
        content = composer.compose(session, subscription)
    assert [(p.arxiv_id, p.reason) for p in content.for_you] == [("2501.00002", "by Deli Zhao")]

    unfollowed = post(viewer, f"{author_path('Deli Zhao')}/follow", token, following="false")
    assert unfollowed.status_code == 303
    with sessions() as session:
        assert list(session.scalars(select(AuthorFollow))) == []
    refused = browser(client).post(f"{author_path('Deli Zhao')}/follow", data={"following": "true"})
    assert refused.status_code in (303, 403)  # signed out (to sign-in) or no CSRF token: nothing stored


def test_claiming_authorship_with_an_admins_approval(
    client: TestClient, sessions: sessionmaker[Session]
) -> None:
    author = browser(client)
    token = sign_up(author, "hangz", email="hang@example.org")
    page = author.get(f"/papers/{TOP}").text
    assert "Are you an author? Claim this paper" in page
    wrong = post(author, f"/papers/{TOP}/claim", token, author_name="Someone Else")
    assert wrong.status_code == 400 and "is not an author of this paper" in wrong.text
    sent = post(author, f"/papers/{TOP}/claim", token, author_name="Hang Zhang")
    assert sent.status_code == 303 and sent.headers["location"] == f"/papers/{TOP}?notice=claim-sent#authors"
    assert "Your claim to be Hang Zhang is waiting for an admin." in author.get(f"/papers/{TOP}").text
    again = post(author, f"/papers/{TOP}/claim", token, author_name="Hang Zhang")
    assert again.status_code == 400 and "claimed this paper already" in again.text

    assert author.get("/admin/claims").status_code == 403
    admin = browser(client)
    admin_token = sign_up(admin, "root")
    make_admin(sessions, "root")
    queue = admin.get("/admin/claims").text
    claim_id = re.search(r'id="claim-(\d+)"', queue)
    assert claim_id and "says they are <strong>Hang Zhang</strong>" in queue
    forged = admin.post(f"/admin/claims/{claim_id.group(1)}", data={"decision": "approve"})
    assert forged.status_code == 403, "no CSRF token"
    decided = post(admin, f"/admin/claims/{claim_id.group(1)}", admin_token, decision="approve")
    assert decided.status_code == 303
    assert "No claim is waiting" in admin.get("/admin/claims").text

    paper = client.get(f"/papers/{TOP}").text
    assert (
        '<a href="/authors/Hang%20Zhang">Hang Zhang</a> <a class="badge verified" href="/users/hangz"'
        in paper
    )
    profile = client.get("/users/hangz").text
    assert f'href="/papers/{TOP}"' in profile.split("Their papers")[1].split("Submitted")[0]
    assert '<a class="badge verified" href="/users/hangz"' in client.get("/authors/Hang%20Zhang").text
    assert client.get("/users/nobody").status_code == 404


def test_the_profile_lists_submissions(client: TestClient, sessions: sessionmaker[Session]) -> None:
    from paperboy.db.models import DailyEntry, User

    user_client = browser(client)
    sign_up(user_client, "submitter")
    with sessions() as session, session.begin():
        user = session.scalars(select(User).where(User.username == "submitter")).one()
        entry = session.scalars(select(DailyEntry)).first()
        assert entry is not None
        entry.submitted_by_user_id = user.id
    profile = client.get("/users/submitter").text
    assert "on the list of Oct 25, 2024" in profile
    assert csrf_token(user_client, "/account")


def test_hostile_names_in_addresses_are_not_found(client: TestClient) -> None:
    """A NUL or control character in an author or user address is a 404 (PostgreSQL refuses NUL)."""
    for path in ("/authors/%00", "/authors/a%00b", "/authors/%0A%0D", "/users/%00", "/users/x%00"):
        assert client.get(path).status_code == 404, path
