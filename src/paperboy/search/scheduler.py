"""The indexer as a background job of `paperboy serve`, reporting its progress in the server's log."""

from __future__ import annotations

import logging
import time

from paperboy.scheduler import PeriodicJob
from paperboy.search.backend import IndexBusy
from paperboy.search.indexer import Indexer

log = logging.getLogger("paperboy.index")
LOG_EVERY_SECONDS = 30.0


class LogProgress:
    """The Progress protocol as log lines: one every half minute with counts, rate and time left, one at
    the end of each pass."""

    def __init__(self, logger: logging.Logger = log, every: float = LOG_EVERY_SECONDS) -> None:
        self.logger = logger
        self.every = every
        self._description = ""
        self._total: int | None = None
        self._done = 0
        self._started = 0.0
        self._logged = 0.0

    def start(self, description: str, total: int | None, unit: str) -> None:
        self._description, self._total, self._done = description, total, 0
        self._started = self._logged = time.monotonic()
        if total:
            self.logger.info("%s: %s papers to do", description, f"{total:,}")

    def total_known(self, total: int) -> None:
        self._total = total

    def advance(self, progress: int, records: int) -> None:
        self._done += progress
        now = time.monotonic()
        if now - self._logged >= self.every:
            self._logged = now
            self.logger.info("%s: %s", self._description, self._status(now))

    def _status(self, now: float) -> str:
        elapsed = max(now - self._started, 1e-6)
        rate = self._done / elapsed
        line = (
            f"{self._done:,}" + (f" of {self._total:,}" if self._total else "") + f" papers ({rate:,.1f}/s)"
        )
        if self._total and rate > 0 and self._done < self._total:
            line += f", about {(self._total - self._done) / rate / 60:,.1f} min left"
        return line

    def finish(self) -> None:
        if self._description:
            self.logger.info("%s: done, %s", self._description, self._status(time.monotonic()))
        self._description = ""


def background_indexer(indexer: Indexer, interval: float) -> PeriodicJob:
    """Index runs that start again `interval` seconds after each one ends (sharing the lock with a cron
    `paperboy index`), so that new papers are keyword-searchable within seconds; a run embeds the whole
    backlog unless the server stops, which ends it at the next batch without losing anything."""

    def run() -> str | None:
        summary = indexer.run(progress=LogProgress(), stop=job.stopping)
        for note in summary.notes:
            log.warning("%s", note)
        if not summary.changed:
            return None
        if summary.vector_pending == 0 and summary.pending == 0:
            return f"{summary.line()} — done: all {summary.documents:,} papers are searchable by keyword and meaning"
        return summary.line()

    job = PeriodicJob("index", run, interval, busy=(IndexBusy,))
    return job
