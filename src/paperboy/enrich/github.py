"""`paperboy enrich github`: stars and last-push dates of the GitHub repositories papers name.

Polite and resumable: one request per repository at most every PAPERBOY_GITHUB_DELAY seconds, each
answer committed as it comes, repositories never checked first, then the oldest checks. When the API's
rate limit runs out the run stops and says when it resets (the next run goes on where this one stopped);
a repository that is gone (404) is recorded as missing and not asked again until it is stale.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, sessionmaker

from paperboy.clock import utcnow
from paperboy.config import Settings
from paperboy.db.engine import transaction
from paperboy.db.repositories.code import record_repository, repositories_to_check
from paperboy.ingest.http import PoliteClient
from paperboy.ingest.records import IngestError
from paperboy.progress import Progress, SilentProgress

log = logging.getLogger(__name__)


@dataclass
class EnrichSummary:
    checked: int = 0
    missing: int = 0
    failed: int = 0
    remaining: int = 0
    rate_limited_until: datetime | None = None


class RateLimited(Exception):
    def __init__(self, reset: datetime | None):
        super().__init__("rate limited")
        self.reset = reset


def _api_path(url: str) -> str:
    owner, name = urlsplit(url).path.strip("/").split("/")[:2]
    return f"/repos/{owner}/{name}"


def _when(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)
    except ValueError:
        return None


class GithubEnricher:
    def __init__(
        self, settings: Settings, sessions: sessionmaker[Session], client: PoliteClient | None = None
    ):
        self.settings = settings
        self.sessions = sessions
        token = settings.github_token.get_secret_value()
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.client = client or PoliteClient(
            delay=settings.github_delay,
            timeout=min(settings.http_timeout, 30.0),
            max_retries=2,
            headers=headers,
        )

    def run(self, limit: int, refresh_days: int, progress: Progress | None = None) -> EnrichSummary:
        reporter = progress or SilentProgress()
        now = utcnow()
        with self.sessions() as session:
            urls = repositories_to_check(session, "github.com", now - timedelta(days=refresh_days), limit + 1)
        summary = EnrichSummary(remaining=max(len(urls) - limit, 0))
        urls = urls[:limit]
        reporter.start("GitHub repositories", len(urls), "repositories")
        try:
            for done, url in enumerate(urls, 1):
                try:
                    self._check(url, summary)
                except RateLimited as limited:
                    summary.rate_limited_until = limited.reset
                    summary.remaining += len(urls) - done + 1
                    break
                except IngestError as exc:
                    summary.failed += 1
                    log.warning("GitHub did not answer for %s: %s", url, exc)
                reporter.advance(done, done)
        finally:
            reporter.finish()
            self.client.close()
        return summary

    def _check(self, url: str, summary: EnrichSummary) -> None:
        base = self.settings.github_api_url.rstrip("/")
        response = self.client.get(f"{base}{_api_path(url)}", ok_status=frozenset({403, 404, 410, 451}))
        if response.status_code == 403:
            if response.headers.get("X-RateLimit-Remaining") == "0":
                reset = response.headers.get("X-RateLimit-Reset", "")
                until = (
                    datetime.fromtimestamp(int(reset), UTC).replace(tzinfo=None) if reset.isdigit() else None
                )
                raise RateLimited(until)
            raise IngestError(f"{url}: GitHub refused to describe it (HTTP 403)")
        now = utcnow()
        with transaction(self.sessions) as session:
            if response.status_code >= 400:
                record_repository(session, url, "missing", now, None, None)
                summary.missing += 1
                return
            data = response.json() if response.content else {}
            stars = data.get("stargazers_count") if isinstance(data, dict) else None
            pushed = _when(data.get("pushed_at")) if isinstance(data, dict) else None
            record_repository(session, url, "ok", now, stars if isinstance(stars, int) else None, pushed)
        summary.checked += 1
