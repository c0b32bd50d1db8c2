"""Email digests against a real SMTP server (aiosmtpd on 127.0.0.1): opt-in, content and headers,
unsubscribe (one-click), preferences, idempotent reruns, bounces, transient failures and the
never-twice rules — on SQLite and PostgreSQL.

Nothing of the code under test is mocked: digests go over SMTP to the server these tests start, links are
followed through the web app, and time moves forward with `DigestSender(now=...)` / `digest send --now`.
"""

from __future__ import annotations

import json
import smtplib
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from mail_support import Received, SmtpServer, free_port
from paperboy.cli import app
from paperboy.clock import utcnow
from paperboy.config import Settings
from paperboy.db.models import Delivery, Paper, SentPaper, Subscription
from paperboy.db.repositories.embeddings import store_embeddings
from paperboy.db.repositories.papers import upsert_papers
from paperboy.digest.compose import DigestComposer
from paperboy.digest.links import CONFIRM, MANAGE, links_for, read_token
from paperboy.digest.outbox import DigestBusy, DigestSender, DigestSummary, digest_lock
from paperboy.digest.schedule import due_period
from paperboy.digest.scheduler import background_digests
from paperboy.digest.service import DigestService
from paperboy.digest.subscriptions import (
    SubscriptionError,
    SubscriptionRequest,
    Topics,
    check_request,
    keyword_label,
)
from paperboy.search.embedder import document_text
from paperboy.search.indexer import content_hash
from paperboy.signing import Signer, TokenError, load_secret_key
from search_support import MemoizingEmbedder, sample_records
from web_support import csrf_token, ingest_hf_daily, make_admin, make_client, sign_up

HF_PAPERS = 29
"""Papers in the Hugging Face daily fixture (all of them trend: one day of entries)."""
REMOTE = ('src="http', "src='http", "src=http", "url(", "@import", "<link", "<script", "<img")


# --- fixtures ------------------------------------------------------------------------------------
# `smtp` (a real aiosmtpd server) and `mail_settings` (sending to it) come from conftest.py.


@pytest.fixture
def library(sessions: sessionmaker[Session], shared_data: Path) -> None:
    ingest_hf_daily(sessions, shared_data)


@pytest.fixture
def noon() -> datetime:
    """Today 12:00 UTC: well after the default send hour (7), so minutes later are the same period."""
    return utcnow().replace(hour=12, minute=0, second=0, microsecond=0)


def subscribe(settings: Settings, sessions: sessionmaker[Session], email: str, **kwargs: object) -> int:
    """An active subscription, as `paperboy subscribe --confirmed` makes it."""
    topics = kwargs.pop("topics", Topics())
    request = SubscriptionRequest(email, topics=topics, **kwargs)  # type: ignore[arg-type]
    return DigestService(settings, sessions).subscribe_confirmed(request).subscription_id


def send(
    settings: Settings,
    sessions: sessionmaker[Session],
    now: datetime,
    frequency: str = "daily",
    embedder: MemoizingEmbedder | None = None,
    **kwargs: object,
) -> DigestSummary:
    return DigestSender(settings, sessions, embedder, now=now).run(frequency, **kwargs)  # type: ignore[arg-type]


def subscription_of(sessions: sessionmaker[Session], email: str, frequency: str = "daily") -> Subscription:
    with sessions() as session:
        found = session.scalar(
            select(Subscription).where(Subscription.email == email, Subscription.frequency == frequency)
        )
        assert found is not None
        return found


def deliveries_of(sessions: sessionmaker[Session], email: str) -> list[Delivery]:
    with sessions() as session:
        query = (
            select(Delivery)
            .join(Subscription, Subscription.id == Delivery.subscription_id)
            .where(Subscription.email == email)
            .order_by(Delivery.id)
        )
        return list(session.scalars(query))


def sent_paper_ids(sessions: sessionmaker[Session], email: str) -> list[int]:
    with sessions() as session:
        query = (
            select(SentPaper.paper_id)
            .join(Subscription, Subscription.id == SentPaper.subscription_id)
            .where(Subscription.email == email)
        )
        return list(session.scalars(query))


def link_in(text: str, path: str) -> str:
    """The first link to `path` in a message part."""
    for word in text.split():
        if f"{path}?token=" in word:
            return word.strip("<>\"'")
    raise AssertionError(f"no {path} link in {text[:500]!r}")


def cli_runner(cli_env: dict[str, str], settings: Settings) -> CliRunner:
    return CliRunner(
        env={
            **cli_env,
            "PAPERBOY_SMTP_PORT": str(settings.smtp_port),
            "PAPERBOY_BASE_URL": settings.base_url,
            "PAPERBOY_MAIL_FROM": settings.mail_from,
            "HF_HUB_OFFLINE": "1",
        }
    )


# --- checks of requests (no database) -----------------------------------------------------------
@pytest.mark.parametrize(
    ("email", "message"),
    [
        ("", "an email address is required"),
        ("not-an-address", "'not-an-address' is not a valid email address"),
        ("alice@localhost", "is not a valid email address"),
        ("alice@example..org", "is not a valid email address"),
        ("alice smith@example.org", "is not a valid email address"),
        ("Alice <alice@example.org>", "is not a valid email address"),
        ("alice@example.org\r\nBcc: eve@example.org", "is not a valid email address"),
        ("a" * 250 + "@example.org", "longer than 254 characters"),
    ],
)
def test_invalid_addresses_are_refused_with_a_clear_message(email: str, message: str) -> None:
    with pytest.raises(SubscriptionError, match=message) as caught:
        check_request(SubscriptionRequest(email))
    assert caught.value.field == "email"


@pytest.mark.parametrize(
    ("request_", "field", "message"),
    [
        (
            SubscriptionRequest("a@example.org", topics=Topics(categories=("cs.XYZ",))),
            "categories",
            "'cs.XYZ' is not an arXiv category",
        ),
        (
            SubscriptionRequest("a@example.org", topics=Topics(categories=("cs.LG", "quantum stuff"))),
            "categories",
            "'quantum stuff' is not an arXiv category",
        ),
        (SubscriptionRequest("a@example.org", frequency="hourly"), "frequency", "daily or weekly"),
        (SubscriptionRequest("a@example.org", send_hour=24), "send_hour", "between 0 and 23"),
        (SubscriptionRequest("a@example.org", max_papers=0), "max_papers", "between 1 and 100"),
        (SubscriptionRequest("a@example.org", timezone="Mars/Olympus"), "timezone", "not a time zone"),
        (
            SubscriptionRequest("a@example.org", topics=Topics(keywords=tuple(f"k{n}" for n in range(21)))),
            "keywords",
            "at most 20 keywords",
        ),
    ],
)
def test_bad_topics_and_settings_are_refused(request_: SubscriptionRequest, field: str, message: str) -> None:
    with pytest.raises(SubscriptionError, match=message) as caught:
        check_request(request_)
    assert caught.value.field == field


