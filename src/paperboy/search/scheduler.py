"""Runs the indexer in the background of `paperboy serve`, so a laptop install needs no cron.

A cron-driven `paperboy index` and this thread share the indexer lock: whichever holds it runs, the
other skips that round. Each round is an ordinary incremental run, so stopping the server mid-round
loses nothing.
"""

from __future__ import annotations

import logging
import threading

from paperboy.search.indexer import Indexer
from paperboy.search.store import IndexBusy

log = logging.getLogger("paperboy.indexer")


class BackgroundIndexer:
    """Calls `indexer.run()` now and then every `interval` seconds until stopped."""

    def __init__(self, indexer: Indexer, interval: float) -> None:
        self.indexer = indexer
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="paperboy-indexer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                summary = self.indexer.run()
                if summary.indexed or summary.removed:
                    log.info("background index: %s", summary.line())
            except IndexBusy:
                log.info("background index: another indexer is running; skipping this round")
            except Exception:
                log.exception("background index run failed; retrying in %s s", self.interval)
            self._stop.wait(self.interval)
