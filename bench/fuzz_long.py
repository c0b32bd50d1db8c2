"""The long fuzz run: the Schemathesis suite (every documented API operation) and the Hypothesis suites
(every HTML form and path parameter) of tests/, with many more examples, on SQLite and PostgreSQL.

    .venv/bin/python bench/fuzz_long.py --examples 400

Counts the requests sent and the server errors found (any 5xx or traceback fails its suite), prints them
and appends them to docs/BENCHMARKS.md; docs/RELIABILITY.md quotes them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import command_line, record

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=400, help="Examples per operation, route or path.")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as report:
        env = {
            **os.environ,
            "PAPERBOY_FUZZ_EXAMPLES": str(args.examples),
            "PAPERBOY_FUZZ_REPORT": report.name,
        }
        started = time.monotonic()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/test_fuzz_api.py",
                "tests/test_fuzz_forms.py",
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.monotonic() - started
        rows = [json.loads(line) for line in Path(report.name).read_text().splitlines() if line.strip()]
    requests: Counter[str] = Counter()
    for row in rows:
        requests[row["suite"]] += row["requests"]
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-500:]
    results = {
        "benchmark": "long fuzz run (both databases)",
        "examples_per_operation": args.examples,
        "requests": dict(requests),
        "requests_total": sum(requests.values()),
        "server_errors": 0 if done.returncode == 0 else "see the failing suites",
        "pytest": summary,
        "seconds": round(seconds),
    }
    print(json.dumps(results, indent=2))
    if done.returncode != 0:
        print(done.stdout[-5000:])
    if not args.no_record:
        record(results, command_line())
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