def test_requests_are_normalized() -> None:
    checked = check_request(
        SubscriptionRequest(
            "  Alice@Example.ORG ",
            topics=Topics(
                categories=("cs.lg", "CS.LG", "astro-ph.ga"), keywords=(" diffusion ", "", "diffusion")
            ),
        )
    )
    assert checked.email == "alice@example.org", "one subscriber per address, whatever its case"
    assert checked.topics.categories == ("cs.LG", "astro-ph.GA")
    assert checked.topics.keywords == ("diffusion",)


class _Schedule:
    """Just the fields due_period reads."""

    def __init__(self, frequency: str, send_hour: int = 7, timezone: str = "UTC") -> None:
        self.frequency = frequency
        self.send_hour = send_hour
        self.timezone = timezone


@pytest.mark.parametrize(
    ("frequency", "send_hour", "timezone", "now", "period"),
    [
        ("daily", 7, "UTC", datetime(2026, 11, 22, 6, 59), "2026-11-21"),
        ("daily", 7, "UTC", datetime(2026, 11, 22, 7, 0), "2026-11-22"),
        # 23:30 UTC is 08:30 the next day in Tokyo: that day's digest is due.
        ("daily", 8, "Asia/Tokyo", datetime(2026, 11, 22, 23, 30), "2026-11-23"),
        ("daily", 8, "Asia/Tokyo", datetime(2026, 11, 22, 22, 30), "2026-11-22"),
        # 03:00 UTC is still the previous evening in Los Angeles; 14:00 UTC is 06:00 there, before 7.
        ("daily", 7, "America/Los_Angeles", datetime(2026, 11, 22, 3, 0), "2026-11-21"),
        ("daily", 7, "America/Los_Angeles", datetime(2026, 11, 22, 14, 0), "2026-11-21"),
        ("daily", 7, "America/Los_Angeles", datetime(2026, 11, 22, 15, 0), "2026-11-22"),
        # 2026-11-23 is a Monday (ISO week 48).
        ("weekly", 7, "UTC", datetime(2026, 11, 23, 7, 0), "2026-W48"),
        ("weekly", 7, "UTC", datetime(2026, 11, 23, 6, 0), "2026-W47"),
        ("weekly", 7, "UTC", datetime(2026, 11, 29, 23, 0), "2026-W48"),
        ("weekly", 7, "UTC", datetime(2027, 1, 1, 12, 0), "2026-W53"),
    ],
)
def test_due_period(frequency: str, send_hour: int, timezone: str, now: datetime, period: str) -> None:
    assert due_period(_Schedule(frequency, send_hour, timezone), now) == period  # type: ignore[arg-type]


def test_signed_links_refuse_tampering_expiry_and_the_wrong_purpose(settings: Settings) -> None:
    signer = Signer(load_secret_key(settings))
    subscription = Subscription(id=7, email="alice@example.org")
    links = links_for(settings, signer, subscription)
    manage = parse_qs(urlsplit(links.unsubscribe).query)["token"][0]
    confirm = parse_qs(urlsplit(links.confirm).query)["token"][0]
    assert read_token(signer, MANAGE, manage) == (7, "alice@example.org")
    assert read_token(signer, CONFIRM, confirm, 3600) == (7, "alice@example.org")
    for token in (tampered(manage), tampered(manage, 0), manage[:20], "", "x.y.z"):
        with pytest.raises(TokenError, match="not valid"):
            read_token(signer, MANAGE, token)
    with pytest.raises(TokenError, match="not valid"):
        read_token(signer, MANAGE, confirm)  # a confirmation link cannot unsubscribe (and vice versa)
    with pytest.raises(TokenError, match="not valid"):
        read_token(Signer(b"another site's key"), MANAGE, manage)
    # A token signed with another payload under the right key and purpose still names nothing usable.
    with pytest.raises(TokenError, match="not valid"):
        read_token(signer, MANAGE, signer.sign(MANAGE, {"s": "7", "e": "alice@example.org"}))
    old = _signed_in_the_past(settings, CONFIRM, {"s": 7, "e": "alice@example.org"}, days=8)
    with pytest.raises(TokenError, match="expired"):
        read_token(signer, CONFIRM, old, 7 * 86400)


def tampered(token: str, position: int = -10) -> str:
    """The token with one character changed (never the last one, whose low bits base64 ignores)."""
    changed = "A" if token[position] != "A" else "B"
    return token[:position] + changed + (token[position + 1 :] if position != -1 else "")


def _signed_in_the_past(settings: Settings, purpose: str, payload: object, days: float) -> str:
    """A token exactly as the site signs it, but with a timestamp `days` ago."""

    class PastSigner(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - days * 86400)

    serializer = URLSafeTimedSerializer(load_secret_key(settings), salt=purpose, signer=PastSigner)
    return serializer.dumps(payload)


# --- composing ----------------------------------------------------------------------------------
def test_for_you_follows_categories_authors_keywords_and_exclusions(
    sessions: sessionmaker[Session], settings: Settings, shared_data: Path
) -> None:
    records = sample_records(shared_data, limit=60)
    with sessions() as session, session.begin():
        upsert_papers(session, records)
    by_arxiv = {r.arxiv_id: r for r in records}
    now = utcnow()
    with sessions() as session:
        composer = DigestComposer(session, "daily", now, None, 7, 1.5)
        assert composer.trending == [], "no daily entries: nothing trends"

        def compose(**topics: list[str]) -> list[tuple[str, str]]:
            subscription = Subscription(id=10_000, email="x@example.org", max_papers=100, **topics)
            content = composer.compose(session, subscription)
            assert content.trending == ()
            return [(p.arxiv_id, p.reason) for p in content.for_you]

        in_cl = compose(categories=["cs.CL"])
        assert in_cl and all(reason == "new in cs.CL" for _, reason in in_cl)
        assert {a for a, _ in in_cl} == {r.arxiv_id for r in records if "cs.CL" in r.categories}

        by_author = compose(authors=["author 3"])
        assert by_author and all(reason == "by Author 3" for _, reason in by_author)
        assert {a for a, _ in by_author} == {r.arxiv_id for r in records if "Author 3" in r.authors}

        word = "reinforcement"
        matching = {r.arxiv_id for r in records if word in f"{r.title} {r.abstract}".lower()}
        assert matching, "the sample has papers about the keyword"
        keyword = compose(keywords=[word])
        assert {a for a, _ in keyword} == matching
        assert all(reason == f"matches “{word}”" for _, reason in keyword)

        # Keywords with categories: only matches inside the categories.
        narrowed = compose(keywords=[word], categories=["cs.CL"])
        assert {a for a, _ in narrowed} == {a for a in matching if "cs.CL" in by_arxiv[a].categories}

        excluded = compose(keywords=[word], excluded_keywords=["language model"])
        assert excluded
        for arxiv_id, _ in excluded:
            text = f"{by_arxiv[arxiv_id].title} {by_arxiv[arxiv_id].abstract}".lower()
            assert not ("language" in text and "model" in text)

        # A weekly window sees the same new papers; a day later the daily window sees none.
        later = DigestComposer(session, "daily", now + timedelta(days=2), None, 7, 1.5)
        assert later.candidates == []
        weekly = DigestComposer(session, "weekly", now + timedelta(days=2), None, 7, 1.5)
        assert len(weekly.candidates) == len(records)


