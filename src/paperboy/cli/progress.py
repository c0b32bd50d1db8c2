"""A rich progress bar for long commands: counts, rate, elapsed time; rejected records listed as they come."""

from __future__ import annotations

import time

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from paperboy.ingest.records import Rejection

MAX_PRINTED_REJECTIONS = 50
PLAIN_LINE_SECONDS = 30.0
"""Off a terminal (cron, a log file, a pipe) the bar cannot redraw: a plain line this often instead."""


class RichProgress:
    """Implements the ingest runner's ProgressReporter on stderr."""

    def __init__(self, console: Console | None = None, enabled: bool = True) -> None:
        # Lines stay whole at any terminal width (people and scripts grep them), and text such as
        # "file.jsonl:100:" is never turned into an emoji.
        self.console = console or Console(stderr=True, soft_wrap=True, emoji=False, highlight=False)
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        self._records = 0
        self._rejections = 0
        self._started = 0.0
        self._unit = "records"
        self._description = ""
        self._last_line = 0.0

    def start(self, description: str, total: int | None, unit: str) -> None:
        self._unit = unit
        self._records = 0
        self._started = self._last_line = time.monotonic()
        self._description = description
        if not self.enabled:
            return
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%" if total else ""),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(description, total=total, status="starting")

    def total_known(self, total: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, total=total)

    def advance(self, progress: int, records: int) -> None:
        self._records += records
        if self._progress is None or self._task is None:
            return
        elapsed = max(time.monotonic() - self._started, 1e-6)
        noun = "records" if self._unit in ("bytes", "pages", "records") else self._unit
        status = f"{self._records:,} {noun}, {self._records / elapsed:,.0f}/s"
        if self._rejections:
            status += f", {self._rejections:,} rejected"
        if self._unit == "bytes":
            self._progress.update(self._task, completed=progress, status=status)
        else:
            self._progress.update(self._task, advance=progress, status=status)
        if not self.console.is_terminal and time.monotonic() - self._last_line >= PLAIN_LINE_SECONDS:
            self._last_line = time.monotonic()
            task = self._progress.tasks[0]
            share = f" ({task.percentage:.1f}%)" if task.total else ""
            self.console.print(f"{escape(self._description)}: {status}{share}", highlight=False)

    def rejected(self, rejection: Rejection) -> None:
        self._rejections += 1
        if self._rejections <= MAX_PRINTED_REJECTIONS:
            self.console.print(f"[yellow]rejected[/] {escape(str(rejection))}", highlight=False)
        elif self._rejections == MAX_PRINTED_REJECTIONS + 1:
            self.console.print(
                "[yellow]... more rejections; the summary counts them all (--json lists them)[/]"
            )

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
