"""`paperboy ingest arxiv-api` against a real HTTP server replaying recorded arXiv API responses.

Expected values are copied from the recorded Atom XML under fixtures/arxiv_atom. Every test runs against
SQLite and PostgreSQL (the `db_url`-parametrized fixtures), except the polite-delay test, which measures
the client's pacing and uses one SQLite database.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from http_fixture_server import FixtureServer, params_sequence
from ingest_support import Invoke, all_papers, cli_ingest, dump_tables, summary_of
from paperboy.cli import app
from paperboy.config import Settings
from paperboy.db.models import IngestState
from paperboy.ingest.http import PoliteClient
from paperboy.ingest.records import IngestError
from paperboy.ingest.runner import run_ingest
from paperboy.ingest.sources.arxiv_api import ArxivApiSource

ATOM_DIR = "arxiv_atom"


@pytest.fixture
def server(shared_data: Path) -> Iterator[FixtureServer]:
    with FixtureServer(shared_data / "fixtures") as running:
        yield running


@pytest.fixture
def ingest_api(cli: CliRunner, server: FixtureServer) -> Invoke:
    """Run `paperboy ingest arxiv-api --url <server> --delay 0 --json ARGS` (after `paperboy init`)."""
    return cli_ingest(cli, "arxiv-api", server.api_url)


def saved_states(sessions: sessionmaker[Session]) -> list[dict[str, Any]]:
    with sessions() as session:
        return [dict(row.state) for row in session.scalars(select(IngestState))]


def fixture_ids(shared_data: Path, *names: str) -> list[str]:
    """arXiv ids (without version) of the entries of recorded responses, read with a plain regex."""
    ids = []
    for name in names:
        (path,) = (shared_data / "fixtures" / ATOM_DIR).glob(f"{name}_*.xml")
        for raw in re.findall(r"<entry>\s*<id>http://arxiv\.org/abs/([^<]+)</id>", path.read_text()):
            ids.append(re.sub(r"v\d+$", "", raw))
    return ids


QUERY_PAGES = [f"q_testing_s{start}_m10" for start in (0, 10, 20, 30, 40, 50)]

ID_LOOKUPS = [
    pytest.param(
        "1605.08386",
        {
            "arxiv_id": "1605.08386",
            "version": 1,
            "title": "Heat-bath random walks with Markov bases",
            "authors": ["Caprice Stanley", "Tobias Windisch"],
            "categories": ["math.CO", "math.ST"],
            "primary_category": "math.CO",
            "published_at": datetime(2016, 5, 26, 17, 59, 46),
            "updated_at": datetime(2016, 5, 26, 17, 59, 46),
            "comments": "20 pages, 3 figures",
            "journal_ref": None,
            "abstract_start": "Graphs on lattice points are studied whose edges",
        },
        id="new-style",
    ),
    pytest.param(
        "2104.12255v1",
        {
            "arxiv_id": "2104.12255",
            "version": 1,
            "title": "0",
            "authors": ["Quan Thoi Minh Nguyen"],
            "categories": ["cs.CR"],
            "primary_category": "cs.CR",
            "published_at": datetime(2021, 4, 20, 16, 7, 14),
            "updated_at": datetime(2021, 4, 20, 16, 7, 14),
            "comments": None,
            "journal_ref": None,
            "abstract_start": "What is the funniest number in cryptography? 0.",
        },
        id="versioned",
    ),
    pytest.param(
        "astro-ph/0601001",
        {
            "arxiv_id": "astro-ph/0601001",
            "version": 1,
            "title": "Frequency of Hot Jupiters and Very Hot Jupiters from the OGLE-III Transit Surveys "
            "Toward the Galactic Bulge and Carina",
            "authors": ["Andrew Gould", "Susan Dorsher", "B. Scott Gaudi", "Andrzej Udalski"],
            "categories": ["astro-ph"],
            "primary_category": "astro-ph",
            "published_at": datetime(2006, 1, 2, 14, 57, 58),
            "updated_at": datetime(2006, 1, 2, 14, 57, 58),
            "comments": "62 pages including 16 figures and 9 tables. Submitted to Acta Astronomica. Full "
            "resolution version at http://www.astronomy.ohio-state.edu/~gould/ogle_hot_jupiters.ps.gz",
            "journal_ref": "ActaAstron.56:1-50,2006",
            # the recorded summary starts with two spaces and contains &amp; and &lt;
            "abstract_start": "We derive the frequencies of hot Jupiters (HJs)",
            "abstract_contains": "following Gould & Morgan (2003)",
        },
        id="old-style",
    ),
    pytest.param(
        "quant-ph/0201082v1",
        {
            "arxiv_id": "quant-ph/0201082",
            "version": 1,
            "title": "Quantum Computers and Quantum Computer Languages: Quantum Assembly Language and "
            "Quantum C Language",
            "authors": ["Stephen Blaha"],
            "categories": ["quant-ph", "cs.PL"],
            "primary_category": "quant-ph",
            "published_at": datetime(2002, 1, 18, 15, 8, 5),
            "updated_at": datetime(2002, 1, 18, 15, 8, 5),
            "comments": "32 pages",
            "journal_ref": None,
            "abstract_start": "We show a representation of Quantum Computers",
        },
        id="old-style-versioned",
    ),
]


@pytest.mark.parametrize(("requested", "expected"), ID_LOOKUPS)
def test_id_lookup_stores_the_recorded_metadata(
    ingest_api: Invoke,
    server: FixtureServer,
    sessions: sessionmaker[Session],
    requested: str,
    expected: dict[str, Any],
) -> None:
    result = ingest_api("--ids", requested)

    assert result.exit_code == 0, result.output
    summary = summary_of(result)
    assert (summary["new"], summary["updated"], summary["rejected"]) == (1, 0, 0)
    assert params_sequence(server.logged(), "id_list", "start", "max_results") == [(requested, "0", "100")]
    papers = all_papers(sessions)
    assert list(papers) == [expected["arxiv_id"]]
    paper = papers[expected["arxiv_id"]]
    for column in (
        "version",
        "title",
        "authors",
        "categories",
        "primary_category",
        "published_at",
        "updated_at",
        "comments",
        "journal_ref",
    ):
        assert getattr(paper, column) == expected[column], column
    assert paper.source == "arxiv-api"
    assert paper.withdrawn is False
    assert paper.abstract.startswith(expected["abstract_start"])
    assert expected.get("abstract_contains", "") in paper.abstract
    assert [(v.version, v.submitted_at, v.size) for v in paper.versions] == [
        (1, expected["published_at"], None)
    ]


def test_several_ids_share_one_request_and_missing_ids_are_skipped(
    ingest_api: Invoke, server: FixtureServer, sessions: sessionmaker[Session]
) -> None:
    # 0808.05394 does not exist: the recorded response holds only 1707.08567
    result = ingest_api("--ids", "0808.05394, 1707.08567")

    assert result.exit_code == 0, result.output
    assert summary_of(result)["new"] == 1
    assert params_sequence(server.logged(), "id_list") == [("0808.05394,1707.08567",)]
    paper = all_papers(sessions)["1707.08567"]
    assert paper.title == "Proceedings of Workshop AEW10: Concepts in Information Theory and Communications"
    assert paper.authors[:2] == ["Kees A. Schouhamer Immink", "Stan Baggen"]
    assert paper.primary_category == "cs.IT"
    assert list(all_papers(sessions)) == ["1707.08567"]


def test_empty_result_is_a_successful_run_that_stores_nothing(
    ingest_api: Invoke, server: FixtureServer, sessions: sessionmaker[Session]
) -> None:
    result = ingest_api("--ids", "0000.0000")

    assert result.exit_code == 0, result.output
    summary = summary_of(result)
    assert (summary["records"], summary["batches"]) == (0, 1)
    assert len(server.logged()) == 1
    assert all_papers(sessions) == {}


def test_malformed_id_is_refused_before_any_request(
    ingest_api: Invoke, server: FixtureServer, sessions: sessionmaker[Session]
) -> None:
    result = ingest_api("--ids", "1605.08386,abc")

    assert result.exit_code == 2
    assert "not an arXiv id: 'abc'" in result.stderr
    assert server.logged() == []
    assert all_papers(sessions) == {}


def test_api_error_feed_fails_the_page_with_the_servers_message(
    server: FixtureServer, sessions: sessionmaker[Session]
) -> None:
    """The recorded HTTP 400 Atom error feed (id_list=abc) becomes an error naming the request.

    The CLI refuses 'abc' itself (test above), so the source is pointed at it after validation, as if
    the server rejected an id the local check accepts.
    """
    with PoliteClient(delay=0) as client:
        source = ArxivApiSource(client, server.api_url, ids=["1605.08386"])
        source.ids = ["abc"]
        with pytest.raises(IngestError) as failure:
            run_ingest(sessions, source)

    message = str(failure.value)
    assert "arXiv API error: incorrect id format for abc" in message
    assert "id_list=abc" in message
    assert [r.status for r in server.logged()] == [400]
    assert all_papers(sessions) == {}


def test_query_pages_through_the_results(
    ingest_api: Invoke, server: FixtureServer, sessions: sessionmaker[Session], shared_data: Path
) -> None:
    result = ingest_api("--query", "testing", "--page-size", "10", "--max-results", "60")

    assert result.exit_code == 0, result.output
    summary = summary_of(result)
    assert (summary["new"], summary["batches"], summary["rejected"]) == (60, 6, 0)
    assert params_sequence(server.logged(), "search_query", "start", "max_results") == [
        ("testing", str(start), "10") for start in range(0, 60, 10)
    ]
    papers = all_papers(sessions)
    expected_ids = fixture_ids(shared_data, *QUERY_PAGES)
    assert len(expected_ids) == len(set(expected_ids)) == 60
    assert sorted(papers) == sorted(expected_ids)
    # a paper at v3: version, and the v1 (published) and v3 (updated) dates from the entry
    revised = papers["2204.08348"]
    assert revised.version == 3
    assert [(v.version, v.submitted_at) for v in revised.versions] == [
        (1, datetime(2022, 4, 18, 14, 46, 24)),
        (3, datetime(2022, 7, 6, 5, 12, 56)),
    ]
    assert (revised.published_at, revised.updated_at) == (
        datetime(2022, 4, 18, 14, 46, 24),
        datetime(2022, 7, 6, 5, 12, 56),
    )
    assert papers["2409.05654"].version == 9
    # a summary with a paragraph break keeps it, lines inside a paragraph are joined
    assert (
        "and community as a whole.\n\nObjective. In this systematic review" in papers["1812.11470"].abstract
    )
    assert all("\n" not in p.title and p.title == p.title.strip() for p in papers.values())
    assert saved_states(sessions) == []  # a finished query forgets its checkpoint


@pytest.mark.parametrize(
    ("fault", "message"),
    [("html", "got an HTML page instead of XML"), ("truncated", "broken XML at line")],
)
def test_failed_page_keeps_earlier_pages_and_rerun_resumes_there(
    ingest_api: Invoke,
    server: FixtureServer,
    sessions: sessionmaker[Session],
    shared_data: Path,
    fault: str,
    message: str,
) -> None:
    if fault == "html":
        server.serve_html_error({"start": "30"})
    else:
        server.serve_truncated({"start": "30"})
    query = ("--query", "testing", "--page-size", "10", "--max-results", "60")

    failed = ingest_api(*query)

    assert failed.exit_code == 2
    assert message in failed.stderr
    assert "start=30" in failed.stderr
    assert "rerun the command to resume" in failed.stderr
    assert sorted(all_papers(sessions)) == sorted(fixture_ids(shared_data, *QUERY_PAGES[:3]))
    assert saved_states(sessions) == [{"start": 30}]

    server.clear_log()
    rerun = ingest_api(*query)

    assert rerun.exit_code == 0, rerun.output
    summary = summary_of(rerun)
    assert summary["resumed"] is True
    assert (summary["new"], summary["updated"], summary["unchanged"]) == (30, 0, 0)
    assert params_sequence(server.logged(), "start") == [("30",), ("40",), ("50",)]
    assert sorted(all_papers(sessions)) == sorted(fixture_ids(shared_data, *QUERY_PAGES))
    assert saved_states(sessions) == []


def test_the_same_query_twice_changes_no_row(
    ingest_api: Invoke, engine: Engine, sessions: sessionmaker[Session]
) -> None:
    query = ("--query", "testing", "--page-size", "10", "--max-results", "30")
    first = ingest_api(*query)
    assert first.exit_code == 0, first.output
    assert summary_of(first)["new"] == 30
    before = dump_tables(engine)

    second = ingest_api(*query)

    assert second.exit_code == 0, second.output
    summary = summary_of(second)
    assert (summary["new"], summary["updated"], summary["unchanged"]) == (0, 0, 30)
    assert summary["resumed"] is False
    assert dump_tables(engine) == before
    assert len(before[0]) == 30 and len(before[1]) >= 30


def test_days_sorts_by_submission_date_and_stops_at_the_cutoff(
    ingest_api: Invoke, server: FixtureServer, sessions: sessionmaker[Session]
) -> None:
    # every recorded entry is older than a day, so the first page already reaches the cutoff
    result = ingest_api("--query", "testing", "--page-size", "10", "--max-results", "60", "--days", "1")

    assert result.exit_code == 0, result.output
    assert summary_of(result)["new"] == 0
    assert params_sequence(server.logged(), "start", "sortBy", "sortOrder") == [
        ("0", "submittedDate", "descending")
    ]
    assert all_papers(sessions) == {}


def test_checkpoint_of_a_days_query_is_not_resumed_by_a_plain_query(
    ingest_api: Invoke, server: FixtureServer, sessions: sessionmaker[Session]
) -> None:
    """--days sorts by date, a plain query by relevance: offsets of one ordering mean nothing in the other."""
    server.serve_html_error({"start": "10"})
    query = ("--query", "testing", "--page-size", "10", "--max-results", "30")
    failed = ingest_api(*query, "--days", "36500")
    assert failed.exit_code == 2
    assert len(all_papers(sessions)) == 10

    server.clear_log()
    plain = ingest_api(*query)

    assert plain.exit_code == 0, plain.output
    assert summary_of(plain)["resumed"] is False
    assert params_sequence(server.logged(), "start", "sortBy") == [("0", None), ("10", None), ("20", None)]
    assert len(all_papers(sessions)) == 30


def test_connection_dropped_mid_body_is_retried(
    server: FixtureServer, sessions: sessionmaker[Session], shared_data: Path
) -> None:
    server.drop_connection({"start": "10"})
    waits: list[str] = []
    with PoliteClient(delay=0, backoff_base=0.05, on_wait=waits.append) as client:
        source = ArxivApiSource(client, server.api_url, query="testing", page_size=10, max_results=30)
        summary = run_ingest(sessions, source)

    assert summary.new == 30
    assert params_sequence(server.logged(), "start") == [("0",), ("10",), ("10",), ("20",)]
    assert len(waits) == 1 and server.api_url in waits[0]
    assert sorted(all_papers(sessions)) == sorted(fixture_ids(shared_data, *QUERY_PAGES[:3]))


@pytest.mark.slow
def test_default_delay_keeps_three_seconds_between_requests(
    shared_data: Path, cli_env_without_db: dict[str, str | None]
) -> None:
    """No --delay and no PAPERBOY_HTTP_DELAY: the polite default of 3 s between requests applies."""
    assert Settings.model_fields["http_delay"].default == 3.0
    runner = CliRunner(env=cli_env_without_db)
    assert runner.invoke(app, ["init"]).exit_code == 0
    with FixtureServer(shared_data / "fixtures") as server:
        command = ["ingest", "arxiv-api", "--url", server.api_url, "--query", "testing"]
        result = runner.invoke(app, [*command, "--page-size", "10", "--max-results", "20", "--json"])
        requests = server.logged()

    assert result.exit_code == 0, result.output
    assert summary_of(result)["new"] == 20
    assert len(requests) == 2
    assert requests[1].at - requests[0].at >= 2.95


@pytest.fixture
def cli_env_without_db(tmp_path: Path, shared_data: Path) -> dict[str, str | None]:
    """One SQLite database, and every other PAPERBOY_* variable unset (so the default delay applies)."""
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("PAPERBOY_")}
    env.update(
        PAPERBOY_HOME=str(tmp_path / "home"),
        PAPERBOY_DATABASE_URL=f"sqlite:///{tmp_path / 'polite.db'}",
        PAPERBOY_SHARED_DATA=str(shared_data),
    )
    return env