def test_a_keyword_finds_papers_in_other_words_through_the_embeddings(
    sessions: sessionmaker[Session], settings: Settings, shared_data: Path, embedder: MemoizingEmbedder
) -> None:
    ingest_hf_daily(sessions, shared_data)
    with sessions() as session, session.begin():
        composer = DigestComposer(session, "daily", utcnow(), None, 7, 1.5)
        papers = [c.paper for c in composer.candidates]
        texts = [document_text(p.title, p.abstract) for p in papers]
        vectors = embedder.embed_documents(texts)
        store_embeddings(
            session,
            embedder.name,
            {
                p.id: (content_hash(embedder.signature, t), vectors[i])
                for i, (p, t) in enumerate(zip(papers, texts, strict=True))
            },
        )
    keyword = "animation"
    with sessions() as session:
        lexical = DigestComposer(session, "daily", utcnow(), None, 7, 1.5)
        dense = DigestComposer(session, "daily", utcnow(), embedder, 7, 1.5)
        # Two papers: one trending, one "for you" (every paper of the fixture trends).
        subscription = Subscription(id=10_000, email="x@example.org", max_papers=2, keywords=[keyword])
        without = lexical.compose(session, subscription).for_you
        found = dense.compose(session, subscription).for_you
    # "Framer: Interactive Frame Interpolation" is about animating images but never says "animation".
    assert [p.arxiv_id for p in without] == []
    assert [(p.arxiv_id, p.reason) for p in found] == [("2410.18978", f"matches “{keyword}”")]


def test_for_you_papers_that_also_trend_do_not_shorten_the_digest(
    library: None, sessions: sessionmaker[Session], noon: datetime
) -> None:
    with sessions() as session:
        composer = DigestComposer(session, "daily", noon, None, 7, 1.5)
        # Zesen Cheng's paper is the top trending one: shown once, and the digest still has 3 papers.
        follows = Subscription(id=10_000, email="x@example.org", max_papers=3, authors=["Zesen Cheng"])
        content = composer.compose(session, follows)
        ids = [p.arxiv_id for p in (*content.trending, *content.for_you)]
        assert ids == ["2410.17243", "2410.16251", "2410.18533"]
        # A followed author whose paper does not trend gets the "for you" slot.
        follows = Subscription(id=10_000, email="x@example.org", max_papers=3, authors=["Ashish Khisti"])
        content = composer.compose(session, follows)
        assert [p.arxiv_id for p in content.trending] == ["2410.17243", "2410.16251"]
        assert [(p.arxiv_id, p.reason) for p in content.for_you] == [("2410.18234", "by Ashish Khisti")]


# --- content and headers ------------------------------------------------------------------------
def test_digest_content_and_headers(
    library: None,
    mail_settings: Settings,
    sessions: sessionmaker[Session],
    smtp: SmtpServer,
    noon: datetime,
) -> None:
    subscribe(mail_settings, sessions, "alice@example.org", topics=Topics(keywords=("diffusion",)))
    summary = send(mail_settings, sessions, noon)
    assert (summary.sent, summary.failed, summary.deferred) == (1, 0, 0)
    [received] = smtp.received
    message = received.message
    assert received.rcpt_tos == ("alice@example.org",)
    assert received.mail_from == "digest@paperboy.test"
    assert message["From"] == "Paperboy <digest@paperboy.test>"
    assert message["To"] == "alice@example.org"
    assert message["Auto-Submitted"] == "auto-generated"
    [delivery] = deliveries_of(sessions, "alice@example.org")
    assert delivery.status == "sent" and delivery.attempts == 1
    assert (
        received.message_id == delivery.message_id == f"<digest.{delivery.id}.{noon:%Y-%m-%d}@paperboy.test>"
    )
    assert message["Subject"].startswith("Paperboy daily: 6 trending papers + 4 for you")
    # Both parts, no remote resources (nothing loads when the mail is opened).
    assert message.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
    text, html = received.part("plain"), received.part("html")
    for marker in REMOTE:
        assert marker not in html.lower()
    assert "Trending in the community" in text and "New for you" in text
    assert "Breaking the Memory Barrier" in text and "Breaking the Memory Barrier" in html
    assert "matches “diffusion”" in text
    assert "http://testserver/papers/2410.17243" in text
    assert 'href="http://testserver/papers/2410.17243"' in html
    chosen = [pid for section in delivery.chosen.values() for pid, _ in section]  # type: ignore[union-attr]
    assert sorted(sent_paper_ids(sessions, "alice@example.org")) == sorted(chosen)
    assert len(received.arxiv_ids) == len(chosen) == 10
    # RFC 8058: the header is the plain URL in angle brackets (never RFC 2047 encoded) plus the POST hint.
    unsubscribe = received.raw_header("List-Unsubscribe")
    assert unsubscribe.startswith("<http://testserver/subscriptions/unsubscribe?token=")
    assert unsubscribe.endswith(">") and "=?" not in unsubscribe
    assert received.raw_header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    assert unsubscribe[1:-1] == link_in(text, "/subscriptions/unsubscribe")
    assert unsubscribe[1:-1] in html
    assert "http://testserver/subscriptions/preferences?token=" in html
    assert all(len(line) <= 998 for line in received.data.split(b"\r\n"))


def test_html_is_escaped(
    library: None,
    mail_settings: Settings,
    sessions: sessionmaker[Session],
    smtp: SmtpServer,
    noon: datetime,
) -> None:
    with sessions() as session, session.begin():
        paper = session.scalar(select(Paper).where(Paper.arxiv_id == "2410.17243"))
        assert paper is not None
        paper.title = 'Evil <img src="http://tracker.example/x.gif"> & <script>alert(1)</script>'
    subscribe(mail_settings, sessions, "alice@example.org")
    send(mail_settings, sessions, noon)
    html = smtp.received[0].part("html")
    assert "&lt;img src=&#34;http://tracker.example/x.gif&#34;&gt; &amp; &lt;script&gt;" in html
    assert "<img" not in html and "<script" not in html


