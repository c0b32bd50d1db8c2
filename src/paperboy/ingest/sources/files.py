"""File sources: JSON lines (any corpus, BEIR, the Kaggle arXiv snapshot) and CSV.

Files are streamed line by line in constant memory; each batch's checkpoint is the byte offset (JSONL)
or row count (CSV) after it, tied to the file's size and mtime, so an interrupted ingest of a 4 GB
snapshot resumes where it stopped and a finished file is not read again unless it changed.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from paperboy.db.records import RecordError
from paperboy.ingest.mapping import map_record
from paperboy.ingest.records import Batch, IngestError, Rejection


def _fingerprint(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


_NOT_UTF8 = re.compile("[\udc80-\udcff]")
"""What `errors="surrogateescape"` makes of a byte that is not UTF-8."""


class FileSource:
    """Shared checkpoint/fingerprint logic of the line-oriented file sources."""

    name = "file"

    def __init__(
        self, path: Path, batch_size: int = 500, require_arxiv_id: bool = False, id_prefix: str = "doc"
    ):
        if path.is_dir():
            raise IngestError(f"{path} is a directory, not a file")
        if not path.is_file():
            raise IngestError(f"{path}: no such file")
        self.path = path
        self.batch_size = batch_size
        self.require_arxiv_id = require_arxiv_id
        self.id_prefix = id_prefix
        self.fingerprint = _fingerprint(path)
        self.label = f"{self.name} {path.name}"

    def job_key(self) -> str:
        return str(self.path.resolve())

    def unit(self) -> str:
        return "bytes"

    def total(self) -> int | None:
        return self.fingerprint["size"]

    def is_complete(self, state: dict[str, Any] | None) -> bool:
        return bool(state and state.get("done") and state.get("fingerprint") == self.fingerprint)

    def final_state(self) -> dict[str, Any] | None:
        return {"done": True, "fingerprint": self.fingerprint}

    def _resume_point(self, state: dict[str, Any] | None) -> dict[str, Any]:
        if state and state.get("fingerprint") == self.fingerprint and not state.get("done"):
            return state
        return {"offset": 0, "line": 0}

    def _checkpoint(self, offset: int, line: int) -> dict[str, Any]:
        return {"offset": offset, "line": line, "fingerprint": self.fingerprint}

    def _map(self, data: Any, where: str, batch: Batch) -> None:
        if not isinstance(data, dict):
            batch.rejections.append(Rejection(where, f"expected a JSON object, got {type(data).__name__}"))
            return
        try:
            batch.papers.append(map_record(data, self.name, self.require_arxiv_id, self.id_prefix))
        except RecordError as exc:
            batch.rejections.append(Rejection(where, str(exc)))

    def batches(self, state: dict[str, Any] | None) -> Iterator[Batch]:
        raise NotImplementedError


class JsonLinesSource(FileSource):
    """One JSON object per line (`.jsonl`, optionally `.gz`)."""

    name = "jsonl"

    def _open(self) -> IO[bytes]:
        if self.path.suffix == ".gz":
            return gzip.GzipFile(self.path, "rb")  # type: ignore[return-value]  # GzipFile is a binary IO
        return self.path.open("rb")

    def unit(self) -> str:
        return "records" if self.path.suffix == ".gz" else "bytes"

    def total(self) -> int | None:
        return None if self.path.suffix == ".gz" else self.fingerprint["size"]

    def batches(self, state: dict[str, Any] | None) -> Iterator[Batch]:
        start = self._resume_point(state)
        offset, line_number = int(start["offset"]), int(start["line"])
        with self._open() as handle:
            handle.seek(offset)
            batch = Batch()
            lines = iter(handle)
            while True:
                try:
                    raw = next(lines)
                except StopIteration:
                    break
                except (EOFError, OSError, zlib.error) as exc:  # a truncated or damaged .gz
                    where = f"{self.path}:{line_number + 1}"
                    batch.rejections.append(
                        Rejection(
                            where,
                            f"the compressed file is damaged or ends early here ({exc}); the {line_number:,} lines before it were read",
                        )
                    )
                    break
                line_number += 1
                offset += len(raw)
                self._parse_line(raw, line_number, batch)
                if len(batch) >= self.batch_size:
                    yield self._finish(batch, offset, line_number)
                    batch = Batch()
            if len(batch):
                yield self._finish(batch, offset, line_number)

    def _finish(self, batch: Batch, offset: int, line_number: int) -> Batch:
        batch.checkpoint = self._checkpoint(offset, line_number)
        batch.progress = len(batch) if self.unit() == "records" else offset
        return batch

    def _parse_line(self, raw: bytes, line_number: int, batch: Batch) -> None:
        where = f"{self.path}:{line_number}"
        if not raw.strip():
            return
        try:
            # A byte-order mark (files saved by Windows tools) is not part of the first record.
            text = raw.decode("utf-8-sig" if line_number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            batch.rejections.append(Rejection(where, f"not UTF-8 text (byte {exc.start})"))
            return
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            batch.rejections.append(Rejection(where, f"invalid JSON: {exc.msg} (column {exc.colno})"))
            return
        except RecursionError:
            batch.rejections.append(Rejection(where, "invalid JSON: nested too deeply"))
            return
        self._map(data, where, batch)


class SnapshotSource(JsonLinesSource):
    """The Kaggle `arxiv-metadata-oai-snapshot.json`: JSON lines whose ids must be arXiv ids."""

    name = "arxiv-snapshot"

    def __init__(self, path: Path, batch_size: int = 500):
        super().__init__(path, batch_size, require_arxiv_id=True)


class CsvSource(FileSource):
    """A CSV file with a header row; needs `title` and `abstract` (or `summary`/`text`) columns."""

    name = "csv"

    def unit(self) -> str:
        return "bytes"

    def _reader(self, handle: IO[str]) -> csv.DictReader[str]:
        reader = csv.DictReader(handle)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        if "title" not in columns or not {"abstract", "summary", "text"} & set(columns):
            raise IngestError(
                f"{self.path}: line 1: the header needs 'title' and 'abstract' columns (found: {', '.join(columns) or 'none'})"
            )
        reader.fieldnames = columns
        return reader

    def batches(self, state: dict[str, Any] | None) -> Iterator[Batch]:
        start = self._resume_point(state)
        skip_rows = int(start["line"])
        with self.path.open("rb") as binary:
            # utf-8-sig: spreadsheet exports start with a byte-order mark that would hide the 'title' column.
            # Undecodable bytes become surrogates, so one bad byte rejects its row and not the rest.
            handle = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="surrogateescape", newline="")
            reader = self._reader(handle)
            rows_done = 0
            batch = Batch()
            while True:
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    rows_done += 1
                    if rows_done > skip_rows:
                        batch.rejections.append(
                            Rejection(f"{self.path}:{reader.line_num}", f"unreadable CSV row: {exc}")
                        )
                    continue
                rows_done += 1
                if rows_done <= skip_rows:
                    continue
                self._parse_row(row, reader.line_num, len(reader.fieldnames or []), batch)
                if len(batch) >= self.batch_size:
                    yield self._finish(batch, binary.tell(), rows_done)
                    batch = Batch()
            yield self._finish(batch, self.fingerprint["size"], rows_done)

    def _finish(self, batch: Batch, offset: int, rows_done: int) -> Batch:
        batch.checkpoint = self._checkpoint(offset, rows_done)
        batch.progress = offset
        return batch

    def _parse_row(self, row: dict[str | None, Any], line: int, width: int, batch: Batch) -> None:
        where = f"{self.path}:{line}"
        if any(_NOT_UTF8.search(value) for value in row.values() if isinstance(value, str)):
            batch.rejections.append(Rejection(where, "not UTF-8 text"))
            return
        if None in row:
            batch.rejections.append(
                Rejection(where, f"expected {width} fields, got {width + len(row[None])}")
            )
            return
        if any(value is None for value in row.values()):
            filled = sum(value is not None for value in row.values())
            batch.rejections.append(Rejection(where, f"expected {width} fields, got {filled}"))
            return
        data: dict[str, Any] = {
            key: value.strip() for key, value in row.items() if key is not None and value and value.strip()
        }
        if "upvotes" in data:
            try:
                data["upvotes"] = int(data["upvotes"])
            except ValueError:
                batch.rejections.append(
                    Rejection(where, f"field 'upvotes': not an integer: {data['upvotes']!r}")
                )
                return
        self._map(data, where, batch)
