"""Periodic jobs inside `paperboy serve` (indexing, digests), so a laptop install needs no cron.

A job is an ordinary idempotent command run every `interval` seconds. When cron runs the same command,
they share its lock: whichever holds it runs, the other skips that round. Stopping the server mid-round
loses nothing, because every job resumes where it stopped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("paperboy.scheduler")


class PeriodicJob:
    """Calls `run` now and then every `interval` seconds until stopped; `run` returns a line to log or None."""

    def __init__(
        self,
        name: str,
        run: Callable[[], str | None],
        interval: float,
        busy: tuple[type[Exception], ...] = (),
    ) -> None:
        self.name = name
        self.run = run
        self.interval = interval
        self.busy = busy
        self.stopping = threading.Event()
        """Set when the server shuts down: a long round may check it to end early (losing nothing)."""
        self._thread = threading.Thread(target=self._loop, name=f"paperboy-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self.stopping.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            try:
                line = self.run()
                if line:
                    log.info("%s: %s", self.name, line)
            except self.busy:
                log.info("%s: another run holds the lock; skipping this round", self.name)
            except Exception:
                log.exception("%s failed; retrying in %s s", self.name, self.interval)
            self.stopping.wait(self.interval)