# --- opt-in -------------------------------------------------------------------------------------
def test_double_opt_in_through_the_web(
    library: None,
    mail_settings: Settings,
    sessions: sessionmaker[Session],
    smtp: SmtpServer,
    noon: datetime,
) -> None:
    client = make_client(mail_settings)
    token = csrf_token(client, "/subscribe")
    page = client.post(
        "/subscribe",
        data={"csrf_token": token, "email": "bob@example.org", "frequency": "daily", "keywords": "diffusion"},
    )
    assert page.status_code == 200, page.text
    assert "We sent an email to bob@example.org" in page.text
    [confirmation] = smtp.received
    assert confirmation.rcpt_tos == ("bob@example.org",)
    assert confirmation.message["Subject"] == "Confirm your Paperboy digest"
    assert [p.get_content_type() for p in confirmation.message.iter_parts()] == ["text/plain", "text/html"]
    assert "7 days" in confirmation.part("plain")
    link = link_in(confirmation.part("plain"), "/subscriptions/confirm")
    assert link in confirmation.part("html").replace("&amp;", "&")
    assert subscription_of(sessions, "bob@example.org").status == "pending"

    # Unconfirmed: no digest, however many runs.
    for day in range(2):
        summary = send(mail_settings, sessions, noon + timedelta(days=day))
        assert summary.subscriptions == 0 and summary.sent == 0
    assert len(smtp.received) == 1
    assert deliveries_of(sessions, "bob@example.org") == []

    # Asking again while pending sends a new link; the old one still works.
    client.post("/subscribe", data={"csrf_token": token, "email": "bob@example.org", "keywords": "diffusion"})
    assert len(smtp.received) == 2
    confirmed = client.get(link)
    assert confirmed.status_code == 200 and "You are subscribed" in confirmed.text
    assert subscription_of(sessions, "bob@example.org").status == "active"
    assert client.get(link).status_code == 200, "confirming twice is harmless"

    summary = send(mail_settings, sessions, noon + timedelta(days=2))
    assert summary.sent == 1
    assert smtp.received[-1].rcpt_tos == ("bob@example.org",)

    # Subscribing an active address again changes nothing (nobody can change someone else's topics
    # without the emailed link), answers exactly as for a new address (nobody learns who is subscribed),
    # and tells the owner, with the preferences link.
    again = client.post(
        "/subscribe", data={"csrf_token": token, "email": "bob@example.org", "keywords": "quantum"}
    )
    new = client.post("/subscribe", data={"csrf_token": token, "email": "carol@example.org", "keywords": "x"})
    assert again.status_code == new.status_code == 200
    assert again.text.replace("bob@example.org", "ADDRESS") == new.text.replace(
        "carol@example.org", "ADDRESS"
    )
    notice = next(
        m for m in smtp.received if m.rcpt_tos == ("bob@example.org",) and "already" in m.message["Subject"]
    )
    assert notice.message["Subject"] == "You already get the Paperboy digest"
    assert "/subscriptions/preferences?token=" in notice.part("plain") and "/confirm" not in notice.part(
        "plain"
    )
    assert subscription_of(sessions, "bob@example.org").keywords == ["diffusion"]
    assert subscription_of(sessions, "bob@example.org").status == "active"


def test_refusals_on_every_way_in(
    mail_settings: Settings,
    sessions: sessionmaker[Session],
    smtp: SmtpServer,
    cli_env: dict[str, str],
) -> None:
    client = make_client(mail_settings)
    token = csrf_token(client, "/subscribe")
    bad_email = client.post("/subscribe", data={"csrf_token": token, "email": "bob-at-example.org"})
    assert bad_email.status_code == 400
    assert "is not a valid email address" in bad_email.text
    bad_category = client.post(
        "/subscribe", data={"csrf_token": token, "email": "bob@example.org", "categories": "cs.LG, cs.NOPE"}
    )
    assert bad_category.status_code == 400
    assert "is not an arXiv category" in bad_category.text and "cs.NOPE" in bad_category.text
    no_csrf = client.post("/subscribe", data={"email": "bob@example.org"})
    assert no_csrf.status_code in (400, 403)

    api = client.post("/api/subscriptions", json={"email": "nobody", "categories": ["cs.LG"]})
    assert api.status_code == 400
    assert api.json() == {"error": "'nobody' is not a valid email address", "parameter": "email"}
    api = client.post("/api/subscriptions", json={"email": "carol@example.org", "categories": ["cs.NOPE"]})
    assert api.status_code == 400
    assert (
        api.json()["parameter"] == "categories"
        and "'cs.NOPE' is not an arXiv category" in api.json()["error"]
    )
    api = client.post("/api/subscriptions", json={"email": "carol@example.org", "timezone": "Mars/Olympus"})
    assert api.status_code == 400 and api.json()["parameter"] == "timezone"
    assert smtp.received == []

    ok = client.post("/api/subscriptions", json={"email": "carol@example.org", "categories": ["cs.lg"]})
    assert ok.status_code == 202
    assert ok.json() == {"email": "carol@example.org", "frequency": "daily", "status": "pending"}
    assert smtp.received[0].rcpt_tos == ("carol@example.org",)
    assert subscription_of(sessions, "carol@example.org").categories == ["cs.LG"]

    runner = cli_runner(cli_env, mail_settings)
    result = runner.invoke(app, ["subscribe", "not an address"])
    assert result.exit_code == 2
    assert "'not an address' is not a valid email address" in result.output
    result = runner.invoke(app, ["subscribe", "dave@example.org", "--category", "physics.bogus"])
    assert result.exit_code == 2
    assert "--category: 'physics.bogus' is not an arXiv category" in result.output
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Subscription)) == 1


