"""`paperboy ingest arxiv-oai` against a real HTTP server serving OAI-PMH pages built from real records.

`arXiv`-format pages hold the real records of the recorded responses under fixtures/arxiv_oai;
`arXivRaw` pages hold real records from arxiv/arxiv_browse_abs.jsonl (arXiv's own .abs metadata) in
arXiv's arXivRaw layout. The server chains pages with resumptionTokens and can inject faults.
Every test runs against SQLite and PostgreSQL.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from http_fixture_server import (
    FixtureServer,
    OaiRecord,
    arxiv_format_records,
    arxiv_raw_record,
    browse_abs_records,
    deleted_record,
    edited_oai_namespace_record,
    response_date_of,
)
from ingest_support import Invoke, all_papers, cli_ingest, dump_tables, summary_of
from paperboy.cli import app
from paperboy.db.models import IngestState, Paper

HEP_TH_RESPONSE_DATE = "2017-12-14T12:56:31Z"  # <responseDate> of the recorded arxiv-physics-hep-th.xml


@pytest.fixture
def server(shared_data: Path) -> Iterator[FixtureServer]:
    with FixtureServer(shared_data / "fixtures") as running:
        yield running


@pytest.fixture
def arxiv_records(shared_data: Path, server: FixtureServer) -> list[OaiRecord]:
    """The 18 real arXiv-format records, served 5 per page (4 pages)."""
    records = arxiv_format_records(shared_data / "fixtures")
    assert len(records) == 18
    server.oai_records["arXiv"] = records
    server.oai_page_size = 5
    server.oai_response_date = response_date_of(shared_data / "fixtures", "arxiv-physics-hep-th.xml")
    assert server.oai_response_date == HEP_TH_RESPONSE_DATE
    return records


@pytest.fixture
def abs_records(shared_data: Path) -> list[dict[str, Any]]:
    """Real .abs metadata: 25 new-style (0704.*) and 5 old-style ids."""
    everything = browse_abs_records(shared_data)
    new_style = [r for r in everything if "/" not in r["id"]][:25]
    old_style = [r for r in everything if "/" in r["id"]][:5]
    return new_style + old_style


@pytest.fixture
def ingest_oai(cli: CliRunner, server: FixtureServer) -> Invoke:
    """Run `paperboy ingest arxiv-oai --url <server> --delay 0 --json ARGS` (after `paperboy init`)."""
    return cli_ingest(cli, "arxiv-oai", server.oai_url)


def paper_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(Paper)) or 0)


def paper_count_by_id(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        rows = session.execute(select(Paper.arxiv_id, func.count()).group_by(Paper.arxiv_id))
        return {arxiv_id: count for arxiv_id, count in rows}


def saved_state(sessions: sessionmaker[Session]) -> dict[str, Any] | None:
    with sessions() as session:
        rows = list(session.scalars(select(IngestState).where(IngestState.source == "arxiv-oai")))
    assert len(rows) <= 1
    return dict(rows[0].state) if rows else None


def ids_of(records: list[OaiRecord]) -> list[str]:
    return sorted(r.arxiv_id for r in records)


def first_page_params(server: FixtureServer) -> list[dict[str, str]]:
    """Parameters of the requests that started a harvest (no resumptionToken)."""
    return [r.params for r in server.logged("/oai2") if "resumptionToken" not in r.params]


def test_harvest_follows_resumption_tokens_and_stores_every_record_once(
    ingest_oai: Invoke, server: FixtureServer, sessions: sessionmaker[Session], arxiv_records: list[OaiRecord]
) -> None:
    result = ingest_oai()

    assert result.exit_code == 0, result.output
    summary = summary_of(result)
    assert (summary["new"], summary["updated"], summary["rejected"], summary["batches"]) == (18, 0, 0, 4)
    assert [r.params for r in server.logged()] == [
        {"verb": "ListRecords", "metadataPrefix": "arXiv"},
        {"verb": "ListRecords", "resumptionToken": server.oai_token("arXiv", 2)},
        {"verb": "ListRecords", "resumptionToken": server.oai_token("arXiv", 3)},
        {"verb": "ListRecords", "resumptionToken": server.oai_token("arXiv", 4)},
    ]
    assert sorted(all_papers(sessions)) == ids_of(arxiv_records)
    assert saved_state(sessions) == {
        "done": True,
        "last_response_date": HEP_TH_RESPONSE_DATE,
        "from": None,
        "until": None,
    }


def test_arxiv_format_fields_are_normalized(
    ingest_oai: Invoke, sessions: sessionmaker[Session], arxiv_records: list[OaiRecord]
) -> None:
    result = ingest_oai()
    assert result.exit_code == 0, result.output
    papers = all_papers(sessions)

    toolbox = papers["1412.8323"]  # from arxiv-physics-hep-th.xml; its title is wrapped over two lines
    assert toolbox.title == "Toolbox for reconstructing quantum theory from rules on information acquisition"
    assert toolbox.authors == ["Philipp A Hoehn"]
    assert toolbox.categories == ["quant-ph", "gr-qc", "hep-th", "math-ph", "math.MP", "physics.hist-ph"]
    assert toolbox.primary_category == "quant-ph"
    assert (toolbox.published_at, toolbox.updated_at) == (datetime(2014, 12, 29), datetime(2017, 12, 13))
    assert toolbox.license == "http://creativecommons.org/licenses/by/4.0/"
    assert toolbox.comments is not None
    assert toolbox.comments.startswith(
        "78 pages, many figures, graphs and references. Version accepted for publ"
    )
    assert "\n" not in toolbox.comments and "  " not in toolbox.comments
    assert toolbox.abstract.startswith(
        "We develop an operational approach for reconstructing the quantum theory of qubit"
    )
    assert "\n" not in toolbox.abstract
    assert [(v.version, v.submitted_at) for v in toolbox.versions] == [(1, datetime(2014, 12, 29))]
    assert toolbox.source == "arxiv-oai"

    bosons = papers["1507.07790"]
    assert bosons.title == "Relativistic quantum dynamics of vector bosons in an Aharonov-Bohm potential"
    assert bosons.authors == ["Luis B. Castro", "Edilberto O. Silva"]
    assert bosons.journal_ref == "J. Phys. A: Math. Theor. 51 (2018) 035201"
    assert bosons.doi == "10.1088/1751-8121/aa9c53"

    burigana = papers["1604.05585"]  # non-ASCII forename, affiliations ignored
    assert burigana.authors is not None
    assert burigana.authors[:2] == ["Günter Burigana", "Tiziana Trombetti"]


def test_arxivraw_records_keep_the_full_version_history(
    ingest_oai: Invoke,
    server: FixtureServer,
    sessions: sessionmaker[Session],
    abs_records: list[dict[str, Any]],
) -> None:
    server.oai_records["arXivRaw"] = [arxiv_raw_record(r) for r in abs_records]
    server.oai_page_size = 10

    result = ingest_oai("--format", "arXivRaw")

    assert result.exit_code == 0, result.output
    assert (summary_of(result)["new"], summary_of(result)["rejected"]) == (30, 0)
    assert server.logged()[0].params == {"verb": "ListRecords", "metadataPrefix": "arXivRaw"}
    papers = all_papers(sessions)
    assert sorted(papers) == sorted(r["id"] for r in abs_records)
    for record in abs_records:
        paper = papers[record["id"]]
        expected_versions = [
            (
                int(v["version"].removeprefix("v")),
                datetime.fromisoformat(v["date_iso"].replace("Z", "")),
                v["size"].split(",")[0],
            )
            for v in record["versions"]
        ]
        assert [(v.version, v.submitted_at, v.size) for v in paper.versions] == expected_versions, record[
            "id"
        ]
        assert paper.version == expected_versions[-1][0]
        assert paper.published_at == expected_versions[0][1]
        assert paper.updated_at == expected_versions[-1][1]
        assert paper.categories == record["categories"].split()
        assert paper.primary_category == record["categories"].split()[0]
        assert paper.doi == record.get("doi")
        assert paper.journal_ref == record.get("journal_ref")
        assert paper.title == " ".join(record["title"].split())

    first = papers["0704.0001"]  # "C. Bal\\'azs, E. L. Berger, P. M. Nadolsky, C.-P. Yuan"
    assert first.authors == ["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C.-P. Yuan"]
    assert [(v.version, v.size) for v in first.versions] == [(1, "443kb"), (2, "370kb")]


def test_503_with_retry_after_is_waited_out_and_retried(
    ingest_oai: Invoke, server: FixtureServer, sessions: sessionmaker[Session], arxiv_records: list[OaiRecord]
) -> None:
    page_2 = server.oai_page("arXiv", 2)
    server.fail_with_status(page_2, status=503, retry_after="1", times=1)

    result = ingest_oai()

    assert result.exit_code == 0, result.output
    assert summary_of(result)["new"] == 18
    log = server.logged()
    tokens = [r.params.get("resumptionToken") for r in log]
    assert tokens == [None, page_2["resumptionToken"], page_2["resumptionToken"], *tokens[3:]]
    assert [r.status for r in log[1:3]] == [503, 200]
    assert log[2].at - log[1].at >= 0.95
    assert "HTTP 503" in result.stderr and "retrying in 1.0 s" in result.stderr
    assert sorted(all_papers(sessions)) == ids_of(arxiv_records)


def test_repeated_failures_give_up_naming_the_url_and_keep_earlier_pages(
    ingest_oai: Invoke, server: FixtureServer, sessions: sessionmaker[Session], arxiv_records: list[OaiRecord]
) -> None:
    page_2 = server.oai_page("arXiv", 2)
    server.fail_with_status(page_2, status=503, retry_after="0", times=None)

    result = ingest_oai(env={"PAPERBOY_HTTP_MAX_RETRIES": "2"})

    assert result.exit_code == 2
    assert "gave up after 3 attempts (HTTP 503)" in result.stderr
    assert server.oai_url in result.stderr
    assert "resumptionToken=arXiv" in result.stderr  # names the page, not just the endpoint
    assert [r.status for r in server.logged()] == [200, 503, 503, 503]
    assert sorted(all_papers(sessions)) == ids_of(arxiv_records[:5])


@pytest.mark.parametrize(
    ("fault", "message"),
    [("truncated", "broken XML at line"), ("html", "got an HTML page instead of XML")],
)
def test_unreadable_page_fails_cleanly_and_rerun_resumes_at_that_page(
    ingest_oai: Invoke,
    server: FixtureServer,
    sessions: sessionmaker[Session],
    arxiv_records: list[OaiRecord],
    fault: str,
    message: str,
) -> None:
    page_3 = server.oai_page("arXiv", 3)
    if fault == "truncated":
        server.serve_truncated(page_3)
    else:
        server.serve_html_error(page_3)

    failed = ingest_oai()

    assert failed.exit_code == 2
    assert message in failed.stderr
    assert "nothing was written" in failed.stderr and "rerun the command to resume" in failed.stderr
    assert page_3["resumptionToken"] in failed.stderr
    assert sorted(all_papers(sessions)) == ids_of(arxiv_records[:10])  # pages 1-2 committed, page 3 not
    state = saved_state(sessions)
    assert state is not None and state["token"] == page_3["resumptionToken"] and state["pages"] == 2

    server.clear_log()
    rerun = ingest_oai()

    assert rerun.exit_code == 0, rerun.output
    summary = summary_of(rerun)
    assert summary["resumed"] is True
    assert (summary["new"], summary["updated"], summary["unchanged"]) == (8, 0, 0)
    assert [r.params for r in server.logged()] == [
        {"verb": "ListRecords", "resumptionToken": page_3["resumptionToken"]},
        {"verb": "ListRecords", "resumptionToken": server.oai_token("arXiv", 4)},
    ]
    assert "resuming harvest at page 3" in rerun.stderr
    assert sorted(all_papers(sessions)) == ids_of(arxiv_records)
    assert paper_count_by_id(sessions) == {r.arxiv_id: 1 for r in arxiv_records}
    assert saved_state(sessions) == {
        "done": True,
        "last_response_date": HEP_TH_RESPONSE_DATE,
        "from": None,
        "until": None,
    }


def test_bad_resumption_token_in_a_fresh_harvest_is_an_error(
    ingest_oai: Invoke, server: FixtureServer, sessions: sessionmaker[Session], arxiv_records: list[OaiRecord]
) -> None:
    server.serve_oai_error(server.oai_page("arXiv", 2), code="badResumptionToken")

    result = ingest_oai()

    assert result.exit_code == 2
    assert "OAI-PMH error badResumptionToken: The value of the resumptionToken argument is invalid" in (
        result.stderr
    )
    assert sorted(all_papers(sessions)) == ids_of(arxiv_records[:5])


def test_expired_token_on_resume_restarts_the_harvest(
    ingest_oai: Invoke, server: FixtureServer, sessions: sessionmaker[Session], arxiv_records: list[OaiRecord]
) -> None:
    page_3 = server.oai_page("arXiv", 3)
    server.serve_html_error(page_3)
    assert ingest_oai().exit_code == 2
    server.serve_oai_error(page_3, code="badResumptionToken")  # the saved token expired meanwhile
    server.clear_log()

    rerun = ingest_oai()

    assert rerun.exit_code == 0, rerun.output
    assert [r.params.get("resumptionToken") for r in server.logged()] == [
        page_3["resumptionToken"],
        None,
        server.oai_token("arXiv", 2),
        server.oai_token("arXiv", 3),
        server.oai_token("arXiv", 4),
    ]
    assert server.logged()[1].params == {"verb": "ListRecords", "metadataPrefix": "arXiv"}
    assert "restarting the harvest" in rerun.stderr
    summary = summary_of(rerun)
    assert (summary["new"], summary["unchanged"], summary["updated"]) == (8, 10, 0)
    assert paper_count_by_id(sessions) == {r.arxiv_id: 1 for r in arxiv_records}


def test_completed_harvest_makes_the_next_one_incremental(
    ingest_oai: Invoke, server: FixtureServer, sessions: sessionmaker[Session], arxiv_records: list[OaiRecord]
) -> None:
    assert ingest_oai().exit_code == 0
    server.clear_log()

    incremental = ingest_oai()

    assert incremental.exit_code == 0, incremental.output
    assert first_page_params(server) == [
        {"verb": "ListRecords", "metadataPrefix": "arXiv", "from": "2017-12-14"}
    ]
    assert "incremental harvest from 2017-12-14" in incremental.stderr
    summary = summary_of(incremental)
    # the server re-sends the records stamped 2017-12-14 or later; they are unchanged
    assert len([r for r in arxiv_records if r.datestamp >= "2017-12-14"]) == 8
    assert (summary["new"], summary["updated"], summary["unchanged"]) == (0, 0, 8)

    server.clear_log()
    explicit = ingest_oai("--from", "2030-01-01")  # an explicit --from wins; nothing changed since

    assert explicit.exit_code == 0, explicit.output
    assert first_page_params(server) == [
        {"verb": "ListRecords", "metadataPrefix": "arXiv", "from": "2030-01-01"}
    ]
    assert summary_of(explicit)["records"] == 0  # OAI-PMH noRecordsMatch is an empty harvest, not an error
    assert len(all_papers(sessions)) == 18


def test_harvest_with_until_continues_from_that_date_next_time(
    ingest_oai: Invoke, server: FixtureServer, sessions: sessionmaker[Session], arxiv_records: list[OaiRecord]
) -> None:
    """The server's responseDate is long after --until: starting there would skip the records between."""
    bounded = ingest_oai("--until", "2016-06-30")
    assert bounded.exit_code == 0, bounded.output
    early = [r for r in arxiv_records if r.datestamp <= "2016-06-30"]
    assert 0 < len(early) < len(arxiv_records)
    assert sorted(all_papers(sessions)) == ids_of(early)
    server.clear_log()

    following = ingest_oai()

    assert following.exit_code == 0, following.output
    assert first_page_params(server) == [
        {"verb": "ListRecords", "metadataPrefix": "arXiv", "from": "2016-06-30"}
    ]
    assert sorted(all_papers(sessions)) == ids_of(arxiv_records)


