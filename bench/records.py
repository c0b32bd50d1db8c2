"""Appends a benchmark's figures to docs/BENCHMARKS.md with the machine, date and command."""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent.parent / "docs" / "BENCHMARKS.md"


def command_line(arguments: list[str] | None = None) -> str:
    """How this benchmark was started, as a reader would rerun it."""
    shown = sys.argv[1:] if arguments is None else arguments
    return ".venv/bin/python " + "/".join(Path(sys.argv[0]).parts[-2:]) + " " + " ".join(shown)


def record(results: dict[str, Any], command: str) -> None:
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}"
    block = (
        f"\n### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — `{command}`\n\n"
        f"Machine: {machine}\n\n```json\n{json.dumps(results, indent=2)}\n```\n"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmarks\n\n## Raw runs\n")
    with RESULTS.open("a") as handle:
        handle.write(block)
