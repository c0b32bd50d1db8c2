"""Crash and recovery, many times over: random `kill -9` of real `paperboy ingest`, `index`,
`index --rebuild` and `digest send` processes, each followed by a rerun, then the checks PostgreSQL's own
recovery tests make: nothing lost, nothing duplicated, and the same answers as a run that was never killed.

    .venv/bin/python bench/kill_loop.py --kills 6          # per kind of job: 24 kills in all
    .venv/bin/python bench/kill_loop.py --kills 6 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Prints each kill and check, and appends the counts to docs/BENCHMARKS.md (docs/RELIABILITY.md quotes them).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from records import command_line, record

from mail_support import SmtpServer
from paperboy.clock import utcnow
from paperboy.config import Settings
from paperboy.db.engine import engine_from_settings, session_factory
from paperboy.digest.service import DigestService
from paperboy.digest.subscriptions import SubscriptionRequest
from paperboy.search.factory import make_embedder
from paperboy.search.service import SearchRequest, SearchService
from paperboy.search.store import SearchStore, current_build

REPO = Path(__file__).resolve().parent.parent
PAPERBOY = Path(sys.executable).parent / "paperboy"
QUERIES = [
    "diffusion policy",
    "retrieval augmented generation",
    "contrastive learning",
    "robot grasping",
    "llm reasoning",
]


class Lab:
    """One data dir and database, and the commands run against it."""

    def __init__(self, home: Path, database_url: str, shared: Path) -> None:
        self.home, self.database_url, self.shared = home, database_url, shared
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")}
        self.env.update(
            PAPERBOY_HOME=str(home),
            PAPERBOY_DATABASE_URL=database_url,
            PAPERBOY_SHARED_DATA=str(shared),
            PAPERBOY_INDEX_BATCH_SIZE="16",
            HF_HUB_OFFLINE="1",
            PAPERBOY_BASE_URL="http://paperboy.test",
        )

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(PAPERBOY), *args], env={**self.env, **extra}, capture_output=True, text=True, timeout=900
        )

    def kill_after(self, seconds: float, *args: str, **extra: str) -> bool:
        """Start a command and SIGKILL it after `seconds`; False when it finished first."""
        child = subprocess.Popen(
            [str(PAPERBOY), *args],
            env={**self.env, **extra},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            child.wait(timeout=seconds)
            return False
        except subprocess.TimeoutExpired:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            return True

    def scalar(self, query: str) -> int:
        settings = Settings(home=self.home, database_url=self.database_url)
        engine = engine_from_settings(settings)
        with engine.connect() as connection:
            value = int(connection.execute(text(query)).scalar_one())
        engine.dispose()
        return value


def corpus(shared: Path, scratch: Path, papers: int) -> tuple[Path, set[str]]:
    lines = []
    for part in sorted((shared / "arxiv").glob("arxiv_api_*.jsonl")):
        lines += part.read_text().splitlines()
    lines = lines[:papers]
    path = scratch / "corpus.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path, {json.loads(line)["id"] for line in lines}


def index_is_whole(lab: Lab) -> str | None:
    """None when the index holds every searchable paper once, each with a vector, and no queue is left."""
    with_paper = lab.scalar("SELECT COUNT(*) FROM papers WHERE NOT withdrawn")
    queued = lab.scalar("SELECT COUNT(*) FROM index_queue") + lab.scalar("SELECT COUNT(*) FROM vector_queue")
    build = current_build(lab.home)
    if build is None:
        return "no live build"
    store = SearchStore(build, 384, writable=False)
    lexical = store.lexical.all_ids()
    searcher = store.lexical.index.searcher()
    if (
        searcher.num_docs != len(lexical)
        or len(lexical) != with_paper
        or len(store.vectors) != with_paper
        or queued
    ):
        return f"{searcher.num_docs} docs, {len(lexical)} ids, {len(store.vectors)} vectors, {with_paper} papers, {queued} queued"
    return None


def answers(lab: Lab) -> dict[str, list[str]]:
    settings = Settings(home=lab.home, database_url=lab.database_url)
    engine = engine_from_settings(settings)
    service = SearchService(session_factory(engine), lab.home, make_embedder(settings))
    found = {q: [h.paper.arxiv_id for h in service.search(SearchRequest(q, k=10)).hits] for q in QUERIES}
    engine.dispose()
    return found


def database(base: str, label: str) -> tuple[str, Any]:
    if not base:
        return "", None
    name = f"paperboy_kill_{label}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    return make_url(base).set(database=name).render_as_string(hide_password=False), admin


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=6, help="Kills per kind of job.")
    parser.add_argument("--papers", type=int, default=800)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--shared-data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    kills: Counter[str] = Counter()
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="paperboy-kill-") as scratch_dir:
        scratch = Path(scratch_dir)
        path, ids = corpus(args.shared_data, scratch, args.papers)
        reference_url, reference_admin = database(args.database_url, "ref")
        reference = Lab(scratch / "reference", reference_url, args.shared_data)
        daily = str(args.shared_data / "fixtures" / "hf_daily_papers" / "daily_papers.json")
        reference.run("init")
        reference.run("ingest", "jsonl", str(path), "-q")
        reference.run("ingest", "hf-daily", daily, "-q")
        reference.run("index", "-q")
        url, admin = database(args.database_url, "lab")
        lab = Lab(scratch / "lab", url, args.shared_data)
        lab.run("init")

        for n in range(args.kills):  # ingest, killed mid-file, then resumed
            if lab.kill_after(rng.uniform(0.3, 1.2), "ingest", "jsonl", str(path), "-q", "--force"):
                kills["ingest"] += 1
            print(
                f"ingest kill {n + 1}: {lab.scalar('SELECT COUNT(*) FROM papers')} papers so far", flush=True
            )
        lab.run("ingest", "jsonl", str(path), "-q", "--force")
        if lab.scalar("SELECT COUNT(*) FROM papers") != len(ids):
            problems.append(
                f"ingest: {lab.scalar('SELECT COUNT(*) FROM papers')} papers, {len(ids)} expected"
            )
        lab.run("ingest", "hf-daily", daily, "-q")  # the daily list the digests send

        for n in range(args.kills):  # index: keyword pass and vectors, killed anywhere
            if lab.kill_after(rng.uniform(1.0, 8.0), "index", "-q"):
                kills["index"] += 1
            print(
                f"index kill {n + 1}: {lab.scalar('SELECT COUNT(*) FROM embeddings')} vectors stored",
                flush=True,
            )
        lab.run("index", "-q")
        problems += [f"index: {p}" for p in [index_is_whole(lab)] if p]

        for n in range(args.kills):  # rebuild, killed while it fills a new build
            if lab.kill_after(rng.uniform(0.2, 1.5), "index", "--rebuild", "-q"):
                kills["rebuild"] += 1
            print(f"rebuild kill {n + 1}", flush=True)
        lab.run("index", "-q")
        problems += [f"rebuild: {p}" for p in [index_is_whole(lab)] if p]
        incremental, clean = answers(lab), answers(reference)
        overlap = sum(len(set(incremental[q]) & set(clean[q])) for q in QUERIES) / (10 * len(QUERIES))
        lab.run("index", "--rebuild", "-q")  # one rebuild that runs to the end
        leftovers = [p.name for p in (lab.home / "index").glob("build-*")]
        if len(leftovers) != 1:
            problems.append(f"rebuild: build folders left behind: {leftovers}")
        if answers(lab) != answers(reference):
            problems.append("search: after a completed rebuild, the answers differ from a clean run")

        smtp = SmtpServer().start()
        smtp.handler.delay = 0.05  # slow enough that kills land mid-batch
        settings = Settings(home=lab.home, database_url=url)
        engine = engine_from_settings(settings)
        service = DigestService(settings, session_factory(engine))
        emails = [f"reader{n:03d}@example.org" for n in range(120)]
        for email in emails:
            service.subscribe_confirmed(SubscriptionRequest(email))
        engine.dispose()
        extra = {"PAPERBOY_SMTP_PORT": str(smtp.port), "PAPERBOY_SMTP_TIMEOUT": "10"}
        noon = utcnow().replace(hour=12, minute=0, second=0, microsecond=0).isoformat()  # the digests are due
        send = ("digest", "send", "--frequency", "daily", "--now", noon)
        for n in range(args.kills):
            if lab.kill_after(rng.uniform(1.5, 5.0), *send, **extra):
                kills["digest"] += 1
            print(f"digest kill {n + 1}: {len(smtp.received)} messages received", flush=True)
        final = lab.run(*send, **extra)
        print(f"digest rerun: {final.stdout.strip()} {final.stderr.strip()[-300:]}", flush=True)
        per_address = Counter(r.rcpt_tos[0] for r in smtp.received)
        distinct = {
            r.rcpt_tos[0]: len({m.message_id for m in smtp.received if m.rcpt_tos == r.rcpt_tos})
            for r in smtp.received
        }
        smtp.stop()
        missing = [e for e in emails if e not in per_address]
        if missing or any(count != 1 for count in distinct.values()):
            problems.append(
                f"digest: {len(missing)} subscribers without a digest; {sum(c != 1 for c in distinct.values())} with more than one distinct Message-ID"
            )
        resent = sum(count - 1 for count in per_address.values())
        for admin_engine, lab_url in ((admin, url), (reference_admin, reference_url)):
            if admin_engine is not None:
                with admin_engine.connect() as connection:
                    connection.execute(
                        text(f'DROP DATABASE IF EXISTS "{make_url(lab_url).database}" WITH (FORCE)')
                    )
                admin_engine.dispose()
    results = {
        "benchmark": "kill -9 loop",
        "database": "postgresql" if args.database_url else "sqlite",
        "papers": args.papers,
        "kills": dict(kills),
        "kills_total": sum(kills.values()),
        "problems": problems,
        "lost_or_duplicated": len(problems),
        "digests_resent_with_the_same_message_id": resent,
        "top10_overlap_before_the_final_rebuild": round(overlap, 3),
    }
    print(json.dumps(results, indent=2))
    if not args.no_record:
        shown = ["--kills", str(args.kills), "--papers", str(args.papers)] + (
            ["--database-url", "<postgresql>"] if args.database_url else []
        )
        record(results, command_line(shown))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