def test_expired_token_of_an_incremental_harvest_restarts_incrementally(
    ingest_oai: Invoke, server: FixtureServer, sessions: sessionmaker[Session], arxiv_records: list[OaiRecord]
) -> None:
    """Restarting after an expired token must not turn an incremental harvest into a full one."""
    server.oai_response_date = "2016-06-20T10:00:00Z"
    assert ingest_oai().exit_code == 0
    server.oai_page_size = 3
    recent_page_2 = server.oai_page("arXiv", 2, from_date="2016-06-20")
    server.serve_html_error(recent_page_2)
    interrupted = ingest_oai()
    assert interrupted.exit_code == 2
    assert first_page_params(server)[-1]["from"] == "2016-06-20"
    server.serve_oai_error(recent_page_2, code="badResumptionToken")
    server.clear_log()

    rerun = ingest_oai()

    assert rerun.exit_code == 0, rerun.output
    assert server.logged()[0].params.get("resumptionToken") == recent_page_2["resumptionToken"]
    assert first_page_params(server) == [
        {"verb": "ListRecords", "metadataPrefix": "arXiv", "from": "2016-06-20"}
    ]
    assert summary_of(rerun)["new"] == 0


def test_deleted_record_marks_the_paper_withdrawn(
    ingest_oai: Invoke, server: FixtureServer, sessions: sessionmaker[Session], arxiv_records: list[OaiRecord]
) -> None:
    assert ingest_oai().exit_code == 0
    before = {p.arxiv_id: p for p in all_papers(sessions).values()}
    target = next(r for r in arxiv_records if r.arxiv_id == "1507.07790")
    server.oai_records["arXiv"] = [r for r in arxiv_records if r is not target] + [
        deleted_record(target.identifier, "2019-01-01")
    ]

    result = ingest_oai("--from", "2019-01-01")

    assert result.exit_code == 0, result.output
    summary = summary_of(result)
    assert (summary["deleted"], summary["records"]) == (1, 1)
    after = all_papers(sessions)
    assert after["1507.07790"].withdrawn is True
    assert after["1507.07790"].title == before["1507.07790"].title  # the row is kept
    assert [p for p in after.values() if p.withdrawn] == [after["1507.07790"]]

    again = ingest_oai("--from", "2019-01-01")  # already withdrawn: nothing to do
    assert again.exit_code == 0, again.output
    assert summary_of(again)["deleted"] == 0


