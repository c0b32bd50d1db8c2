"""Digest sending as a periodic job of `paperboy serve`: each round sends whatever is due, digests and
then the pending discussion notifications."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from paperboy.config import Settings
from paperboy.digest.notifications import NotificationSender
from paperboy.digest.outbox import DigestBusy, DigestSender
from paperboy.scheduler import PeriodicJob
from paperboy.search.embedder import Embedder


def background_digests(
    settings: Settings, sessions: sessionmaker[Session], embedder: Embedder, interval: float
) -> PeriodicJob:
    def run() -> str | None:
        lines = []
        for frequency in ("daily", "weekly"):
            summary = DigestSender(settings, sessions, embedder).run(frequency)
            if summary.sent or summary.failed or summary.deferred:
                lines.append(summary.line())
        notified = NotificationSender(settings, sessions).run()
        if notified.sent or notified.failed or notified.retry:
            lines.append(notified.line())
        return "; ".join(lines) or None

    return PeriodicJob("digests", run, interval, busy=(DigestBusy,))
