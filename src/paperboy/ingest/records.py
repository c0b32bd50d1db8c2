"""What a source yields per transaction: records, rejections and the checkpoint that follows them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from paperboy.db.records import DailyRecord, DeletedRecord, PaperRecord


@dataclass(frozen=True)
class Rejection:
    """A record that could not be accepted, with where it came from and why."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class Batch:
    """What one transaction commits: records, rejections, and the checkpoint that follows them."""

    papers: list[PaperRecord] = field(default_factory=list)
    daily: list[DailyRecord] = field(default_factory=list)
    deleted: list[DeletedRecord] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    checkpoint: dict[str, Any] | None = None
    progress: int = 0
    """How far the source has advanced with this batch, in its own unit (bytes, records)."""
    total: int | None = None
    """The source's total in the same unit, once it learns it (e.g. from the first API page)."""

    def __len__(self) -> int:
        return len(self.papers) + len(self.daily) + len(self.deleted) + len(self.rejections)


class IngestError(RuntimeError):
    """A whole page or file cannot be read (broken XML/JSON, error page, truncated download).

    `resumable` says that earlier pages are committed with a checkpoint, so a rerun continues there.
    """

    def __init__(self, message: str, resumable: bool = False) -> None:
        super().__init__(message)
        self.resumable = resumable
