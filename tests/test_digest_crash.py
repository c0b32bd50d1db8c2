"""Digests survive a killed sender and an SMTP server that goes away: every subscriber ends up with exactly
one digest, nothing lost, nothing duplicated (beyond the one window outbox.py documents: a message the
server accepted just before the kill is sent again with the same Message-ID, which mail clients show once).

The sender runs as a real `paperboy digest send` process, killed with SIGKILL; the SMTP server is aiosmtpd
on 127.0.0.1, slowed down so the kill lands mid-batch.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from mail_support import SmtpServer
from paperboy.clock import utcnow
from paperboy.config import Settings
from paperboy.db.models import Delivery, SentPaper, Subscription
from paperboy.digest.outbox import DigestSender
from paperboy.digest.service import DigestService
from paperboy.digest.subscriptions import SubscriptionRequest, Topics
from web_support import ingest_hf_daily

pytestmark = pytest.mark.slow

PAPERBOY = Path(sys.executable).parent / "paperboy"
SUBSCRIBERS = 60


@pytest.fixture
def noon() -> datetime:
    return utcnow().replace(hour=12, minute=0, second=0, microsecond=0)


@pytest.fixture
def subscribers(settings: Settings, sessions: sessionmaker[Session], shared_data: Path) -> list[str]:
    """The real Hugging Face daily fixture as content, and 60 confirmed subscribers (a third with topics)."""
    ingest_hf_daily(sessions, shared_data)
    service = DigestService(settings, sessions)
    emails = [f"reader{n:02d}@example.org" for n in range(SUBSCRIBERS)]
    for n, email in enumerate(emails):
        topics = Topics(keywords=("language models",)) if n % 3 == 0 else Topics()
        service.subscribe_confirmed(SubscriptionRequest(email, max_papers=5, topics=topics))
    return emails


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.stop()


def sender_env(cli_env: dict[str, str], port: int, **extra: str) -> dict[str, str]:
    return {
        **cli_env,
        "PAPERBOY_SMTP_PORT": str(port),
        "PAPERBOY_SMTP_TIMEOUT": "10",
        "PAPERBOY_BASE_URL": "http://paperboy.test",
        "PAPERBOY_MAIL_FROM": "Paperboy <digest@paperboy.test>",
        "HF_HUB_OFFLINE": "1",
        **extra,
    }


def send_command(now: datetime) -> list[str]:
    return [str(PAPERBOY), "digest", "send", "--frequency", "daily", "--json", "--now", now.isoformat()]


def deliveries(sessions: sessionmaker[Session]) -> dict[str, Delivery]:
    with sessions() as session:
        query = select(Subscription.email, Delivery).join(
            Delivery, Delivery.subscription_id == Subscription.id
        )
        rows = session.execute(query).all()
    found: dict[str, Delivery] = {}
    for email, delivery in rows:
        assert email not in found, f"{email}: two delivery rows for one period"
        found[email] = delivery
    return found


def assert_each_got_exactly_one(
    smtp: SmtpServer, sessions: sessionmaker[Session], emails: list[str], allowed_duplicates: int
) -> None:
    """Each subscriber: one distinct digest (one Message-ID, the delivery row's); raw copies all 1, except
    at most `allowed_duplicates` subscribers with 2 copies of the same message."""
    rows = deliveries(sessions)
    ids: dict[str, set[str]] = {email: set() for email in emails}
    for received in smtp.received:
        [address] = received.rcpt_tos
        ids[address].add(received.message_id)
    for email in emails:
        assert rows[email].status == "sent", email
        assert ids[email] == {rows[email].message_id}, f"{email}: one digest, with the delivery's Message-ID"
    copies = smtp.handler.per_recipient()
    assert set(copies) == set(emails)
    duplicated = [email for email, count in copies.items() if count > 1]
    assert len(duplicated) <= allowed_duplicates, copies
    assert all(copies[email] == 2 for email in duplicated), copies
    # A duplicate is the same digest: same Message-ID, same papers (only the links' signing time differs).
    for email in duplicated:
        first, second = smtp.handler.to(email)
        assert first.message_id == second.message_id
        assert first.arxiv_ids == second.arxiv_ids and first.arxiv_ids
        assert first.message["Subject"] == second.message["Subject"]
    with sessions() as session:
        pairs = session.execute(select(SentPaper.subscription_id, SentPaper.paper_id)).all()
    assert len(pairs) == len(set(pairs))


def test_real_kill_of_the_sender_mid_batch_then_rerun(
    subscribers: list[str],
    sessions: sessionmaker[Session],
    cli_env: dict[str, str],
    smtp: SmtpServer,
    noon: datetime,
) -> None:
    smtp.handler.delay = 0.05
    smtp.start()
    env = sender_env(cli_env, smtp.port)
    child = subprocess.Popen(send_command(noon), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None and len(smtp.received) < SUBSCRIBERS // 3:
        time.sleep(0.005)
    assert child.poll() is None, f"the sender finished before it could be killed: {child.stdout.read()!r}"  # type: ignore[union-attr]
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    time.sleep(0.2)  # let the server finish the message it was reading, if any

    arrived = len(smtp.received)
    assert SUBSCRIBERS // 3 <= arrived < SUBSCRIBERS, "killed mid-batch"
    rows = deliveries(sessions)
    statuses = Counter(d.status for d in rows.values())
    assert statuses["claimed"] <= 1, "only the message in flight can be claimed and unfinished"
    assert statuses["sent"] + statuses["claimed"] == len(rows)
    assert arrived - 1 <= statuses["sent"] <= arrived
    assert len(rows) < SUBSCRIBERS, "the rest were never claimed"

    smtp.handler.delay = 0
    rerun = subprocess.run(send_command(noon), env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    summary = json.loads(rerun.stdout)
    assert summary["skipped_done"] == statuses["sent"]
    assert summary["sent"] == SUBSCRIBERS - statuses["sent"]
    assert summary["resumed"] == statuses["claimed"]
    assert (summary["failed"], summary["deferred"]) == (0, 0)
    assert_each_got_exactly_one(smtp, sessions, subscribers, allowed_duplicates=statuses["claimed"])

    # A third run (and the next hour's cron run) sends nothing more.
    for now in (noon, noon + timedelta(hours=1)):
        again = subprocess.run(send_command(now), env=env, capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["sent"] == 0
    assert_each_got_exactly_one(smtp, sessions, subscribers, allowed_duplicates=statuses["claimed"])


def test_smtp_server_down_then_up(
    subscribers: list[str],
    settings: Settings,
    sessions: sessionmaker[Session],
    smtp: SmtpServer,
    noon: datetime,
) -> None:
    mail = settings.model_copy(
        update={
            "smtp_port": smtp.port,
            "smtp_timeout": 10.0,
            "digest_retry_seconds": 0.0,
            "mail_outbox": None,
        }
    )
    # Nothing listens on the port: every digest is claimed (papers chosen) and deferred.
    down = DigestSender(mail, sessions, None, now=noon).run("daily")
    assert (down.subscriptions, down.sent, down.deferred, down.failed) == (SUBSCRIBERS, 0, SUBSCRIBERS, 0)
    assert all("cannot reach the SMTP server" in error for error in down.errors)
    rows = deliveries(sessions)
    assert set(rows) == set(subscribers), "nothing lost: one claimed delivery per subscriber"
    for delivery in rows.values():
        assert (delivery.status, delivery.attempts) == ("claimed", 1)
        assert delivery.next_attempt_at == noon
        assert delivery.message_id and delivery.chosen and delivery.chosen["trending"]
    chosen = {email: d.chosen for email, d in rows.items()}

    smtp.start()
    up = DigestSender(mail, sessions, None, now=noon).run("daily")
    assert (up.sent, up.resumed, up.deferred, up.failed) == (SUBSCRIBERS, SUBSCRIBERS, 0, 0)
    assert_each_got_exactly_one(smtp, sessions, subscribers, allowed_duplicates=0)
    rows = deliveries(sessions)
    assert {email: d.chosen for email, d in rows.items()} == chosen, "the digests chosen when claimed"
    assert all(d.attempts == 2 for d in rows.values())

    third = DigestSender(mail, sessions, None, now=noon).run("daily")
    assert (third.sent, third.skipped_done) == (0, SUBSCRIBERS)
    assert len(smtp.received) == SUBSCRIBERS


def test_smtp_server_goes_away_mid_batch_then_returns(
    subscribers: list[str],
    sessions: sessionmaker[Session],
    cli_env: dict[str, str],
    smtp: SmtpServer,
    noon: datetime,
) -> None:
    smtp.handler.delay = 0.05
    smtp.start()
    env = sender_env(cli_env, smtp.port, PAPERBOY_DIGEST_RETRY_SECONDS="0")
    child = subprocess.Popen(send_command(noon), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None and len(smtp.received) < SUBSCRIBERS // 3:
        time.sleep(0.005)
    smtp.stop()
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err  # deferred is not failed
    first = json.loads(out)
    assert first["deferred"] > 0 and first["failed"] == 0
    assert first["sent"] + first["deferred"] == SUBSCRIBERS
    rows = deliveries(sessions)
    assert set(rows) == set(subscribers), "every digest claimed, none lost"
    assert Counter(d.status for d in rows.values()) == {"sent": first["sent"], "claimed": first["deferred"]}

    restarted = SmtpServer(smtp.port)
    restarted.handler = smtp.handler  # one record of everything the "server" accepted
    restarted.start()
    try:
        rerun = subprocess.run(send_command(noon), env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
        second = json.loads(rerun.stdout)
        assert (second["sent"], second["resumed"], second["skipped_done"]) == (
            first["deferred"],
            first["deferred"],
            first["sent"],
        )
        # The server can go away after reading a message but before answering: that one is resent.
        assert_each_got_exactly_one(smtp, sessions, subscribers, allowed_duplicates=1)
        third = subprocess.run(send_command(noon), env=env, capture_output=True, text=True, timeout=300)
        assert json.loads(third.stdout)["sent"] == 0
    finally:
        restarted.stop()
