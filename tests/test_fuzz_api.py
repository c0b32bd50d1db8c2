"""Schemathesis against the app's own OpenAPI document, on both databases: generated requests (valid and
invalid) to every documented operation must never get a server error, and every response must match
what the document says (status codes, content types, JSON shapes). Bounded here; bench/fuzz_long.py runs
the long version whose counts are in docs/RELIABILITY.md."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from sqlalchemy.orm import Session, sessionmaker

from paperboy.config import Settings
from paperboy.search.indexer import Indexer
from paperboy.web.app import create_app
from search_support import MemoizingEmbedder
from web_support import ingest_hf_daily, report

EXAMPLES = int(os.environ.get("PAPERBOY_FUZZ_EXAMPLES", "40"))
"""Generated requests per operation (bench/fuzz_long.py raises it for the long run)."""
CHECKS = (
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
)


@pytest.fixture
def api_schema(
    settings: Settings, sessions: sessionmaker[Session], shared_data: Path, embedder: MemoizingEmbedder
) -> Any:
    ingest_hf_daily(sessions, shared_data)
    Indexer(sessions, settings.home, embedder).run()
    app = create_app(
        settings.model_copy(update={"rate_limit_auth": 10_000, "rate_limit_write": 10_000}), embedder
    )
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def test_the_api_never_fails_and_answers_as_documented(api_schema: Any) -> None:
    """Every documented operation, with generated requests (positive and negative)."""
    failures: list[str] = []
    operations = sent = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            nonlocal sent
            sent += 1
            case.call_and_validate(checks=CHECKS)

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # collect every operation's failure, report all
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert operations >= 10
    report("api", sent, len(failures))
    assert not failures, "\n\n".join(failures)
