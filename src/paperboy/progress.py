"""How long jobs report progress: a protocol the CLI implements with a progress bar, and a silent default."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Progress of a long job: a total (when known) in some unit, and how far it got."""

    def start(self, description: str, total: int | None, unit: str) -> None: ...

    def advance(self, progress: int, records: int) -> None: ...

    def total_known(self, total: int) -> None: ...

    def finish(self) -> None: ...


class SilentProgress:
    """Reports nothing (library use, tests)."""

    def start(self, description: str, total: int | None, unit: str) -> None:
        pass

    def advance(self, progress: int, records: int) -> None:
        pass

    def total_known(self, total: int) -> None:
        pass

    def finish(self) -> None:
        pass