def test_malformed_record_is_rejected_and_the_rest_kept(
    ingest_oai: Invoke, server: FixtureServer, sessions: sessionmaker[Session], shared_data: Path
) -> None:
    good = arxiv_format_records(shared_data / "fixtures")[:4]
    edited = edited_oai_namespace_record(shared_data / "fixtures")
    server.oai_records["arXiv"] = [*good[:2], edited, *good[2:]]

    result = ingest_oai()

    assert result.exit_code == 1
    summary = summary_of(result)
    assert (summary["new"], summary["rejected"]) == (4, 1)
    (rejection,) = summary["rejections"]
    assert "oai:arXiv.org:1601.03238" in rejection and "no <arXiv> metadata" in rejection
    assert "page 1 record 3" in rejection
    assert sorted(all_papers(sessions)) == ids_of(good)


def test_the_same_harvest_twice_changes_no_row(
    ingest_oai: Invoke,
    server: FixtureServer,
    engine: Engine,
    abs_records: list[dict[str, Any]],
) -> None:
    server.oai_records["arXivRaw"] = [arxiv_raw_record(r) for r in abs_records]
    server.oai_page_size = 7
    harvest = ("--format", "arXivRaw", "--from", "1990-01-01")  # explicit --from: not incremental
    first = ingest_oai(*harvest)
    assert first.exit_code == 0, first.output
    assert summary_of(first)["new"] == 30
    before = dump_tables(engine)

    second = ingest_oai(*harvest)

    assert second.exit_code == 0, second.output
    summary = summary_of(second)
    assert (summary["new"], summary["updated"], summary["unchanged"], summary["deleted"]) == (0, 0, 30, 0)
    assert dump_tables(engine) == before
    assert len(before[1]) == sum(len(r["versions"]) for r in abs_records)


