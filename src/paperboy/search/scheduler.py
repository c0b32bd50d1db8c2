"""The indexer as a periodic job of `paperboy serve`."""

from __future__ import annotations

from paperboy.scheduler import PeriodicJob
from paperboy.search.backend import IndexBusy
from paperboy.search.indexer import Indexer


def background_indexer(indexer: Indexer, interval: float) -> PeriodicJob:
    """Incremental index runs every `interval` seconds (sharing the lock with a cron `paperboy index`)."""

    def run() -> str | None:
        summary = indexer.run()
        return summary.line() if summary.indexed or summary.removed else None

    return PeriodicJob("index", run, interval, busy=(IndexBusy,))
