"""File ingest sources (`paperboy ingest jsonl|csv|arxiv-snapshot|hf-daily`) on real data, end to end.

Every test runs the real CLI against a fresh SQLite and a fresh PostgreSQL database. Broken inputs are
built in tmp_path from real records; crash tests SIGKILL a real `paperboy` process.
"""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from paperboy.cli import app
from paperboy.code_links import find_links
from paperboy.db.models import DailyEntry, IndexQueue, IngestState, Paper
from paperboy.ingest.normalize import clean_abstract, split_authors
from paperboy.ingest.sources.files import CsvSource, SnapshotSource

PAPERBOY = Path(sys.executable).parent / "paperboy"
DUMPED_TABLES = ("papers", "paper_versions", "daily_entries", "index_queue")
DAILY_DATE = "2024-10-25"


# --- real data ----------------------------------------------------------------------------------------


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


@cache
def api_files(shared: Path) -> tuple[Path, ...]:
    return tuple(sorted((shared / "arxiv").glob("arxiv_api_2023-2025.part0*.jsonl")))


@cache
def api_records(shared: Path) -> tuple[dict[str, Any], ...]:
    return tuple(record for path in api_files(shared) for record in _read_jsonl(path))


@cache
def browse_lines(shared: Path) -> tuple[dict[str, Any], ...]:
    """arxiv_browse_abs.jsonl line by line (cs/0006008 appears twice)."""
    return tuple(_read_jsonl(shared / "arxiv" / "arxiv_browse_abs.jsonl"))


@cache
def browse_unique(shared: Path) -> tuple[dict[str, Any], ...]:
    """The 1,130 distinct papers of arxiv_browse_abs.jsonl, in file order."""
    first: dict[str, dict[str, Any]] = {}
    for record in browse_lines(shared):
        first.setdefault(record["id"], record)
    return tuple(first.values())


def browse_by_id(shared: Path) -> dict[str, dict[str, Any]]:
    return {record["id"]: record for record in browse_unique(shared)}


def daily_path(shared: Path) -> Path:
    return shared / "fixtures" / "hf_daily_papers" / "daily_papers.json"