def test_invalid_options_fail_before_any_request(ingest_oai: Invoke, server: FixtureServer) -> None:
    bad_format = ingest_oai("--format", "oai_dc")
    bad_date = ingest_oai("--from", "last tuesday")

    assert bad_format.exit_code == 2 and "--format must be one of arXiv, arXivRaw" in bad_format.stderr
    assert bad_date.exit_code == 2 and "use YYYY-MM-DD" in bad_date.stderr
    assert server.logged() == []


@pytest.mark.slow
def test_sigkill_mid_harvest_then_rerun_loses_and_duplicates_nothing(
    cli: CliRunner,
    cli_env: dict[str, str],
    server: FixtureServer,
    engine: Engine,
    sessions: sessionmaker[Session],
    shared_data: Path,
) -> None:
    abs_records = browse_abs_records(shared_data, limit=60)
    server.oai_records["arXivRaw"] = [arxiv_raw_record(r) for r in abs_records]
    server.oai_page_size = 5  # 12 pages
    server.page_delay = 0.25
    assert cli.invoke(app, ["init"]).exit_code == 0
    arguments = [
        "ingest",
        "arxiv-oai",
        "--url",
        server.oai_url,
        "--format",
        "arXivRaw",
        "--delay",
        "0",
        "--json",
    ]
    console_script = str(Path(sys.executable).parent / "paperboy")

    process = subprocess.Popen(
        [console_script, *arguments], env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 30
        while paper_count(engine) < 10:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no page was committed in time"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL
    committed = paper_count(engine)
    assert 10 <= committed < 60 and committed % 5 == 0  # whole pages only
    rerun_started = time.monotonic()

    rerun = cli.invoke(app, arguments)

    assert rerun.exit_code == 0, rerun.output
    summary = summary_of(rerun)
    assert summary["resumed"] is True
    assert (summary["new"], summary["updated"], summary["unchanged"]) == (60 - committed, 0, 0)
    resumed = [r for r in server.logged() if r.at >= rerun_started]
    assert resumed[0].params == {
        "verb": "ListRecords",
        "resumptionToken": server.oai_token("arXivRaw", committed // 5 + 1),
    }
    assert all("metadataPrefix" not in r.params for r in resumed)  # it did not start over
    assert len(resumed) == 12 - committed // 5
    papers = all_papers(sessions)
    assert paper_count_by_id(sessions) == {r["id"]: 1 for r in abs_records}
    assert {arxiv_id: len(p.versions) for arxiv_id, p in papers.items()} == {
        r["id"]: len(r["versions"]) for r in abs_records
    }
