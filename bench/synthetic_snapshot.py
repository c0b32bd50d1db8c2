"""A synthetic Kaggle arXiv snapshot (`arxiv-metadata-oai-snapshot.json`) of all of arXiv's size.

    .venv/bin/python bench/synthetic_snapshot.py --records 2700000 --out /tmp/snapshot/arxiv-snapshot.json

The real snapshot's field layout (id, submitter, authors, title, comments, journal-ref, doi, report-no,
categories, license, abstract, versions, update_date, authors_parsed), written the way Kaggle writes it
(as arXiv's OAI-PMH metadata has them, ../shared/data/fixtures/arxiv_oai: an abstract wrapped at about
80 columns, its first line indented by two spaces and the lines that continue a paragraph not indented;
a title wrapped at about 70, its continuation lines indented). Titles and abstracts take their words and
lengths from the real abstracts in shared data and their categories from the real mix
(bench/synthetic.py); ids run month by month from 0704 to 2512 with monthly volumes growing as arXiv's
did (about 4,300 a month in 2007 to 26,000 in 2025 at 2.7M records), so a day's, week's and month's lists
are as long as the real ones.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import Vocabulary, synthetic_papers

FIRST_MONTH = (2007, 4)
LAST_MONTH = (2025, 12)
LICENSES = [
    "http://arxiv.org/licenses/nonexclusive-distrib/1.0/",
    "http://creativecommons.org/licenses/by/4.0/",
    None,
    "http://creativecommons.org/licenses/by-nc-sa/4.0/",
]


def months() -> list[tuple[int, int]]:
    out, (year, month) = [], FIRST_MONTH
    while (year, month) <= LAST_MONTH:
        out.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def monthly_counts(total: int) -> list[int]:
    """Records per month: exponential growth from 2007 to 2025 (arXiv's own curve), summing to `total`."""
    span = months()
    weights = np.exp(np.linspace(0.0, np.log(6.0), len(span)))
    counts = np.floor(weights / weights.sum() * total).astype(int)
    counts[-1] += total - int(counts.sum())
    return [int(c) for c in counts]


def _authors_parsed(names: list[str]) -> list[list[str]]:
    parsed = []
    for name in names:
        parts = name.split()
        parsed.append([parts[-1], " ".join(parts[:-1]), ""] if len(parts) > 1 else [name, "", ""])
    return parsed


def records(vocabulary: Vocabulary, total: int, seed: int = 5) -> Iterator[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    papers = synthetic_papers(vocabulary, total, seed=seed)
    for (year, month), count in zip(months(), monthly_counts(total), strict=True):
        start = datetime(year, month, 1)
        days = ((start.replace(day=28) + timedelta(days=4)).replace(day=1) - start).days
        width = 4 if (year, month) < (2015, 1) else 5
        for number in range(1, count + 1):
            paper = next(papers)
            created = start + timedelta(days=int(rng.integers(0, days)), seconds=int(rng.integers(0, 86_400)))
            versions = [{"version": "v1", "created": created.strftime("%a, %-d %b %Y %H:%M:%S GMT")}]
            for extra in range(int(rng.choice([0, 0, 0, 1, 1, 2]))):
                created += timedelta(days=int(rng.integers(1, 200)))
                versions.append(
                    {"version": f"v{extra + 2}", "created": created.strftime("%a, %-d %b %Y %H:%M:%S GMT")}
                )
            wrapped = textwrap.fill(paper.abstract, 80, break_on_hyphens=False)
            yield {
                "id": f"{year % 100:02d}{month:02d}.{number:0{width}d}",
                "submitter": paper.authors[0],
                "authors": ", ".join(paper.authors),
                "title": "\n  ".join(textwrap.wrap(paper.title, 70, break_on_hyphens=False)),
                "comments": f"{int(rng.integers(4, 40))} pages, {int(rng.integers(1, 12))} figures"
                if rng.random() < 0.7
                else None,
                "journal-ref": None,
                "doi": f"10.{int(rng.integers(1000, 9999))}/synthetic.{paper.number}"
                if rng.random() < 0.3
                else None,
                "report-no": None,
                "categories": " ".join(paper.categories),
                "license": LICENSES[int(rng.integers(0, len(LICENSES)))],
                "abstract": "  " + wrapped + "\n",
                "versions": versions,
                "update_date": created.strftime("%Y-%m-%d"),
                "authors_parsed": _authors_parsed(paper.authors),
            }


def write(path: Path, count: int, vocabulary: Vocabulary) -> float:
    """Write `count` records to `path` (through a temporary file, so a partial snapshot never has the
    final name); seconds taken."""
    started = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".partial")
    with temporary.open("w") as handle:
        for n, record in enumerate(records(vocabulary, count), start=1):
            handle.write(json.dumps(record) + "\n")
            if n % 100_000 == 0:
                print(f"  {n:,} records ({n / (time.perf_counter() - started):,.0f}/s)", flush=True)
    temporary.replace(path)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=2_700_000)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    shared = Path(
        os.environ.get("PAPERBOY_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
    )
    seconds = write(args.out, args.records, Vocabulary.from_shared_data(shared))
    size = args.out.stat().st_size
    print(f"wrote {args.records:,} records, {size / 2**30:.2f} GiB, in {seconds:.0f} s: {args.out}")


if __name__ == "__main__":
    main()
