"""One read model for a paper's totals: every surface that shows a paper's upvotes and comments shows the
same numbers (imported plus local upvotes; imported plus visible local comments), on both databases.

The paper is the day's top paper of the real Hugging Face list of 2024-10-25: 64 imported upvotes and 3
imported comments. A local user upvotes it and writes two comments, a moderator hides one of them: every
surface must then say 65 upvotes and 4 comments.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from xml.etree import ElementTree

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from paperboy.cli import app as cli_app
from paperboy.config import Settings
from paperboy.db.models import Comment, DailyEntry, Paper
from paperboy.digest.service import DigestService
from paperboy.digest.subscriptions import SubscriptionRequest
from paperboy.search.indexer import Indexer
from search_support import MemoizingEmbedder
from test_web_pages import item_of, post
from web_support import ingest_hf_daily, make_admin, make_client, sign_up

TOP = "2410.17243"
DAY = "2024-10-25"
UPVOTES, COMMENTS = 65, 4


@pytest.fixture
def community(
    settings: Settings, sessions: sessionmaker[Session], shared_data: Path, embedder: MemoizingEmbedder
) -> TestClient:
    """The day's list with one local upvote, one visible and one hidden local comment on TOP; indexed."""
    ingest_hf_daily(sessions, shared_data)
    Indexer(sessions, settings.home, embedder).run()
    client = make_client(settings, embedder)
    token = sign_up(client, "reader")
    assert client.post(f"/papers/{TOP}/upvote", headers={"X-CSRF-Token": token}).status_code == 303
    post(client, f"/papers/{TOP}/comments", token, body="A local comment that counts.")
    post(client, f"/papers/{TOP}/comments", token, body="A comment a moderator hides.")
    with sessions() as session, session.begin():
        hidden = session.scalars(select(Comment).order_by(Comment.id.desc())).first()
        assert hidden is not None
        hidden.hidden = True
    return client


def _title(sessions: sessionmaker[Session]) -> str:
    with sessions() as session:
        title = session.scalar(select(Paper.title).where(Paper.arxiv_id == TOP))
        assert title
        return title


def test_every_surface_shows_the_same_totals(
    community: TestClient,
    settings: Settings,
    sessions: sessionmaker[Session],
    cli_env: dict[str, str],
    embedder: MemoizingEmbedder,
) -> None:
    client, title = community, _title(sessions)
    seen: dict[str, tuple[int, int]] = {}

    listed = item_of(client.get("/papers", params={"date": DAY}).text, TOP)
    seen["day page"] = (listed.upvotes, listed.comments)
    trending = item_of(client.get("/trending").text, TOP)
    seen["trending page"] = (trending.upvotes, trending.comments)
    page = client.get(f"/papers/{TOP}").text
    count = re.search(r'<span class="count"[^>]*>(\d+)</span>', page)
    discussion = re.search(r'Discussion <span class="muted">\((\d+)\)</span>', page)
    assert count and discussion
    seen["paper page"] = (int(count.group(1)), int(discussion.group(1)))
    found = client.get("/search", params={"q": title}).text
    counts = re.search(rf'<a href="/papers/{re.escape(TOP)}">.*?▲ (\d+) · (\d+) comments', found, re.S)
    assert counts, found[:2000]
    seen["search page"] = (int(counts.group(1)), int(counts.group(2)))

    daily = next(
        e for e in client.get("/api/daily_papers", params={"date": DAY}).json() if e["paper"]["id"] == TOP
    )
    seen["API daily_papers"] = (daily["paper"]["upvotes"], daily["numComments"])
    one = client.get(f"/api/papers/{TOP}").json()
    seen["API paper"] = (one["upvotes"], one["numComments"])
    hits = client.get("/api/papers/search", params={"q": title}).json()
    hit = next(h for h in hits if h["paper"]["id"] == TOP)
    seen["API search"] = (hit["paper"]["upvotes"], hit["numComments"])
    every = client.get("/api/papers", params={"limit": 100}).json()
    upvotes_in_list = next(p["upvotes"] for p in every if p["id"] == TOP)

    for path in ("/feeds/daily.rss", "/feeds/trending.atom"):
        feed = ElementTree.fromstring(
            client.get(path, params={"date": DAY} if "daily" in path else {}).content
        )
        summaries = [e.text or "" for e in feed.iter() if e.tag.endswith(("description", "summary"))]
        shown = [s for s in summaries if s.startswith(_abstract_start(sessions))]
        assert shown, path
        totals = re.search(r"(\d+) upvotes, (\d+) comments$", shown[0])
        assert totals, shown[0][-80:]
        seen[path] = (int(totals.group(1)), int(totals.group(2)))

    cli = CliRunner(env=cli_env)
    day_json = json.loads(cli.invoke(cli_app, ["papers", "list", "--date", DAY, "--json"]).output)
    row = next(r for r in day_json if r["id"] == TOP)
    seen["CLI papers list"] = (row["upvotes"], row["num_comments"])
    shown_json = json.loads(cli.invoke(cli_app, ["papers", "show", TOP, "--json"]).output)
    seen["CLI papers show"] = (shown_json["upvotes"], shown_json["num_comments"])
    searched = json.loads(cli.invoke(cli_app, ["search", title, "--json"]).output)
    result = next(r for r in searched["results"] if r["id"] == TOP)
    seen["CLI search"] = (result["upvotes"], result["num_comments"])

    # The digest says the same number of upvotes (it shows no comment count).
    service = DigestService(settings, sessions)
    subscription = service.subscribe_confirmed(SubscriptionRequest("totals@example.org")).subscription_id
    preview = service.preview(subscription, embedder).html
    top = re.search(rf"{re.escape(TOP)}.*?(\d+) upvotes", preview, re.S)
    assert top, preview[:2000]

    assert seen == dict.fromkeys(seen, (UPVOTES, COMMENTS)), seen
    assert upvotes_in_list == UPVOTES
    assert int(top.group(1)) == UPVOTES


def test_a_removed_entry_no_longer_counts_its_imported_comments(
    community: TestClient, sessions: sessionmaker[Session], settings: Settings
) -> None:
    """The visible-entries rule holds for the totals too: a moderator removes the day's entry."""
    with sessions() as session, session.begin():
        paper_id = session.scalar(select(Paper.id).where(Paper.arxiv_id == TOP))
        session.execute(update(DailyEntry).where(DailyEntry.paper_id == paper_id).values(hidden=True))
    page = community.get(f"/papers/{TOP}").text
    assert 'Discussion <span class="muted">(1)</span>' in page
    assert community.get(f"/api/papers/{TOP}").json()["numComments"] == 1
    admin = make_client(settings)
    sign_up(admin, "moderator")
    make_admin(sessions, "moderator")
    assert TOP not in admin.get("/papers", params={"date": DAY}).text


def _abstract_start(sessions: sessionmaker[Session]) -> str:
    with sessions() as session:
        abstract = session.scalar(select(Paper.abstract).where(Paper.arxiv_id == TOP))
        assert abstract
        return abstract[:40]