def test_cli_subscribe_unsubscribe_and_send(
    library: None,
    mail_settings: Settings,
    sessions: sessionmaker[Session],
    smtp: SmtpServer,
    cli_env: dict[str, str],
    noon: datetime,
) -> None:
    runner = cli_runner(cli_env, mail_settings)
    result = runner.invoke(app, ["subscribe", "erin@example.org", "--keyword", "diffusion"])
    assert result.exit_code == 0, result.output
    assert "confirmation link sent" in result.output
    assert smtp.received[0].message["Subject"] == "Confirm your Paperboy digest"
    result = runner.invoke(
        app,
        ["subscribe", "frank@example.org", "--confirmed", "--author", "Ashish Khisti", "--max-papers", "3"],
    )
    assert result.exit_code == 0, result.output
    assert "confirmed by the operator" in result.output
    frank = subscription_of(sessions, "frank@example.org")
    assert (frank.status, frank.authors, frank.max_papers) == ("active", ["Ashish Khisti"], 3)

    result = runner.invoke(
        app, ["digest", "send", "--frequency", "daily", "--dry-run", "--now", noon.isoformat()]
    )
    assert result.exit_code == 0, result.output
    assert "would send 1" in result.output
    assert len(smtp.received) == 1 and deliveries_of(sessions, "frank@example.org") == []

    result = runner.invoke(
        app, ["digest", "send", "--frequency", "daily", "--json", "--now", noon.isoformat()]
    )
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert (figures["subscriptions"], figures["sent"], figures["failed"]) == (1, 1, 0)
    digest = smtp.received[-1]
    assert digest.rcpt_tos == ("frank@example.org",)
    assert len(digest.arxiv_ids) == 3
    assert "by Ashish Khisti" in digest.part("plain"), "the followed author's paper is in the digest"

    # A rerun in the same period sends nothing.
    result = runner.invoke(
        app, ["digest", "send", "--frequency", "daily", "--json", "--now", noon.isoformat()]
    )
    assert result.exit_code == 0
    assert json.loads(result.output)["skipped_done"] == 1
    assert len(smtp.received) == 2

    result = runner.invoke(app, ["unsubscribe", "frank@EXAMPLE.org"])  # the domain's case does not matter
    assert result.exit_code == 0 and "unsubscribed from 1 digest" in result.output
    result = runner.invoke(app, ["unsubscribe", "nobody@example.org"])
    assert result.exit_code == 2 and "no subscription for 'nobody@example.org'" in result.output
    result = runner.invoke(
        app, ["digest", "send", "--frequency", "daily", "--now", (noon + timedelta(days=1)).isoformat()]
    )
    assert result.exit_code == 0
    assert len(smtp.received) == 2

    result = runner.invoke(app, ["digest", "send", "--frequency", "hourly"])
    assert result.exit_code == 2 and "--frequency must be daily or weekly" in result.output
    result = runner.invoke(app, ["digest", "send", "--frequency", "daily", "--now", "tomorrow"])
    assert result.exit_code == 2 and "--now: expected an ISO date-time" in result.output


def test_expired_and_tampered_confirmation_links_are_refused(
    mail_settings: Settings, sessions: sessionmaker[Session], smtp: SmtpServer
) -> None:
    settings = mail_settings.model_copy(update={"confirm_days": 2})
    service = DigestService(settings, sessions)
    outcome = service.request(SubscriptionRequest("gina@example.org"))
    payload = {"s": outcome.subscription_id, "e": "gina@example.org"}
    client = make_client(settings)

    expired = _signed_in_the_past(settings, CONFIRM, payload, days=2.1)
    page = client.get("/subscriptions/confirm", params={"token": expired})
    assert page.status_code == 400
    assert "This link cannot be used: the link has expired" in page.text
    assert subscription_of(sessions, "gina@example.org").status == "pending"

    link = link_in(smtp.received[0].part("plain"), "/subscriptions/confirm")
    token = parse_qs(urlsplit(link).query)["token"][0]
    for bad in (token[:-2], token.replace(".", "x", 1), token + "A", tampered(token), ""):
        page = client.get("/subscriptions/confirm", params={"token": bad})
        assert page.status_code == 400 and "not valid" in page.text
    # A payload naming another subscription under a valid signature but the wrong address.
    other = Signer(load_secret_key(settings)).sign(
        CONFIRM, {"s": outcome.subscription_id, "e": "eve@example.org"}
    )
    page = client.get("/subscriptions/confirm", params={"token": other})
    assert page.status_code == 400 and "no longer exists" in page.text
    # A management link (unsubscribe/preferences) is no confirmation.
    manage = parse_qs(
        urlsplit(service.links(subscription_of(sessions, "gina@example.org")).preferences).query
    )
    assert client.get("/subscriptions/confirm", params={"token": manage["token"][0]}).status_code == 400
    assert subscription_of(sessions, "gina@example.org").status == "pending"

    almost = _signed_in_the_past(settings, CONFIRM, payload, days=1.9)
    assert client.get("/subscriptions/confirm", params={"token": almost}).status_code == 200
    assert subscription_of(sessions, "gina@example.org").status == "active"


def test_confirmation_email_when_the_smtp_server_is_down(
    settings: Settings, sessions: sessionmaker[Session], smtp: SmtpServer, cli_env: dict[str, str]
) -> None:
    down = settings.model_copy(
        update={"smtp_port": free_port(), "base_url": "http://testserver", "mail_outbox": None}
    )
    client = make_client(down)
    page = client.post(
        "/subscribe", data={"csrf_token": csrf_token(client, "/subscribe"), "email": "mo@example.org"}
    )
    assert page.status_code == 503 and "Your request is saved" in page.text
    api = client.post("/api/subscriptions", json={"email": "ned@example.org"})
    assert api.status_code == 503 and "could not be sent now" in api.json()["error"]
    result = cli_runner(cli_env, down).invoke(app, ["subscribe", "oz@example.org"])
    assert result.exit_code == 2
    assert "the subscription is saved but the confirmation email could not be sent" in result.output
    for email in ("mo@example.org", "ned@example.org", "oz@example.org"):
        assert subscription_of(sessions, email).status == "pending"
    # Asking again once the server is back sends the link.
    back = down.model_copy(update={"smtp_port": smtp.port})
    assert DigestService(back, sessions).request(SubscriptionRequest("mo@example.org")).needs_confirmation
    assert [r.rcpt_tos for r in smtp.received] == [("mo@example.org",)]


