"""Sending digests exactly once per subscriber and period, through an outbox in the database.

For each due subscription: one delivery row per (subscription, period) is claimed — with the papers
chosen and a Message-ID fixed — and committed before anything is sent; after the SMTP server accepts the
message the row is marked sent and its papers recorded as received. So a rerun never sends a period twice,
a run killed mid-batch leaves claimed rows the next run finishes, and transient failures wait and retry.

One window remains, as in every SMTP sender: killed after the server accepted a message but before the
commit, the next run sends that digest again — with the same Message-ID, which mail clients show once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from paperboy.clock import utcnow
from paperboy.config import Settings
from paperboy.db.engine import transaction
from paperboy.db.models import Delivery, SentPaper, Subscription
from paperboy.db.repositories.community import paper_totals
from paperboy.db.repositories.deliveries import (
    active_subscription_ids,
    open_deliveries,
    papers_by_id,
    sent_paper_ids,
)
from paperboy.digest.compose import DigestComposer, DigestContent, DigestPaper
from paperboy.digest.links import links_for
from paperboy.digest.mailer import DeliveryError, Mailer
from paperboy.digest.messages import delivery_message_id, digest_message
from paperboy.digest.schedule import due_period
from paperboy.locks import exclusive_lock
from paperboy.progress import Progress, SilentProgress
from paperboy.search.embedder import Embedder
from paperboy.signing import Signer, load_secret_key

LOCK_FILE = "digest.lock"
_PG_LOCK_KEY = 0x70617065  # "pape": one digest sender per PostgreSQL database


class DigestBusy(RuntimeError):
    """Another digest run holds the lock."""


@dataclass
class DigestSummary:
    frequency: str
    subscriptions: int = 0
    sent: int = 0
    skipped_empty: int = 0
    skipped_done: int = 0
    deferred: int = 0
    failed: int = 0
    paused: int = 0
    resumed: int = 0
    dry_run: bool = False
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        verb = "would send" if self.dry_run else "sent"
        text = (
            f"{self.frequency} digests: {verb} {self.sent}, skipped {self.skipped_empty} empty and "
            f"{self.skipped_done} already done, {self.deferred} deferred (will retry), {self.failed} failed"
        )
        if self.paused:
            text += f", {self.paused} subscriptions paused after repeated bounces"
        if self.resumed:
            text += f"; finished {self.resumed} left by an interrupted run"
        rate = self.subscriptions / self.seconds if self.seconds > 0 else 0.0
        return text + f" ({self.subscriptions} subscriptions in {self.seconds:.1f} s, {rate:,.0f}/s)"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextmanager
def digest_lock(settings: Settings, sessions: sessionmaker[Session]) -> Iterator[None]:
    """One sender at a time: an OS lock in the data dir, plus an advisory lock on PostgreSQL (for senders
    on several machines). Both are released when the process dies, so a killed run never blocks the next."""
    home = Path(settings.home)
    busy = DigestBusy(f"another `paperboy digest send` is running on {home}")
    with exclusive_lock(home / LOCK_FILE, lambda: busy):
        engine = sessions.kw["bind"]
        connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        postgres = engine.dialect.name == "postgresql"
        try:
            if postgres and not connection.scalar(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": _PG_LOCK_KEY}
            ):
                raise DigestBusy("another `paperboy digest send` is running on this database")
            try:
                yield
            finally:
                if postgres:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
        finally:
            connection.close()


def stored_content(session: Session, chosen: dict[str, Any]) -> DigestContent:
    """A claimed delivery's content from its stored choice (a retry sends the same papers)."""
    sections = {
        name: [(int(pid), str(reason)) for pid, reason in chosen.get(name, [])]
        for name in ("trending", "for_you")
    }
    ids = [pid for entries in sections.values() for pid, _ in entries]
    papers = papers_by_id(session, ids)
    totals = paper_totals(session, ids)

    def items(name: str) -> tuple[DigestPaper, ...]:
        return tuple(
            DigestPaper(
                p.id,
                p.arxiv_id,
                p.title,
                tuple(p.authors),
                p.abstract,
                totals[pid].upvotes,
                reason,
            )
            for pid, reason in sections[name]
            if (p := papers.get(pid)) is not None
        )

    return DigestContent(items("trending"), items("for_you"))