def daily_entries(shared: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(daily_path(shared).read_text(encoding="utf-8"))
    return entries


def words(value: str | None) -> list[str]:
    return (value or "").split()


def naive(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).replace(tzinfo=None)


# --- the Kaggle snapshot, built from real .abs records ---------------------------------------------------


def kaggle_record(record: dict[str, Any], arxiv_id: str | None = None) -> dict[str, Any]:
    """A real arxiv_browse_abs record in the Kaggle `arxiv-metadata-oai-snapshot.json` layout."""
    names = split_authors(record["authors"])
    return {
        "id": arxiv_id or record["id"],
        "submitter": record.get("submitter"),
        "authors": record["authors"],
        # Kaggle keeps arXiv's wrapping: titles at ~70 columns, continuation lines indented.
        "title": "\n  ".join(
            textwrap.wrap(record["title"], 70, break_on_hyphens=False, break_long_words=False)
        ),
        "comments": record.get("comments"),
        "journal-ref": record.get("journal_ref"),
        "doi": record.get("doi"),
        "report-no": record.get("report_no"),
        "categories": record["categories"],
        "license": record.get("license"),
        "abstract": "  " + record["abstract"] + "\n",
        "versions": [{"version": v["version"], "created": v["date"]} for v in record["versions"]],
        "update_date": record["versions"][-1]["date_iso"][:10],
        "authors_parsed": [
            [*reversed(name.rsplit(" ", 1)), ""] if " " in name else [name, "", ""] for name in names
        ],
    }


@dataclass(frozen=True)
class Snapshot:
    path: Path
    ids: tuple[str, ...]
    source: dict[str, dict[str, Any]]
    """The real record behind each id."""


def build_snapshot(path: Path, records: Iterable[dict[str, Any]], copies: int = 1) -> Snapshot:
    """Write real records in Kaggle format; copies after the first get distinct new-style ids."""
    records = list(records)
    ids: list[str] = []
    source: dict[str, dict[str, Any]] = {}
    with path.open("w", encoding="utf-8") as handle:
        for copy in range(copies):
            for position, record in enumerate(records):
                arxiv_id = record["id"] if copy == 0 else f"{2100 + copy}.{position + 1:05d}"
                handle.write(json.dumps(kaggle_record(record, arxiv_id)) + "\n")
                ids.append(arxiv_id)
                source[arxiv_id] = record
    assert len(set(ids)) == len(ids)
    return Snapshot(path, tuple(ids), source)


@pytest.fixture(scope="module")
def snapshot_files(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> dict[int, Snapshot]:
    """One copy (1,130 records) and three copies (3,390 records, ~5.5 MB) of the real .abs records."""
    folder = tmp_path_factory.mktemp("snapshot")
    records = browse_unique(shared_data)
    return {copies: build_snapshot(folder / f"snapshot-{copies}.json", records, copies) for copies in (1, 3)}


# --- CLI and database helpers --------------------------------------------------------------------------


@dataclass
class Paperboy:
    """The real CLI, in process, against the test database."""

    runner: CliRunner

    def __call__(self, *args: str | Path, code: int = 0) -> Result:
        result = self.runner.invoke(app, [str(arg) for arg in args])
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        return result

    def ingest(self, *args: str | Path, code: int = 0) -> Any:
        """`paperboy ingest ... --json`: the summary (a list for several files)."""
        return json.loads(self("ingest", *args, "--json", code=code).stdout)


@pytest.fixture
def pb(cli: CliRunner) -> Paperboy:
    """The CLI on a fresh database of each backend, after `paperboy init`."""
    paperboy = Paperboy(cli)
    paperboy("init")
    return paperboy


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables ingest writes, in primary-key order."""
    with engine.connect() as connection:
        return {
            table: [tuple(row) for row in connection.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2"))]
            for table in DUMPED_TABLES
        }


def count(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def paper_ids(engine: Engine) -> list[str]:
    """All paper ids, sorted in Python (PostgreSQL's collation may order punctuation differently)."""
    with engine.connect() as connection:
        return sorted(row[0] for row in connection.execute(text("SELECT arxiv_id FROM papers")))


def papers_by_id(sessions: sessionmaker[Session], ids: Iterable[str] | None = None) -> dict[str, Paper]:
    with sessions() as session:
        query = select(Paper)
        if ids is not None:
            query = query.where(Paper.arxiv_id.in_(list(ids)))
        papers = {paper.arxiv_id: paper for paper in session.scalars(query)}
        for paper in papers.values():
            _ = paper.versions  # load while the session is open
        return papers


def queue_generations(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        rows = session.execute(select(Paper.arxiv_id, IndexQueue.generation).join(Paper))
        return {arxiv_id: generation for arxiv_id, generation in rows}


def assert_idempotent(pb: Paperboy, engine: Engine, *args: str | Path, force: bool = True) -> None:
    """Run an ingest again: nothing new or updated, and not one byte of the tables changed."""
    before = dump(engine)
    summaries = pb.ingest(*args, *(["--force"] if force else []))
    for summary in summaries if isinstance(summaries, list) else [summaries]:
        assert summary["new"] == 0 and summary["updated"] == 0, summary
        assert summary["unchanged"] > 0 and summary["rejected"] == 0, summary
        assert summary["daily_new"] == 0 and summary["daily_updated"] == 0, summary
    assert dump(engine) == before


def assert_skipped_without_force(pb: Paperboy, engine: Engine, *args: str | Path, files: int = 1) -> None:
    before = dump(engine)
    result = pb("ingest", *args)
    assert result.stdout.count("already ingested, nothing to do") == files, result.stdout
    assert " new," not in result.stdout
    summary = pb.ingest(*args)
    for item in summary if isinstance(summary, list) else [summary]:
        assert item["skipped"] is True and item["records"] == 0 and item["batches"] == 0
    assert dump(engine) == before


# --- jsonl ---------------------------------------------------------------------------------------------


def test_jsonl_arxiv_api_files(
    pb: Paperboy, engine: Engine, sessions: sessionmaker[Session], shared_data: Path
) -> None:
    files = api_files(shared_data)
    records = api_records(shared_data)
    assert len(files) == 3 and len(records) == 3788

    summaries = pb.ingest("jsonl", *files)
    assert [s["new"] for s in summaries] == [1880, 1881, 27]
    assert all(s["updated"] == s["unchanged"] == s["rejected"] == 0 for s in summaries)
    assert count(engine, "papers") == 3788
    assert count(engine, "index_queue") == 3788  # every new paper waits for the indexer
    assert count(engine, "paper_versions") == 0  # the API export has no version history

    papers = papers_by_id(sessions)
    for record in records:
        paper = papers[record["id"]]
        assert paper.title == record["title"]
        assert paper.version == int(record["version"].removeprefix("v"))
        assert paper.authors == record["authors"]
        assert paper.categories == record["categories"]
        assert paper.primary_category == record["primary_category"]
        assert paper.published_at == datetime.fromisoformat(record["published"])
        assert paper.updated_at == datetime.fromisoformat(record["updated"])
        assert paper.comments == record["comment"]
        assert paper.doi == record["doi"] and paper.journal_ref == record["journal_ref"]
        assert words(paper.abstract) == words(record["abstract"])
        assert paper.source == "jsonl"

    # One paper as the CLI shows it, field by field against the file.
    sample = next(r for r in records if r["doi"] and r["journal_ref"] and "\n  " in r["abstract"])
    shown = json.loads(pb("papers", "show", sample["id"], "--json").stdout)
    assert shown["id"] == sample["id"] and shown["title"] == sample["title"]
    assert shown["version"] == int(sample["version"][1:])
    assert shown["authors"] == sample["authors"] and shown["categories"] == sample["categories"]
    assert shown["published"] == f"{sample['published']}T00:00:00"
    assert shown["updated"] == f"{sample['updated']}T00:00:00"
    assert (shown["doi"], shown["journal_ref"], shown["comments"]) == (
        sample["doi"],
        sample["journal_ref"],
        sample["comment"],
    )
    assert shown["abstract"].count("\n\n") == sample["abstract"].count("\n  ")  # paragraphs kept
    assert shown["versions"] == [] and shown["source"] == "jsonl" and shown["upvotes"] == 0

    assert_idempotent(pb, engine, "jsonl", *files)
    assert_skipped_without_force(pb, engine, "jsonl", *files, files=3)


def test_jsonl_abs_records_with_version_history(
    pb: Paperboy, engine: Engine, sessions: sessionmaker[Session], shared_data: Path
) -> None:
    path = shared_data / "arxiv" / "arxiv_browse_abs.jsonl"
    unique = browse_unique(shared_data)
    assert len(browse_lines(shared_data)) == 1131 and len(unique) == 1130

    summary = pb.ingest("jsonl", path)
    # The second cs/0006008 line is the same paper again: unchanged, not a second row.
    assert (summary["new"], summary["updated"], summary["unchanged"], summary["rejected"]) == (1130, 0, 1, 0)
    assert count(engine, "papers") == 1130
    assert count(engine, "paper_versions") == sum(len(r["versions"]) for r in unique)

    papers = papers_by_id(sessions)
    for record in unique:
        paper = papers[record["id"]]
        history = [(v.version, v.submitted_at, v.size) for v in paper.versions]
        assert history == [
            (int(v["version"][1:]), naive(v["date_iso"]), v["size"]) for v in record["versions"]
        ], record["id"]
        assert paper.version == len(record["versions"])
        assert paper.published_at == naive(record["versions"][0]["date_iso"])
        assert paper.updated_at == naive(record["versions"][-1]["date_iso"])
        assert paper.title == " ".join(record["title"].split())
        assert paper.categories == record["categories"].split()

    first = papers["0704.0001"]
    assert first.authors == ["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C.-P. Yuan"]
    assert first.doi == "10.1103/PhysRevD.76.013009" and first.journal_ref == "Phys.Rev.D76:013009,2007"
    assert [(v.version, v.size) for v in first.versions] == [(1, "443kb"), (2, "370kb")]
    assert first.versions[0].submitted_at == datetime(2007, 4, 2, 19, 18, 42)
    assert papers["0704.0002"].authors == ["Ileana Streinu", "Louis Theran"]
    assert papers["0704.0374"].withdrawn is True and first.withdrawn is False

    assert_idempotent(pb, engine, "jsonl", path)


def test_jsonl_without_ids_gets_stable_content_ids(
    pb: Paperboy, engine: Engine, sessions: sessionmaker[Session], shared_data: Path, tmp_path: Path
) -> None:
    path = shared_data / "hf_search_sample" / "papers.jsonl"
    records = _read_jsonl(path)
    summary = pb.ingest("jsonl", path)
    assert (summary["new"], summary["rejected"]) == (186, 0)
    ids = paper_ids(engine)
    assert len(ids) == 186 and all(re.fullmatch(r"doc:[0-9a-f]{16}", arxiv_id) for arxiv_id in ids)

    papers = papers_by_id(sessions)
    by_title = {paper.title: paper for paper in papers.values()}
    for record in records:
        paper = by_title[" ".join(record["title"].split())]
        assert words(paper.abstract) == words(record["abstract"])
        assert paper.version is None and paper.authors == [] and paper.published_at is None

    assert_idempotent(pb, engine, "jsonl", path)
    # The id comes from the content, not from the file or the line: the same records from another
    # file, in reverse order, are the same papers.
    reversed_copy = tmp_path / "reversed.jsonl"
    reversed_copy.write_text("".join(json.dumps(r) + "\n" for r in reversed(records)), encoding="utf-8")
    before = dump(engine)
    again = pb.ingest("jsonl", reversed_copy)
    assert (again["new"], again["updated"], again["unchanged"]) == (0, 0, 186)
    assert paper_ids(engine) == ids and dump(engine) == before


def test_jsonl_beir_corpus_with_id_prefix(
    pb: Paperboy, engine: Engine, sessions: sessionmaker[Session], shared_data: Path
) -> None:
    path = shared_data / "beir" / "scifact" / "corpus.part01.jsonl"
    records = _read_jsonl(path)
    summary = pb.ingest("jsonl", path, "--id-prefix", "scifact")
    assert (summary["new"], summary["rejected"]) == (len(records), 0) == (1727, 0)
    assert set(paper_ids(engine)) == {f"scifact:{r['_id']}" for r in records}

    papers = papers_by_id(sessions, [f"scifact:{r['_id']}" for r in records[:50]])
    for record in records[:50]:
        paper = papers[f"scifact:{record['_id']}"]
        assert paper.title == " ".join(record["title"].split())
        assert words(paper.abstract) == words(record["text"])
        assert paper.source == "jsonl" and paper.version is None

    assert_idempotent(pb, engine, "jsonl", path, "--id-prefix", "scifact")


# --- arxiv-snapshot ------------------------------------------------------------------------------------


def test_arxiv_snapshot_kaggle_format(
    pb: Paperboy, engine: Engine, sessions: sessionmaker[Session], snapshot_files: dict[int, Snapshot]
) -> None:
    snapshot = snapshot_files[1]
    first_line = json.loads(snapshot.path.read_text(encoding="utf-8").split("\n", 1)[0])
    assert "\n  " in first_line["title"] and first_line["authors_parsed"][0] == ["Balázs", "C.", ""]

    summary = pb.ingest("arxiv-snapshot", snapshot.path)
    assert (summary["new"], summary["updated"], summary["rejected"]) == (1130, 0, 0)
    assert summary["source"] == f"arxiv-snapshot {snapshot.path.name}"

    papers = papers_by_id(sessions)
    assert sorted(papers) == sorted(snapshot.ids)
    for arxiv_id in snapshot.ids:
        record, paper = snapshot.source[arxiv_id], papers[arxiv_id]
        assert paper.title == " ".join(record["title"].split())  # unwrapped
        assert "\n" not in paper.title
        assert paper.abstract == clean_abstract(record["abstract"])
        assert not paper.abstract.startswith(" ")
        assert paper.authors == list(split_authors(record["authors"]))  # from authors_parsed
        assert paper.categories == record["categories"].split()
        assert paper.primary_category == paper.categories[0]
        assert (paper.journal_ref, paper.doi, paper.license) == (
            record.get("journal_ref"),
            record.get("doi"),
            record.get("license"),
        )
        assert paper.comments == (" ".join(record["comments"].split()) if record.get("comments") else None)
        # Kaggle versions carry only {version, created}: dates, no sizes.
        assert [(v.version, v.submitted_at, v.size) for v in paper.versions] == [
            (int(v["version"][1:]), naive(v["date_iso"]), None) for v in record["versions"]
        ]
        assert paper.version == len(record["versions"])
        assert paper.published_at == naive(record["versions"][0]["date_iso"])
        assert paper.updated_at == naive(record["versions"][-1]["date_iso"])
        assert paper.source == "arxiv-snapshot"
    assert papers["0704.0001"].authors == ["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C.-P. Yuan"]
    assert papers["0704.0001"].title == (
        "Calculation of prompt diphoton production cross sections at Tevatron and LHC energies"
    )

    assert_idempotent(pb, engine, "arxiv-snapshot", snapshot.path)
    assert_skipped_without_force(pb, engine, "arxiv-snapshot", snapshot.path)


def test_arxiv_snapshot_requires_arxiv_ids(
    pb: Paperboy, engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    record = browse_by_id(shared_data)["0704.0002"]
    path = tmp_path / "snapshot.json"
    path.write_text(
        json.dumps(kaggle_record(record)) + "\n" + json.dumps(kaggle_record(record, "sparsity-2007")) + "\n",
        encoding="utf-8",
    )
    summary = pb.ingest("arxiv-snapshot", path, code=1)
    assert (summary["new"], summary["rejected"]) == (1, 1)
    assert summary["rejections"] == [f"{path}:2: field 'id': not an arXiv id: 'sparsity-2007'"]
    assert paper_ids(engine) == ["0704.0002"]


def test_snapshot_streams_in_constant_memory(snapshot_files: dict[int, Snapshot]) -> None:
    """Peak memory of reading a snapshot does not grow with the file, and stays far below its size.

    The peak (~1.2 MB) is the one batch holding a real ~2,000-author record; three times the records
    must not raise it, and a reader that loads the file would exceed the file's size.
    """

    def peak(snapshot: Snapshot) -> int:
        tracemalloc.start()
        try:
            papers = rejected = 0
            for batch in SnapshotSource(snapshot.path, batch_size=50).batches(None):
                papers += len(batch.papers)
                rejected += len(batch.rejections)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            assert (papers, rejected) == (len(snapshot.ids), 0)

    small, big = snapshot_files[1], snapshot_files[3]
    next(SnapshotSource(small.path, batch_size=50).batches(None))  # warm caches outside the measurement
    size = big.path.stat().st_size
    assert size > 5_000_000
    small_peak, big_peak = peak(small), peak(big)
    assert big_peak < size / 3, (big_peak, size)
    assert big_peak < small_peak * 1.3, (small_peak, big_peak)  # 3x the records, same memory


# --- csv -----------------------------------------------------------------------------------------------

CSV_HEADER = ("title", "abstract", "id", "authors", "date", "categories")


def csv_row(record: dict[str, Any]) -> list[str]:
    return [
        record["title"],
        record["abstract"],
        record["id"],
        record["authors"],
        record["versions"][0]["date"],
        record["categories"],
    ]


def write_csv(path: Path, rows: Iterable[Iterable[str]], encoding: str = "utf-8") -> list[int]:
    """Write rows; return the physical line each row ends on (abstracts span several lines)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    ends: list[int] = []
    for row in rows:
        start = buffer.tell()
        writer.writerow(row)
        ends.append((ends[-1] if ends else 0) + buffer.getvalue()[start:].count("\n"))
    path.write_text(buffer.getvalue(), encoding=encoding, newline="")
    return ends


def test_csv_from_real_records(
    pb: Paperboy, engine: Engine, sessions: sessionmaker[Session], shared_data: Path, tmp_path: Path
) -> None:
    records = browse_unique(shared_data)[:300]
    path = tmp_path / "papers.csv"
    write_csv(path, [CSV_HEADER, *(csv_row(r) for r in records)])
    assert path.read_text(encoding="utf-8").count("\n") > 2 * len(records)  # quoted multi-line abstracts

    summary = pb.ingest("csv", path)
    assert (summary["new"], summary["rejected"]) == (300, 0)
    papers = papers_by_id(sessions)
    assert sorted(papers) == sorted(r["id"] for r in records)
    for record in records:
        paper = papers[record["id"]]
        assert paper.title == " ".join(record["title"].split())
        assert paper.abstract == clean_abstract(record["abstract"])
        assert paper.published_at == naive(record["versions"][0]["date_iso"])  # RFC 2822 in the CSV
        assert paper.categories == record["categories"].split()
        assert paper.authors == list(split_authors(record["authors"]))
        assert paper.source == "csv" and paper.versions == []
    assert papers["0704.0001"].authors == ["C. Balázs", "E. L. Berger", "P. M. Nadolsky", "C.-P. Yuan"]
    assert papers["0704.0002"].categories == ["math.CO", "cs.CG"]

    assert_idempotent(pb, engine, "csv", path)
    assert_skipped_without_force(pb, engine, "csv", path)


def test_csv_with_byte_order_mark(pb: Paperboy, engine: Engine, shared_data: Path, tmp_path: Path) -> None:
    records = browse_unique(shared_data)[:5]
    path = tmp_path / "excel-export.csv"
    write_csv(path, [CSV_HEADER, *(csv_row(r) for r in records)], encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbftitle,")
    summary = pb.ingest("csv", path)
    assert (summary["new"], summary["rejected"]) == (5, 0)
    assert paper_ids(engine) == sorted(r["id"] for r in records)


def test_csv_without_title_column_writes_nothing(
    pb: Paperboy, engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    records = browse_unique(shared_data)[:5]
    path = tmp_path / "no-title.csv"
    write_csv(path, [("name", "abstract", "id"), *([r["title"], r["abstract"], r["id"]] for r in records)])
    result = pb("ingest", "csv", path, code=2)
    assert f"{path}: line 1:" in result.stderr
    assert "'title'" in result.stderr and "(found: name, abstract, id)" in result.stderr
    assert count(engine, "papers") == 0


def test_csv_rows_with_wrong_field_counts_are_rejected(
    pb: Paperboy, engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    records = browse_unique(shared_data)[:8]
    rows = [list(CSV_HEADER), *(csv_row(r) for r in records)]
    rows[4].append("an extra field")  # records[3]
    rows[5] = rows[5][:4]  # records[4]
    path = tmp_path / "ragged.csv"
    ends = write_csv(path, rows)
    too_many, too_few = ends[4], ends[5]
    assert too_many > 10  # the physical line, not the row number: abstracts span lines

    summary = pb.ingest("csv", path, code=1)
    assert summary["rejections"] == [
        f"{path}:{too_many}: expected 6 fields, got 7",
        f"{path}:{too_few}: expected 6 fields, got 4",
    ]
    assert (summary["new"], summary["rejected"]) == (6, 2)
    assert paper_ids(engine) == sorted(r["id"] for i, r in enumerate(records) if i not in (3, 4))


# --- bad JSON lines ------------------------------------------------------------------------------------


def latin1(record: dict[str, Any]) -> bool:
    try:
        json.dumps(record, ensure_ascii=False).encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def test_jsonl_bad_lines_are_rejected_and_the_rest_kept(
    pb: Paperboy, engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    records = list(api_records(shared_data)[:12])
    accented = next(
        r for r in api_records(shared_data)[12:] if "é" in json.dumps(r, ensure_ascii=False) and latin1(r)
    )
    line = {i: json.dumps(r, ensure_ascii=False).encode() for i, r in enumerate(records)}
    assert b'", "abstract"' in line[1]
    no_title = {k: v for k, v in records[4].items() if k != "title"}
    lines = [
        line[0],
        line[1].replace(b'", "abstract"', b'" "abstract"', 1),  # 2: invalid JSON
        line[2],
        json.dumps([records[3]]).encode(),  # 4: not an object
        json.dumps(no_title).encode(),  # 5: no title
        json.dumps({**records[5], "published": "2025-13-45"}).encode(),  # 6: bad date
        json.dumps(accented, ensure_ascii=False).encode("latin-1"),  # 7: not UTF-8
        line[6],
        b"",  # blank lines are skipped, not rejected
        line[7],
        line[8],
        line[9][: len(line[9]) // 2],  # 12: truncated last line, no newline
    ]
    path = tmp_path / "broken.jsonl"
    path.write_bytes(b"\n".join(lines))

    result = pb("ingest", "jsonl", path, "--json", code=1)
    summary = json.loads(result.stdout)
    assert "6 record(s) rejected; everything else was kept" in result.stderr
    assert (summary["new"], summary["rejected"]) == (5, 6)
    reasons = dict(rejection.split(": ", 1) for rejection in summary["rejections"])
    assert list(reasons) == [f"{path}:{n}" for n in (2, 4, 5, 6, 7, 12)]
    assert reasons[f"{path}:2"].startswith("invalid JSON: Expecting ',' delimiter (column ")
    assert reasons[f"{path}:4"] == "expected a JSON object, got list"
    assert reasons[f"{path}:5"] == "missing field 'title'"
    assert reasons[f"{path}:6"] == "field 'published': not a date: '2025-13-45'"
    assert re.fullmatch(r"not UTF-8 text \(byte \d+\)", reasons[f"{path}:7"])
    assert reasons[f"{path}:12"].startswith("invalid JSON: Unterminated string")
    assert paper_ids(engine) == sorted(records[i]["id"] for i in (0, 2, 6, 7, 8))

    # The human run says the same on stderr (line by line) and in its summary.
    second = pb("ingest", "jsonl", path, "--force", "--quiet", code=1)
    assert "0 new, 0 updated, 5 unchanged, 6 rejected" in second.stdout
    assert "not UTF-8 text" in second.stderr and "6 record(s) rejected" in second.stderr


def test_jsonl_byte_order_mark_and_unstorable_values(
    pb: Paperboy, engine: Engine, sessions: sessionmaker[Session], shared_data: Path, tmp_path: Path
) -> None:
    """Values every backend must store or reject per record: a NUL byte, an overlong category or id."""
    records = api_records(shared_data)[:4]
    path = tmp_path / "edge.jsonl"
    lines = [
        json.dumps({**records[0], "title": records[0]["title"] + "\u0000"}),
        json.dumps({**records[1], "primary_category": "cs." + "X" * 40}),
        json.dumps({**records[2], "doi": "10.1000/" + "x" * 300}),
        json.dumps({**records[3], "id": None, "_id": "x" * 45}),
    ]
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n")
    summary = pb.ingest("jsonl", path, "--id-prefix", "a-long-corpus-prefix", code=1)
    assert (summary["new"], summary["rejected"]) == (1, 3)
    assert [r.split(": ", 2)[1] for r in summary["rejections"]] == [
        "field 'primary_category'",
        "field 'doi'",
        "field '_id'",
    ]
    paper = papers_by_id(sessions)[records[0]["id"]]
    assert paper.title == records[0]["title"]  # first line despite the BOM; NUL dropped


# --- hf-daily ------------------------------------------------------------------------------------------


def daily_rows(pb: Paperboy) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(pb("papers", "list", "--date", DAILY_DATE, "--json").stdout)
    return rows


def num_comments(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as session:
        query = select(Paper.arxiv_id, DailyEntry.num_comments_imported).join(DailyEntry.paper)
        return {arxiv_id: comments for arxiv_id, comments in session.execute(query)}


def test_hf_daily_list_matches_the_fixture(
    pb: Paperboy, engine: Engine, sessions: sessionmaker[Session], shared_data: Path
) -> None:
    entries = daily_entries(shared_data)
    assert len(entries) == 29
    # Hugging Face's own order: most upvoted first; ties: most recently submitted first.
    assert entries == sorted(
        entries, key=lambda e: (-e["paper"]["upvotes"], -naive(e["publishedAt"]).timestamp())
    )
    assert len({e["paper"]["upvotes"] for e in entries}) < 29  # there are ties to order

    summary = pb.ingest("hf-daily", daily_path(shared_data))
    assert (summary["new"], summary["daily_new"], summary["rejected"]) == (29, 29, 0)

    rows = daily_rows(pb)
    assert [r["id"] for r in rows] == [e["paper"]["id"] for e in entries]
    assert [r["upvotes"] for r in rows] == [e["paper"]["upvotes"] for e in entries]
    assert [r["submitted_by"] for r in rows] == [e["submittedBy"]["name"] for e in entries]
    assert {r["date"] for r in rows} == {DAILY_DATE}
    assert num_comments(sessions) == {e["paper"]["id"]: e["numComments"] for e in entries}

    papers = papers_by_id(sessions)
    for entry in entries:
        paper = papers[entry["paper"]["id"]]
        assert paper.title == " ".join(entry["paper"]["title"].split())
        assert words(paper.abstract) == words(entry["paper"]["summary"])
        assert paper.authors == [a["name"] for a in entry["paper"]["authors"] if not a.get("hidden")]
        assert paper.published_at == naive(entry["paper"]["publishedAt"])
        assert paper.upvotes_imported == entry["paper"]["upvotes"] and paper.version is None
    assert len(papers["2410.17897"].authors) == 3  # one of its four authors is hidden
    with sessions() as session:
        query = select(Paper.arxiv_id, DailyEntry.submitter_fullname).join(DailyEntry.paper)
        fullnames = {arxiv_id: fullname for arxiv_id, fullname in session.execute(query)}
    assert fullnames["2410.18451"] == "Chris (Yuhao) Liu"

    assert_idempotent(pb, engine, "hf-daily", daily_path(shared_data), force=False)
    assert daily_rows(pb) == rows


def test_hf_daily_tie_order_is_deterministic(pb: Paperboy, shared_data: Path, tmp_path: Path) -> None:
    entries = daily_entries(shared_data)
    for entry in entries:  # every entry ties on upvotes and submission time: arXiv id decides
        entry["paper"]["upvotes"] = 5
        entry["publishedAt"] = "2024-10-25T12:00:00.000Z"
    path = tmp_path / "ties.json"
    path.write_text(json.dumps(entries[::-1]), encoding="utf-8")
    pb.ingest("hf-daily", path)
    rows = daily_rows(pb)
    assert [r["id"] for r in rows] == sorted(e["paper"]["id"] for e in entries)
    assert daily_rows(pb) == rows


def test_hf_daily_reimport_updates_upvotes_and_comments(
    pb: Paperboy, sessions: sessionmaker[Session], shared_data: Path, tmp_path: Path
) -> None:
    pb.ingest("hf-daily", daily_path(shared_data))
    entries = daily_entries(shared_data)
    assert entries[3]["paper"]["id"] == "2410.18693" and entries[3]["paper"]["upvotes"] == 35
    entries[3]["paper"]["upvotes"] = 50
    entries[3]["numComments"] = 7
    later = tmp_path / "daily_papers_later.json"
    later.write_text(json.dumps(entries), encoding="utf-8")

    summary = pb.ingest("hf-daily", later)
    assert (summary["new"], summary["updated"], summary["unchanged"]) == (0, 1, 28)
    assert (summary["daily_new"], summary["daily_updated"], summary["daily_unchanged"]) == (0, 1, 28)
    rows = daily_rows(pb)
    assert [r["id"] for r in rows[:3]] == ["2410.17243", "2410.18693", "2410.16251"]
    assert rows[1]["upvotes"] == 50
    assert num_comments(sessions)["2410.18693"] == 7


def test_hf_daily_truncated_json_writes_nothing(
    pb: Paperboy, engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    raw = daily_path(shared_data).read_text(encoding="utf-8")
    path = tmp_path / "daily_papers.json"
    path.write_text(raw[: len(raw) // 2], encoding="utf-8")
    result = pb("ingest", "hf-daily", path, code=2)
    match = re.search(r"line (\d+) column (\d+): invalid JSON", result.stderr)
    assert match and match.group(1) == "1" and 1 < int(match.group(2)) <= len(raw) // 2, result.stderr
    assert "nothing was written" in result.stderr
    assert all(count(engine, table) == 0 for table in (*DUMPED_TABLES, "ingest_state"))


def test_hf_daily_html_page_is_refused(pb: Paperboy, engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "daily_papers.json"
    path.write_text(
        '\n<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>Daily Papers - Hugging Face'
        "</title></head>\n<body><main>Sign in to see the daily papers</main></body>\n</html>\n",
        encoding="utf-8",
    )
    result = pb("ingest", "hf-daily", path, code=2)
    assert f"{path}: got an HTML/XML page, not a daily_papers JSON response" in result.stderr
    assert all(count(engine, table) == 0 for table in DUMPED_TABLES)

    path.write_text('{"error": "Invalid date"}', encoding="utf-8")
    result = pb("ingest", "hf-daily", path, code=2)
    assert "the API answered with an error: Invalid date" in result.stderr
    assert count(engine, "papers") == 0


def test_hf_daily_bad_entry_is_rejected_alone(
    pb: Paperboy, engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    entries = daily_entries(shared_data)
    real_id = entries[4]["paper"]["id"]
    entries[4]["paper"]["id"] = "2410.172"
    path = tmp_path / "daily_papers.json"
    path.write_text(json.dumps(entries), encoding="utf-8")
    result = pb("ingest", "hf-daily", path, "--json", code=1)
    summary = json.loads(result.stdout)
    assert (summary["new"], summary["daily_new"], summary["rejected"]) == (28, 28, 1)
    assert summary["rejections"] == [
        f"{path}: entry 5 (paper 2410.172): field 'paper.id': not an arXiv id: '2410.172'"
    ]
    assert "1 record(s) rejected" in result.stderr
    assert count(engine, "papers") == count(engine, "daily_entries") == 28
    assert [r["id"] for r in daily_rows(pb)] == [e["paper"]["id"] for i, e in enumerate(entries) if i != 4]

    entries[9]["numComments"] = -1
    entries[4]["paper"]["id"] = real_id
    path.write_text(json.dumps(entries), encoding="utf-8")
    summary = pb.ingest("hf-daily", path, code=1)
    assert summary["rejections"] == [
        f"{path}: entry 10 (paper 2410.18538): field 'numComments': expected a whole number from 0 to 2147483647, got -1"
    ]
    assert (summary["new"], summary["daily_new"], summary["daily_unchanged"]) == (1, 1, 27)
    assert len(daily_rows(pb)) == 29


# --- merge rules ---------------------------------------------------------------------------------------


def write_jsonl(path: Path, *records: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_newer_version_overwrites_and_a_title_change_is_reindexed(
    pb: Paperboy, engine: Engine, sessions: sessionmaker[Session], shared_data: Path, tmp_path: Path
) -> None:
    real = browse_by_id(shared_data)["0704.0002"]  # v1 2007-03-31, v2 2008-12-13
    v1 = {
        **real,
        "title": "Sparsity certifying graph decompositions",
        "abstract": real["abstract"].split("\n  ")[0],
        "comments": "Submitted to Graphs and Combinatorics",
        "versions": real["versions"][:1],
    }
    old = write_jsonl(tmp_path / "v1.jsonl", v1)
    new = write_jsonl(tmp_path / "v2.jsonl", real)

    pb.ingest("jsonl", old)
    assert queue_generations(sessions) == {"0704.0002": 1}
    summary = pb.ingest("jsonl", new)
    assert (summary["new"], summary["updated"]) == (0, 1)
    paper = papers_by_id(sessions)["0704.0002"]
    assert paper.title == real["title"] and paper.comments == real["comments"]
    assert paper.abstract == clean_abstract(real["abstract"])
    assert paper.version == 2 and [v.version for v in paper.versions] == [1, 2]
    assert paper.updated_at == naive(real["versions"][1]["date_iso"])
    assert queue_generations(sessions) == {"0704.0002": 2}  # the title changed: index it again

    assert_idempotent(pb, engine, "jsonl", new)  # unchanged: no new generation
    # The older version again: it may not take the title back.
    summary = pb.ingest("jsonl", old, "--force")
    assert (summary["updated"], summary["unchanged"]) == (0, 1)
    assert papers_by_id(sessions)["0704.0002"].title == real["title"]
    assert queue_generations(sessions) == {"0704.0002": 2}


def test_older_version_only_fills_gaps_and_adds_history(
    pb: Paperboy, engine: Engine, sessions: sessionmaker[Session], shared_data: Path, tmp_path: Path
) -> None:
    real = browse_by_id(shared_data)["0704.0001"]  # v1 443kb, v2 370kb; has doi and journal-ref
    current = {k: v for k, v in real.items() if k not in ("doi", "journal_ref")}
    current["versions"] = real["versions"][1:]  # a source that only knows the current version
    older = {
        **real,
        "title": "Prompt diphoton production at Tevatron and LHC",
        "versions": real["versions"][:1],
    }
    older["comments"] = "37 pages, 15 figures"

    pb.ingest("jsonl", write_jsonl(tmp_path / "current.jsonl", current))
    before = papers_by_id(sessions)["0704.0001"]
    assert before.doi is None and [v.version for v in before.versions] == [2]

    summary = pb.ingest("jsonl", write_jsonl(tmp_path / "older.jsonl", older))
    assert (summary["new"], summary["updated"]) == (0, 1)
    paper = papers_by_id(sessions)["0704.0001"]
    assert paper.title == real["title"] and paper.comments == real["comments"]  # not overwritten
    assert paper.abstract == before.abstract and paper.version == 2
    assert (paper.doi, paper.journal_ref) == (real["doi"], real["journal_ref"])  # gaps filled
    assert [(v.version, v.submitted_at, v.size) for v in paper.versions] == [
        (1, datetime(2007, 4, 2, 19, 18, 42), "443kb"),
        (2, datetime(2007, 7, 24, 20, 10, 27), "370kb"),
    ]
    assert queue_generations(sessions) == {"0704.0001": 1}  # nothing the index shows changed


def test_daily_entries_never_overwrite_versioned_arxiv_metadata(
    pb: Paperboy, engine: Engine, sessions: sessionmaker[Session], shared_data: Path, tmp_path: Path
) -> None:
    entries = {e["paper"]["id"]: e for e in daily_entries(shared_data)}

    def arxiv_record(arxiv_id: str) -> dict[str, Any]:
        """The paper as the arXiv API export states it: versioned, date-only, its own wording."""
        paper = entries[arxiv_id]["paper"]
        return {
            "id": arxiv_id,
            "version": "v1",
            "title": " ".join(paper["title"].split()).upper(),
            "abstract": "arXiv abstract of " + arxiv_id,
            "authors": [a["name"] for a in paper["authors"]],
            "categories": ["cs.CL", "cs.LG"],
            "primary_category": "cs.CL",
            "published": paper["publishedAt"][:10],
            "updated": paper["publishedAt"][:10],
        }

    # 2410.17243: arXiv first, then Hugging Face. 2410.16251: Hugging Face first, then arXiv.
    pb.ingest("jsonl", write_jsonl(tmp_path / "a.jsonl", arxiv_record("2410.17243")))
    summary = pb.ingest("hf-daily", daily_path(shared_data))
    assert (summary["new"], summary["updated"]) == (28, 1)  # the update is the upvote count
    summary = pb.ingest("jsonl", write_jsonl(tmp_path / "b.jsonl", arxiv_record("2410.16251")))
    assert (summary["new"], summary["updated"]) == (0, 1)
    assert_idempotent(pb, engine, "hf-daily", daily_path(shared_data), force=False)

    papers = papers_by_id(sessions, ["2410.17243", "2410.16251"])
    for arxiv_id, paper in papers.items():
        expected = arxiv_record(arxiv_id)
        assert paper.title == expected["title"] and paper.abstract == expected["abstract"]
        assert paper.version == 1 and paper.source == "jsonl"
        assert paper.published_at == datetime.fromisoformat(expected["published"])
        assert paper.categories == ["cs.CL", "cs.LG"]
        assert paper.upvotes_imported == entries[arxiv_id]["paper"]["upvotes"]  # upvotes do come from HF
    generations = queue_generations(sessions)
    assert generations["2410.17243"] == 1 and generations["2410.16251"] == 2


# --- crash and resume ----------------------------------------------------------------------------------

BATCH = 200


def ingest_state(sessions: sessionmaker[Session], source: str) -> dict[str, Any]:
    with sessions() as session:
        rows = list(session.scalars(select(IngestState).where(IngestState.source == source)))
    assert len(rows) == 1
    return dict(rows[0].state)


def resumed_summary(stdout: str) -> tuple[int, int, int, int]:
    match = re.search(
        r"(\d+) new, (\d+) updated, (\d+) unchanged, (\d+) rejected \(.*, resumed from checkpoint\)", stdout
    )
    assert match, stdout
    new, updated, unchanged, rejected = map(int, match.groups())
    return new, updated, unchanged, rejected


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


@pytest.mark.slow
def test_sigkill_mid_ingest_resumes_from_checkpoint(
    pb: Paperboy,
    engine: Engine,
    sessions: sessionmaker[Session],
    cli_env: dict[str, str],
    snapshot_files: dict[int, Snapshot],
) -> None:
    snapshot = snapshot_files[3]
    total = len(snapshot.ids)
    env = {**cli_env, "PAPERBOY_INGEST_BATCH_SIZE": str(BATCH)}
    command = [str(PAPERBOY), "ingest", "arxiv-snapshot", str(snapshot.path), "--quiet"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: count(engine, "papers") >= 2 * BATCH or process.poll() is not None, 60, "2 batches")
        assert process.poll() is None, "the ingest finished before it could be killed"
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL

    committed = count(engine, "papers")
    assert 2 * BATCH <= committed < total
    assert committed % BATCH == 0  # whole batches only
    assert count(engine, "index_queue") == committed
    state = ingest_state(sessions, "arxiv-snapshot")
    assert state["line"] == committed and not state.get("done")  # checkpoint committed with its batch
    assert set(paper_ids(engine)) == set(snapshot.ids[:committed])

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert resumed_summary(rerun.stdout) == (total - committed, 0, 0, 0)
    assert paper_ids(engine) == sorted(snapshot.ids)  # all there, each exactly once
    assert count(engine, "papers") == total == count(engine, "index_queue")
    assert count(engine, "paper_versions") == sum(len(snapshot.source[i]["versions"]) for i in snapshot.ids)
    assert ingest_state(sessions, "arxiv-snapshot")["done"] is True


KILLING_SITECUSTOMIZE = '''
"""Test hook: SIGKILL this process inside the transaction of the batch holding one record."""
import os
import signal

from paperboy.ingest import runner

_upsert = runner.upsert_papers


def _upsert_then_die(session, records):
    counts = _upsert(session, records)
    if any(record.arxiv_id == os.environ["KILL_AT_RECORD"] for record in records):
        session.flush()  # the batch's rows are written, not committed
        os.kill(os.getpid(), signal.SIGKILL)
    return counts


runner.upsert_papers = _upsert_then_die
'''


@pytest.mark.slow
def test_kill_inside_a_batch_lands_nothing_of_it(
    pb: Paperboy,
    engine: Engine,
    sessions: sessionmaker[Session],
    cli_env: dict[str, str],
    snapshot_files: dict[int, Snapshot],
    tmp_path: Path,
) -> None:
    snapshot = snapshot_files[1]
    total, trigger = len(snapshot.ids), 500  # record 501 sits in the third batch (401-600)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(KILLING_SITECUSTOMIZE, encoding="utf-8")
    env = {**cli_env, "PAPERBOY_INGEST_BATCH_SIZE": str(BATCH)}
    command = [str(PAPERBOY), "ingest", "arxiv-snapshot", str(snapshot.path), "--quiet"]

    killed = subprocess.run(
        command,
        env={**env, "PYTHONPATH": str(hook), "KILL_AT_RECORD": snapshot.ids[trigger]},
        capture_output=True,
        timeout=120,
    )
    assert killed.returncode == -signal.SIGKILL
    assert set(paper_ids(engine)) == set(snapshot.ids[: 2 * BATCH])  # batches 1-2 whole, batch 3 not at all
    assert count(engine, "index_queue") == 2 * BATCH
    with engine.connect() as connection:
        orphans = connection.execute(
            text("SELECT COUNT(*) FROM paper_versions WHERE paper_id NOT IN (SELECT id FROM papers)")
        ).scalar_one()
    assert orphans == 0
    assert count(engine, "paper_versions") == sum(
        len(snapshot.source[i]["versions"]) for i in snapshot.ids[: 2 * BATCH]
    )
    assert ingest_state(sessions, "arxiv-snapshot")["line"] == 2 * BATCH

    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert resumed_summary(rerun.stdout) == (total - 2 * BATCH, 0, 0, 0)
    assert paper_ids(engine) == sorted(snapshot.ids)


def test_failure_inside_a_batch_rolls_it_back_whole(
    pb: Paperboy,
    engine: Engine,
    sessions: sessionmaker[Session],
    snapshot_files: dict[int, Snapshot],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A record that fails in the database (here: injected) undoes its whole batch; the rerun resumes."""
    from paperboy.ingest import runner

    snapshot = snapshot_files[1]
    bad_id = snapshot.ids[250]  # the second batch of 200
    upsert = runner.upsert_papers

    def failing_upsert(session: Session, records: Any) -> Any:
        counts = upsert(session, records)
        if any(record.arxiv_id == bad_id for record in records):
            raise RuntimeError(f"storage failed on {bad_id}")
        return counts

    command = ["ingest", "arxiv-snapshot", str(snapshot.path), "--quiet"]
    env = {"PAPERBOY_INGEST_BATCH_SIZE": str(BATCH)}
    monkeypatch.setattr(runner, "upsert_papers", failing_upsert)
    result = pb.runner.invoke(app, command, env=env)
    assert isinstance(result.exception, RuntimeError)
    assert set(paper_ids(engine)) == set(snapshot.ids[:BATCH])  # batch 1 whole, batch 2 not at all
    assert count(engine, "index_queue") == BATCH
    assert count(engine, "paper_versions") == sum(
        len(snapshot.source[i]["versions"]) for i in snapshot.ids[:BATCH]
    )
    assert ingest_state(sessions, "arxiv-snapshot")["line"] == BATCH

    monkeypatch.setattr(runner, "upsert_papers", upsert)
    rerun = pb.runner.invoke(app, command, env=env)
    assert rerun.exit_code == 0, rerun.stderr
    assert resumed_summary(rerun.stdout) == (len(snapshot.ids) - BATCH, 0, 0, 0)
    assert paper_ids(engine) == sorted(snapshot.ids)


def test_rejection_lines_stay_whole_at_any_terminal_width(
    cli_env: dict[str, str], shared_data: Path, tmp_path: Path
) -> None:
    """People and scripts grep rejection lines: no wrapping at the terminal width, however long the path,
    and no Rich markup or emoji codes ("file.jsonl:100:" is not 💯)."""
    records = api_records(shared_data)[:120]
    lines = [json.dumps(r, ensure_ascii=False) for r in records]
    lines[99] = '{"id": "2401.00001", "title": [broken'
    # Two long directory names: the path is longer than the checkpoint key's column whatever tmp_path is.
    folder = tmp_path / ("a-rather-long-directory-name-" * 6) / ("and-another-long-directory-" * 6)
    folder.mkdir(parents=True)
    path = folder / "file.jsonl"
    path.write_text("\n".join(lines) + "\n")
    runner = CliRunner(env={**cli_env, "COLUMNS": "40"})
    assert runner.invoke(app, ["init"]).exit_code == 0
    result = runner.invoke(app, ["ingest", "jsonl", str(path)])
    assert result.exit_code == 1, result.output
    rejected = [
        line for line in result.stderr.splitlines() if line.startswith(f"rejected {path}:100: invalid JSON")
    ]
    assert rejected, (result.stderr[-2000:], repr(result.exception))
    assert "\N{HUNDRED POINTS SYMBOL}" not in result.stderr


# --- large files: parsed in a child process while the parent commits ------------------------------------


def test_a_large_file_is_parsed_in_a_child_process(
    pb: Paperboy,
    engine: Engine,
    sessions: sessionmaker[Session],
    snapshot_files: dict[int, Snapshot],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Above the size threshold the parent only commits: a parent that cannot parse still ingests it all,
    with the same rejections (file and line) as the inline reader."""
    monkeypatch.setattr("paperboy.ingest.prefetch.CHILD_MIN_BYTES", 0)

    def no_parsing_here(self: SnapshotSource, state: dict[str, Any] | None) -> Any:
        raise AssertionError("parsed in the parent")

    monkeypatch.setattr(SnapshotSource, "batches", no_parsing_here)  # the spawned child has its own
    import paperboy.db.repositories.papers as papers_module

    def no_link_search_here(*texts: str | None) -> Any:
        raise AssertionError("code links searched in the parent")

    monkeypatch.setattr(papers_module, "find_links", no_link_search_here)  # the child finds them too
    snapshot = snapshot_files[3]
    lines = snapshot.path.read_text().splitlines()
    lines.insert(1500, '{"id": "2401.00001", "title": [broken')
    path = tmp_path / "snapshot-with-a-broken-line.json"
    path.write_text("\n".join(lines) + "\n")

    summary = pb.ingest("arxiv-snapshot", path, code=1)
    assert (summary["new"], summary["rejected"]) == (len(snapshot.ids), 1)
    assert summary["rejections"][0].startswith(f"{path}:1501: invalid JSON")
    assert paper_ids(engine) == sorted(snapshot.ids)
    assert count(engine, "paper_versions") == sum(len(snapshot.source[i]["versions"]) for i in snapshot.ids)
    assert count(engine, "index_queue") == len(snapshot.ids)
    assert ingest_state(sessions, "arxiv-snapshot")["done"] is True
    monkeypatch.undo()
    with sessions() as session:
        rows = session.execute(
            select(Paper.code_urls, Paper.abstract, Paper.comments, Paper.journal_ref)
        ).all()
    assert [urls for urls, *_ in rows] == [list(find_links(*texts).repositories) for _, *texts in rows]
    assert sum(1 for urls, *_ in rows if urls) >= 3, "the sample names repositories"


def test_an_error_in_the_child_process_is_the_same_clear_error(
    pb: Paperboy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("paperboy.ingest.prefetch.CHILD_MIN_BYTES", 0)
    monkeypatch.setattr(CsvSource, "batches", None)  # read in the child, or fail here
    path = tmp_path / "no-title.csv"
    path.write_text("name,abstract\nA paper,Its abstract.\n")
    result = pb("ingest", "csv", path, code=2)
    assert f"{path}: line 1: the header needs 'title' and 'abstract' columns" in result.stderr
    assert "Traceback" not in result.output


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _running(pid: int) -> bool:
    """Alive and not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads child processes from /proc (Linux)")
def test_killing_a_large_ingest_stops_its_parser_and_resumes(
    engine: Engine,
    sessions: sessionmaker[Session],
    cli_env: dict[str, str],
    shared_data: Path,
    tmp_path: Path,
) -> None:
    """A snapshot above the threshold (the real one, 33 MB): SIGKILL of the committing process mid-file
    leaves whole batches, its parser process exits by itself, and a rerun resumes to every paper once."""
    from paperboy.ingest.prefetch import CHILD_MIN_BYTES

    snapshot = build_snapshot(tmp_path / "large.json", browse_unique(shared_data), copies=19)
    assert snapshot.path.stat().st_size >= CHILD_MIN_BYTES
    env = {**cli_env, "PAPERBOY_INGEST_BATCH_SIZE": str(BATCH)}
    subprocess.run([str(PAPERBOY), "init"], env=env, check=True, capture_output=True)
    command = [str(PAPERBOY), "ingest", "arxiv-snapshot", str(snapshot.path), "--quiet"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: count(engine, "papers") >= 2 * BATCH or process.poll() is not None, 60, "2 batches")
        parsers = _children(process.pid)
        assert process.poll() is None and parsers, "the ingest ended, or parsed without a child process"
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    wait_for(lambda: not any(_running(pid) for pid in parsers), 30, "the parser to exit")

    committed = count(engine, "papers")
    assert committed % BATCH == 0 and committed < len(snapshot.ids)
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert resumed_summary(rerun.stdout) == (len(snapshot.ids) - committed, 0, 0, 0)
    assert paper_ids(engine) == sorted(snapshot.ids)
    assert ingest_state(sessions, "arxiv-snapshot")["done"] is True