# --- unsubscribe and preferences ----------------------------------------------------------------
def test_one_click_unsubscribe_from_the_header(
    library: None,
    mail_settings: Settings,
    sessions: sessionmaker[Session],
    smtp: SmtpServer,
    noon: datetime,
) -> None:
    subscribe(mail_settings, sessions, "hana@example.org")
    subscribe(mail_settings, sessions, "ivan@example.org")
    assert send(mail_settings, sessions, noon).sent == 2
    [to_hana] = smtp.handler.to("hana@example.org")
    url = to_hana.raw_header("List-Unsubscribe")[1:-1]
    client = make_client(mail_settings)

    # Opening the link (as mail scanners do) only shows a page with a button.
    page = client.get(url)
    assert page.status_code == 200 and "hana@example.org" in page.text
    assert subscription_of(sessions, "hana@example.org").status == "active"

    # What a mail client does for RFC 8058 one-click: POST the header's body to the header's URL,
    # with no cookie and no CSRF token.
    clicked = client.post(
        url,
        content=to_hana.raw_header("List-Unsubscribe-Post").encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert clicked.status_code == 200, clicked.text
    assert "You are unsubscribed" in clicked.text
    assert subscription_of(sessions, "hana@example.org").status == "unsubscribed"
    assert client.post(url, content=b"List-Unsubscribe=One-Click").status_code == 200, "twice is harmless"

    forged = tampered(url)
    assert client.post(forged, content=b"List-Unsubscribe=One-Click").status_code == 400

    summary = send(mail_settings, sessions, noon + timedelta(days=1))
    assert summary.subscriptions == 1 and summary.sent == 1
    assert [r.rcpt_tos for r in smtp.received[2:]] == [("ivan@example.org",)]
    assert len(smtp.handler.to("hana@example.org")) == 1
    assert subscription_of(sessions, "ivan@example.org").status == "active"


def test_preferences_link_and_preview(
    library: None,
    mail_settings: Settings,
    sessions: sessionmaker[Session],
    smtp: SmtpServer,
    noon: datetime,
    embedder: MemoizingEmbedder,
) -> None:
    subscribe(mail_settings, sessions, "jo@example.org", topics=Topics(keywords=("diffusion",)))
    send(mail_settings, sessions, noon)
    text = smtp.received[0].part("plain")
    preferences = link_in(text, "/subscriptions/preferences")
    client = make_client(mail_settings, embedder)
    page = client.get(preferences)
    assert page.status_code == 200 and "jo@example.org" in page.text and "diffusion" in page.text

    tampered = preferences.replace("token=", "token=x")
    assert client.get(tampered).status_code == 400

    token = csrf_token(client, preferences)
    path = urlsplit(preferences)
    target = f"{path.path}?{path.query}"
    form = {
        "csrf_token": token,
        "send_hour": "9",
        "timezone": "Europe/Paris",
        "max_papers": "5",
        "categories": "cs.CV",
        "keywords": "video generation\nimage editing",
        "authors": "",
        "excluded_keywords": "watermark",
    }
    assert client.post(target, data={k: v for k, v in form.items() if k != "csrf_token"}).status_code in (
        400,
        403,
    )
    refused = client.post(target, data={**form, "categories": "cs.CV, nope.XX"})
    assert refused.status_code == 400 and "is not an arXiv category" in refused.text
    saved = client.post(target, data=form)
    assert saved.status_code == 303
    jo = subscription_of(sessions, "jo@example.org")
    assert (jo.send_hour, jo.timezone, jo.max_papers) == (9, "Europe/Paris", 5)
    assert (jo.categories, jo.keywords, jo.excluded_keywords) == (
        ["cs.CV"],
        ["video generation", "image editing"],
        ["watermark"],
    )
    assert jo.email == "jo@example.org" and jo.frequency == "daily"

    # The preview link shows the next digest and records nothing.
    links = DigestService(mail_settings, sessions).links(subscription_of(sessions, "jo@example.org"))
    preview = client.get(links.preview)
    assert preview.status_code == 200
    assert "default-src 'none'" in preview.headers["content-security-policy"]
    for marker in REMOTE:
        assert marker not in preview.text.lower()
    assert len(deliveries_of(sessions, "jo@example.org")) == 1

    # An admin can preview anyone's digest; others cannot. (Sign-up's email goes to an outbox here.)
    admin = make_client(
        mail_settings.model_copy(update={"mail_outbox": mail_settings.home / "outbox"}), embedder
    )
    sign_up(admin, "root")
    assert admin.get("/admin/digest/preview", params={"email": "jo@example.org"}).status_code == 403
    make_admin(sessions, "root")
    shown = admin.get("/admin/digest/preview", params={"email": "jo@example.org"})
    assert shown.status_code == 200 and "Trending in the community" in shown.text
    assert admin.get("/admin/digest/preview", params={"email": "nobody@example.org"}).status_code == 404


def test_cli_preview_writes_html_and_records_nothing(
    library: None,
    mail_settings: Settings,
    sessions: sessionmaker[Session],
    smtp: SmtpServer,
    cli_env: dict[str, str],
    tmp_path: Path,
) -> None:
    subscribe(mail_settings, sessions, "kim@example.org", max_papers=4)
    out = tmp_path / "preview.html"
    result = cli_runner(cli_env, mail_settings).invoke(
        app, ["digest", "preview", "--email", "kim@example.org", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "4 papers, status active" in result.output
    html = out.read_text()
    assert html.count("Discuss and upvote") == 4 and "Breaking the Memory Barrier" in html
    for marker in REMOTE:
        assert marker not in html.lower()
    assert smtp.received == [] and deliveries_of(sessions, "kim@example.org") == []
    missing = cli_runner(cli_env, mail_settings).invoke(
        app, ["digest", "preview", "--email", "nobody@example.org", "--out", str(out)]
    )
    assert missing.exit_code == 2 and "no subscription for 'nobody@example.org'" in missing.output


# --- sending rules ------------------------------------------------------------------------------
def test_only_active_subscriptions_get_digests(
    library: None,
    mail_settings: Settings,
    sessions: sessionmaker[Session],
    smtp: SmtpServer,
    noon: datetime,
) -> None:
    service = DigestService(mail_settings, sessions)
    service.request(SubscriptionRequest("pending@example.org"))
    subscribe(mail_settings, sessions, "active@example.org")
    subscribe(mail_settings, sessions, "weekly@example.org", frequency="weekly")
    subscribe(mail_settings, sessions, "paused@example.org")
    subscribe(mail_settings, sessions, "gone@example.org")
    with sessions() as session, session.begin():
        for email, status in (("paused@example.org", "paused"), ("gone@example.org", "unsubscribed")):
            found = session.scalar(select(Subscription).where(Subscription.email == email))
            assert found is not None
            found.status = status
    smtp.received.clear()
    summary = send(mail_settings, sessions, noon)
    assert summary.subscriptions == 1 and summary.sent == 1
    assert [r.rcpt_tos for r in smtp.received] == [("active@example.org",)]
    weekly = send(mail_settings, sessions, noon, frequency="weekly")
    assert weekly.sent == 1
    assert smtp.received[-1].rcpt_tos == ("weekly@example.org",)
    assert smtp.received[-1].message["Subject"].startswith("Paperboy weekly:")
    assert smtp.received[-1].message_id.endswith(
        f".{due_period(subscription_of(sessions, 'weekly@example.org', 'weekly'), noon)}@paperboy.test>"
    )
    # --email limits a run to some subscribers.
    subscribe(mail_settings, sessions, "second@example.org")
    only = send(mail_settings, sessions, noon + timedelta(days=1), emails=["second@example.org"])
    assert only.subscriptions == 1 and smtp.received[-1].rcpt_tos == ("second@example.org",)


def test_reruns_are_idempotent(
    library: None,
    mail_settings: Settings,
    sessions: sessionmaker[Session],
    smtp: SmtpServer,
    noon: datetime,
) -> None:
    emails = [f"user{n}@example.org" for n in range(5)]
    for email in emails:
        subscribe(mail_settings, sessions, email)
    first = send(mail_settings, sessions, noon)
    assert (first.subscriptions, first.sent) == (5, 5)
    for later in (noon, noon + timedelta(minutes=30), noon + timedelta(hours=11)):
        again = send(mail_settings, sessions, later)
        assert (again.sent, again.skipped_done, again.failed) == (0, 5, 0)
    assert sorted(smtp.handler.per_recipient().items()) == [(e, 1) for e in sorted(emails)]
    dry = send(mail_settings, sessions, noon + timedelta(days=1), dry_run=True)
    assert dry.sent == 5 and dry.dry_run
    assert len(smtp.received) == 5
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 5, "a dry run records nothing"
    # The next day is a new period: everyone gets the next digest, once.
    assert send(mail_settings, sessions, noon + timedelta(days=1)).sent == 5
    assert send(mail_settings, sessions, noon + timedelta(days=1)).sent == 0
    assert set(smtp.handler.per_recipient().values()) == {2}
    assert len({r.message_id for r in smtp.received}) == 10


def test_a_paper_is_never_sent_twice_and_an_empty_period_sends_nothing(
    library: None,
    mail_settings: Settings,
    sessions: sessionmaker[Session],
    smtp: SmtpServer,
    noon: datetime,
) -> None:
    subscribe(mail_settings, sessions, "lee@example.org", topics=Topics(keywords=("language models",)))
    seen: list[str] = []
    sizes = []
    for day in range(5):
        summary = send(mail_settings, sessions, noon + timedelta(days=day))
        if summary.sent:
            [digest] = smtp.received[day:]
            sizes.append(len(digest.arxiv_ids))
            seen += digest.arxiv_ids
        else:
            assert summary.skipped_empty == 1
            break
    assert sizes == [10, 10, 9], "29 papers, 10 a day, none twice"
    assert len(seen) == len(set(seen)) == HF_PAPERS
    assert len(smtp.received) == 3
    received = sent_paper_ids(sessions, "lee@example.org")
    assert len(received) == len(set(received)) == HF_PAPERS
    statuses = [d.status for d in deliveries_of(sessions, "lee@example.org")]
    assert statuses == [
        "sent",
        "sent",
        "sent",
    ]  # an empty period records nothing: a later run may find papers
    # The empty period stays empty on rerun (nothing is sent later for it).
    assert send(mail_settings, sessions, noon + timedelta(days=3)).sent == 0
    assert len(smtp.received) == 3


# --- failures -----------------------------------------------------------------------------------
def test_permanent_bounces_pause_the_subscription(
    library: None,
    mail_settings: Settings,
    sessions: sessionmaker[Session],
    smtp: SmtpServer,
    cli_env: dict[str, str],
    noon: datetime,
) -> None:
    settings = mail_settings.model_copy(update={"digest_bounce_limit": 3})
    subscribe(settings, sessions, "ghost@example.org")
    subscribe(settings, sessions, "real@example.org", max_papers=3)
    smtp.handler.refuse["ghost@example.org"] = "550 5.1.1 no such user"
    runner = cli_runner({**cli_env, "PAPERBOY_DIGEST_BOUNCE_LIMIT": "3"}, settings)
    for day in range(3):
        moment = (noon + timedelta(days=day)).isoformat()
        result = runner.invoke(app, ["digest", "send", "--frequency", "daily", "--json", "--now", moment])
        assert result.exit_code == 1, "some digests failed"
        figures = json.loads(result.output)
        assert (figures["sent"], figures["failed"], figures["deferred"]) == (1, 1, 0)
        assert figures["paused"] == (1 if day == 2 else 0)
        assert "550" in figures["errors"][0] and "no such user" in figures["errors"][0]
        ghost = subscription_of(sessions, "ghost@example.org")
        assert ghost.bounce_count == day + 1
        assert ghost.status == ("paused" if day == 2 else "active")
    failed = deliveries_of(sessions, "ghost@example.org")
    assert [(d.status, d.attempts, d.next_attempt_at) for d in failed] == [("failed", 1, None)] * 3
    assert all("550" in (d.error or "") for d in failed)
    assert sent_paper_ids(sessions, "ghost@example.org") == []
    assert smtp.handler.rcpt_attempts.count("ghost@example.org") == 3

    # Paused: no more attempts; the other subscriber carries on.
    summary = send(settings, sessions, noon + timedelta(days=3))
    assert (summary.subscriptions, summary.sent, summary.failed) == (1, 1, 0)
    assert smtp.handler.rcpt_attempts.count("ghost@example.org") == 3
    assert len(smtp.handler.to("real@example.org")) == 4

    # Saving preferences from the emailed link resumes delivery, with a fresh bounce count.
    del smtp.handler.refuse["ghost@example.org"]
    service = DigestService(settings, sessions)
    token = parse_qs(
        urlsplit(service.links(subscription_of(sessions, "ghost@example.org")).preferences).query
    )
    service.update(token["token"][0], SubscriptionRequest("ghost@example.org"))
    ghost = subscription_of(sessions, "ghost@example.org")
    assert (ghost.status, ghost.bounce_count) == ("active", 0)
    assert send(settings, sessions, noon + timedelta(days=4)).sent == 2
    assert len(smtp.handler.to("ghost@example.org")) == 1


def test_bounces_must_be_in_a_row(
    library: None,
    mail_settings: Settings,
    sessions: sessionmaker[Session],
    smtp: SmtpServer,
    noon: datetime,
) -> None:
    settings = mail_settings.model_copy(update={"digest_bounce_limit": 2})
    subscribe(settings, sessions, "flaky@example.org", max_papers=3)
    for day, bounce in enumerate([True, False, True, False]):
        if bounce:
            smtp.handler.refuse["flaky@example.org"] = "550 5.2.1 mailbox disabled"
        else:
            smtp.handler.refuse.pop("flaky@example.org", None)
        send(settings, sessions, noon + timedelta(days=day))
        flaky = subscription_of(sessions, "flaky@example.org")
        assert flaky.status == "active"
        assert flaky.bounce_count == (1 if bounce else 0)
    # A bounced digest's papers were never received: they come again in the next digest.
    digests = smtp.handler.to("flaky@example.org")
    assert len(digests) == 2
    assert len(set(digests[0].arxiv_ids + digests[1].arxiv_ids)) == 6


def test_transient_failures_wait_and_retry(
    library: None,
    mail_settings: Settings,
    sessions: sessionmaker[Session],
    smtp: SmtpServer,
    noon: datetime,
) -> None:
    settings = mail_settings.model_copy(update={"digest_retry_seconds": 60.0, "digest_max_attempts": 3})
    subscribe(settings, sessions, "busy@example.org")
    subscribe(settings, sessions, "fine@example.org")
    smtp.handler.refuse["busy@example.org"] = "451 4.3.0 mailbox busy, try again later"

    first = send(settings, sessions, noon)
    assert (first.sent, first.deferred, first.failed) == (1, 1, 0)
    [delivery] = deliveries_of(sessions, "busy@example.org")
    assert (delivery.status, delivery.attempts) == ("claimed", 1)
    assert delivery.next_attempt_at == noon + timedelta(seconds=60)
    assert "451" in (delivery.error or "")
    chosen = delivery.chosen

    early = send(settings, sessions, noon + timedelta(seconds=30))
    assert (early.sent, early.deferred, early.skipped_done) == (0, 1, 1)
    assert smtp.handler.rcpt_attempts.count("busy@example.org") == 1, "not tried before its time"

    second = send(settings, sessions, noon + timedelta(seconds=60))
    assert (second.deferred, second.resumed) == (1, 1)
    [delivery] = deliveries_of(sessions, "busy@example.org")
    assert delivery.attempts == 2
    assert delivery.next_attempt_at == noon + timedelta(seconds=60 + 120), "the wait doubles"

    del smtp.handler.refuse["busy@example.org"]
    third = send(settings, sessions, noon + timedelta(seconds=180))
    assert (third.sent, third.deferred, third.failed) == (1, 0, 0)
    [digest] = smtp.handler.to("busy@example.org")
    [delivery] = deliveries_of(sessions, "busy@example.org")
    assert (delivery.status, delivery.attempts, delivery.error) == ("sent", 3, None)
    assert digest.message_id == delivery.message_id
    assert delivery.chosen == chosen, "the retry sends the digest chosen at the first attempt"
    assert subscription_of(sessions, "busy@example.org").bounce_count == 0

    assert send(settings, sessions, noon + timedelta(hours=1)).sent == 0
    assert smtp.handler.per_recipient() == {"busy@example.org": 1, "fine@example.org": 1}


def test_a_digest_deferred_past_its_period_is_still_delivered(
    library: None,
    mail_settings: Settings,
    sessions: sessionmaker[Session],
    smtp: SmtpServer,
    noon: datetime,
) -> None:
    """A digest that could not go out on its day is finished by a later run, before the next day's."""
    settings = mail_settings.model_copy(update={"digest_retry_seconds": 60.0})
    subscribe(settings, sessions, "late@example.org", max_papers=5)
    smtp.handler.refuse["late@example.org"] = "451 4.3.0 mailbox busy, try again later"
    assert send(settings, sessions, noon).deferred == 1
    [first] = deliveries_of(sessions, "late@example.org")

    del smtp.handler.refuse["late@example.org"]
    next_day = send(settings, sessions, noon + timedelta(days=1))
    assert (next_day.resumed, next_day.sent, next_day.failed) == (1, 2, 0)
    deliveries = deliveries_of(sessions, "late@example.org")
    assert [(d.period, d.status) for d in deliveries] == [
        (first.period, "sent"),
        (deliveries[1].period, "sent"),
    ]
    digests = smtp.handler.to("late@example.org")
    assert [d.message_id for d in digests] == [d.message_id for d in deliveries]
    ids = digests[0].arxiv_ids + digests[1].arxiv_ids
    assert len(ids) == len(set(ids)) == 10, "the second day's digest does not repeat the first's papers"


def test_transient_failures_give_up_after_max_attempts(
    library: None,
    mail_settings: Settings,
    sessions: sessionmaker[Session],
    smtp: SmtpServer,
    noon: datetime,
) -> None:
    settings = mail_settings.model_copy(update={"digest_retry_seconds": 0.0, "digest_max_attempts": 3})
    subscribe(settings, sessions, "full@example.org")
    smtp.handler.refuse["full@example.org"] = "452 4.2.2 mailbox full"
    outcomes = [send(settings, sessions, noon + timedelta(seconds=n)) for n in range(4)]
    assert [(s.deferred, s.failed) for s in outcomes] == [(1, 0), (1, 0), (0, 1), (0, 0)]
    [delivery] = deliveries_of(sessions, "full@example.org")
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    full = subscription_of(sessions, "full@example.org")
    assert (full.status, full.bounce_count) == ("active", 0), "transient failures are not bounces"
    assert smtp.handler.rcpt_attempts.count("full@example.org") == 3
    # The next period is tried afresh.
    del smtp.handler.refuse["full@example.org"]
    assert send(settings, sessions, noon + timedelta(days=1)).sent == 1


def test_one_sender_at_a_time(
    library: None, mail_settings: Settings, sessions: sessionmaker[Session], smtp: SmtpServer, noon: datetime
) -> None:
    subscribe(mail_settings, sessions, "solo@example.org")
    with (
        digest_lock(mail_settings, sessions),
        pytest.raises(DigestBusy, match="another `paperboy digest send`"),
    ):
        send(mail_settings, sessions, noon)
    assert smtp.received == []
    assert send(mail_settings, sessions, noon).sent == 1


def test_received_helpers_parse_what_was_sent(smtp: SmtpServer) -> None:
    """The test server's own plumbing: it records exactly the bytes a real client sends."""
    with smtplib.SMTP("127.0.0.1", smtp.port, timeout=10) as client:
        client.sendmail(
            "a@example.org", ["b@example.org"], b"Subject: hi\r\nX-Long: " + b"x" * 100 + b"\r\n\r\nbody\r\n"
        )
    [received] = smtp.received
    assert isinstance(received, Received)
    assert received.rcpt_tos == ("b@example.org",) and received.raw_header("X-Long") == "x" * 100


def test_the_serve_job_sends_what_is_due_once(
    library: None,
    mail_settings: Settings,
    sessions: sessionmaker[Session],
    smtp: SmtpServer,
    embedder: MemoizingEmbedder,
) -> None:
    subscribe(mail_settings, sessions, "daily@example.org", topics=Topics(keywords=("animation",)))
    subscribe(mail_settings, sessions, "weekly@example.org", frequency="weekly")
    job = background_digests(mail_settings, sessions, embedder, interval=600)
    line = job.run()
    assert line is not None
    assert line.startswith("daily digests: sent 1,") and "; weekly digests: sent 1," in line
    assert job.run() is None, "a second round finds nothing due"
    assert sorted(smtp.handler.per_recipient().items()) == [
        ("daily@example.org", 1),
        ("weekly@example.org", 1),
    ]


def test_a_saved_search_is_named_without_nested_quotes() -> None:
    assert keyword_label("diffusion") == "“diffusion”"
    assert keyword_label('"diffusion models" cat:cs.CV') == "the search “diffusion models” cat:cs.CV"
