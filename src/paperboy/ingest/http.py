"""A polite HTTP client for remote sources: a minimum delay between requests, Retry-After on 503,
exponential backoff on transient failures, and errors that name the URL."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

from paperboy import __version__
from paperboy.ingest.records import IngestError

USER_AGENT = f"paperboy/{__version__} (+https://github.com/paperboy; research paper discovery)"
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 600.0


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (either delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class PoliteClient:
    """GETs with pacing and retries; one instance per remote service."""

    def __init__(
        self,
        delay: float = 3.0,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff_base: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        on_wait: Callable[[str], None] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.delay = delay
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self._sleep = sleep
        self._on_wait = on_wait or (lambda message: None)
        self._last_request = 0.0
        self._client = httpx.Client(
            timeout=timeout, follow_redirects=True, headers={"User-Agent": USER_AGENT, **(headers or {})}
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PoliteClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _pace(self) -> None:
        wait = self._last_request + self.delay - time.monotonic()
        if wait > 0:
            self._sleep(wait)
        self._last_request = time.monotonic()

    def _backoff(self, attempt: int) -> float:
        return float(self.backoff_base * (2**attempt) * (0.5 + random.random() / 2))

    def get(
        self, url: str, params: Mapping[str, str] | None = None, ok_status: frozenset[int] = frozenset()
    ) -> httpx.Response:
        """GET `url`, retrying transient failures; raise IngestError naming the URL when it gives up.

        Statuses in `ok_status` are returned to the caller instead of raising (an API's error document).
        """
        last_problem = ""
        for attempt in range(self.max_retries + 1):
            self._pace()
            try:
                response = self._client.get(url, params=params)
            except httpx.TransportError as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
                wait = self._backoff(attempt)
            else:
                if response.status_code < 400 or response.status_code in ok_status:
                    return response
                if response.status_code not in TRANSIENT_STATUS:
                    raise IngestError(
                        f"{response.request.url}: HTTP {response.status_code} {response.reason_phrase}"
                    )
                last_problem = f"HTTP {response.status_code}"
                retry_after = _retry_after_seconds(response.headers.get("Retry-After"))
                wait = (
                    min(retry_after, MAX_RETRY_AFTER) if retry_after is not None else self._backoff(attempt)
                )
            if attempt == self.max_retries:
                break
            self._on_wait(
                f"{last_problem} from {url}; retrying in {wait:.1f} s ({attempt + 1}/{self.max_retries})"
            )
            self._sleep(wait)
        raise IngestError(
            f"{httpx.URL(url, params=params)}: gave up after {self.max_retries + 1} attempts ({last_problem})"
        )