class DigestSender:
    """Runs one batch of digests of one frequency."""

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        embedder: Embedder | None,
        now: datetime | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.embedder = embedder
        self.now = now or utcnow()
        self.progress = progress or SilentProgress()
        self.signer = Signer(load_secret_key(settings))

    def run(self, frequency: str, dry_run: bool = False, emails: list[str] | None = None) -> DigestSummary:
        started = time.perf_counter()
        summary = DigestSummary(frequency, dry_run=dry_run)
        with digest_lock(self.settings, self.sessions), Mailer(self.settings) as mailer:
            with self.sessions() as session:
                ids = active_subscription_ids(session, frequency, emails)
                if not ids:
                    summary.seconds = time.perf_counter() - started
                    return summary
                composer = DigestComposer(
                    session,
                    frequency,
                    self.now,
                    self.embedder,
                    self.settings.trending_days,
                    self.settings.trending_gravity,
                    self.settings.trending_code_boost,
                )
            summary.subscriptions = len(ids)
            self.progress.start(f"{frequency} digests", len(ids), "subscribers")
            try:
                for subscription_id in ids:
                    self._one(subscription_id, composer, mailer, summary, dry_run)
                    self.progress.advance(1, 1)
            finally:
                self.progress.finish()
        summary.seconds = time.perf_counter() - started
        return summary

    # --- one subscriber ----------------------------------------------------------------------
    def _one(
        self,
        subscription_id: int,
        composer: DigestComposer,
        mailer: Mailer,
        summary: DigestSummary,
        dry_run: bool,
    ) -> None:
        """Finish what earlier runs claimed for this subscriber, then send the current period once."""
        with self.sessions() as session:
            subscription = session.get(Subscription, subscription_id)
            assert subscription is not None
            period = due_period(subscription, self.now)
            deliveries = open_deliveries(session, subscription_id, period)
            unfinished = [d for d in deliveries if d.status == "claimed"]
            resumable = [
                (d.id, d.period, stored_content(session, d.chosen or {}))
                for d in unfinished
                if d.next_attempt_at is None or d.next_attempt_at <= self.now
            ]
        summary.deferred += len(unfinished) - len(resumable)
        for claimed_id, claimed_period, claimed_content in resumable:
            if dry_run:
                summary.sent += 1
                continue
            summary.resumed += 1
            self._send(claimed_id, claimed_period, claimed_content, mailer, summary)
        if any(d.period == period for d in deliveries):
            if not any(d.period == period and d.status == "claimed" for d in deliveries):
                summary.skipped_done += 1
            return
        with self.sessions() as session:
            subscription = session.get(Subscription, subscription_id)
            assert subscription is not None
            content = composer.compose(session, subscription)
        if content.empty:  # nothing is recorded: a later run of the same period may find papers
            summary.skipped_empty += 1
            return
        if dry_run:
            summary.sent += 1
            return
        delivery_id = self._claim(subscription_id, period, content, summary)
        if delivery_id is not None:
            self._send(delivery_id, period, content, mailer, summary)

    def _claim(
        self, subscription_id: int, period: str, content: DigestContent, summary: DigestSummary
    ) -> int | None:
        """Write the delivery row (committed) before sending; None when another sender claimed it."""
        try:
            with transaction(self.sessions) as session:
                delivery = Delivery(
                    subscription_id=subscription_id,
                    period=period,
                    status="claimed",
                    attempts=0,
                    claimed_at=self.now,
                    chosen=content.chosen(),
                )
                session.add(delivery)
                session.flush()
                delivery.message_id = delivery_message_id(self.settings, delivery.id, period)
                return delivery.id
        except IntegrityError:
            summary.skipped_done += 1
            return None

    def _send(
        self, delivery_id: int, period: str, content: DigestContent, mailer: Mailer, summary: DigestSummary
    ) -> None:
        with self.sessions() as session:
            delivery = session.get(Delivery, delivery_id)
            assert delivery is not None and delivery.message_id is not None
            subscription = session.get(Subscription, delivery.subscription_id)
            assert subscription is not None
            links = links_for(self.settings, self.signer, subscription)
            message = digest_message(
                self.settings, subscription, content, links, delivery.message_id, self.now
            )
        try:
            mailer.send(message)
        except DeliveryError as exc:
            self._failed(delivery_id, exc, summary)
            return
        with transaction(self.sessions) as session:
            delivery = session.get(Delivery, delivery_id)
            assert delivery is not None
            subscription = session.get(Subscription, delivery.subscription_id)
            assert subscription is not None
            delivery.status = "sent"
            delivery.sent_at = utcnow()
            delivery.attempts += 1
            delivery.error = None
            delivery.next_attempt_at = None
            subscription.bounce_count = 0
            already = sent_paper_ids(session, subscription.id)
            for paper_id in dict.fromkeys(content.paper_ids):
                if paper_id not in already:
                    session.add(
                        SentPaper(
                            subscription_id=subscription.id,
                            paper_id=paper_id,
                            delivery_id=delivery.id,
                            sent_at=delivery.sent_at,
                        )
                    )
        summary.sent += 1

    def _failed(self, delivery_id: int, error: DeliveryError, summary: DigestSummary) -> None:
        with transaction(self.sessions) as session:
            delivery = session.get(Delivery, delivery_id)
            assert delivery is not None
            subscription = session.get(Subscription, delivery.subscription_id)
            assert subscription is not None
            delivery.attempts += 1
            delivery.error = str(error)[:2000]
            if error.permanent or delivery.attempts >= self.settings.digest_max_attempts:
                delivery.status = "failed"
                delivery.next_attempt_at = None
                summary.failed += 1
                if error.permanent:
                    subscription.bounce_count += 1
                    if subscription.bounce_count >= self.settings.digest_bounce_limit:
                        subscription.status = "paused"
                        summary.paused += 1
            else:
                wait = self.settings.digest_retry_seconds * 2 ** (delivery.attempts - 1)
                delivery.next_attempt_at = self.now + timedelta(seconds=wait)
                summary.deferred += 1
            summary.errors.append(f"{subscription.email}: {error}")
