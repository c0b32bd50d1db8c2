"""A bounded load test: many clients for a minute against a real `paperboy serve` on 127.0.0.1, mixing
page and API reads with authenticated writes (upvotes and their withdrawal), on SQLite or PostgreSQL.

    .venv/bin/python bench/bench_load.py --clients 100 --seconds 60
    .venv/bin/python bench/bench_load.py --clients 100 --seconds 60 --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres

Reports requests per second, p50/p99 latency per kind, every status code seen (server errors must be
0), and checks the vote totals exactly: each client remembers what it last did on each paper, and the
database must hold precisely those votes. The rate limits are raised for the run (they would turn a
single-address load test into 429s); everything else is the default configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent))
from records import command_line, record

from paperboy.accounts.users import create_user, issue_api_token
from paperboy.config import Settings
from paperboy.db.engine import engine_from_settings, session_factory
from paperboy.db.migrate import upgrade
from paperboy.db.models import Vote
from paperboy.db.repositories.search_docs import all_titles
from paperboy.ingest.runner import run_ingest
from paperboy.ingest.sources.files import JsonLinesSource
from paperboy.ingest.sources.hf_daily import HfDailySource

REPO = Path(__file__).resolve().parent.parent
PAPERBOY = Path(sys.executable).parent / "paperboy"
SEARCHES = [
    "diffusion policy",
    "retrieval augmented generation",
    "contrastive loss",
    "graph neural network",
    "llm agents",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(home: Path, database_url: str, shared: Path, clients: int) -> tuple[list[str], list[str]]:
    """A library (the daily list plus 600 papers), indexed, and one account with an API token per client."""
    settings = Settings(home=home, database_url=database_url, shared_data=shared)
    engine = engine_from_settings(settings)
    upgrade(engine)
    sessions = session_factory(engine)
    run_ingest(sessions, HfDailySource(str(shared / "fixtures" / "hf_daily_papers" / "daily_papers.json")))
    part = home / "sample.jsonl"
    part.write_text(
        "\n".join((shared / "arxiv" / "arxiv_api_2023-2025.part01.jsonl").read_text().splitlines()[:600])
        + "\n"
    )
    run_ingest(sessions, JsonLinesSource(part))
    tokens = []
    with sessions() as session, session.begin():
        for n in range(clients):
            user = create_user(session, f"load{n}@example.org", f"load{n}", f"a long passphrase {n} for load")
            tokens.append(issue_api_token(user))
    with sessions() as session:
        ids = [arxiv_id for arxiv_id, _ in all_titles(session)]
    engine.dispose()
    return tokens, ids


async def client_loop(
    number: int,
    base: str,
    token: str,
    papers: list[str],
    until: float,
    samples: dict[str, list[float]],
    statuses: Counter[str],
    votes: dict[tuple[int, str], bool],
) -> None:
    rng = random.Random(number)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        while time.monotonic() < until:
            kind = rng.choices(["page", "api", "search", "vote"], weights=[3, 3, 2, 2])[0]
            paper = rng.choice(papers)
            started = time.perf_counter()
            try:
                if kind == "page":
                    response = await client.get(rng.choice(["/", "/trending", f"/papers/{paper}"]))
                elif kind == "api":
                    response = await client.get(
                        rng.choice(["/api/daily_papers?date=2024-10-25", f"/api/papers/{paper}"])
                    )
                elif kind == "search":
                    response = await client.get("/api/papers/search", params={"q": rng.choice(SEARCHES)})
                else:
                    wanted = rng.random() < 0.6
                    method = client.post if wanted else client.delete
                    response = await method(f"/api/papers/{paper}/upvote", headers=headers)
                    if response.status_code == 200:
                        votes[(number, paper)] = bool(response.json()["upvoted"])
            except httpx.HTTPError as exc:
                statuses[f"error:{type(exc).__name__}"] += 1
                continue
            samples[kind].append((time.perf_counter() - started) * 1000)
            statuses[str(response.status_code)] += 1


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument(
        "--database-url", default="", help="PostgreSQL server URL (a fresh database is made on it)."
    )
    parser.add_argument("--shared-data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="paperboy-load-") as scratch:
        home = Path(scratch)
        database_url, admin = "", None
        if args.database_url:
            name = f"paperboy_load_{uuid.uuid4().hex[:8]}"
            admin = create_engine(args.database_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
            database_url = (
                make_url(args.database_url).set(database=name).render_as_string(hide_password=False)
            )
        tokens, papers = prepare(home, database_url, args.shared_data, args.clients)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")}
        env.update(
            PAPERBOY_HOME=str(home),
            PAPERBOY_DATABASE_URL=database_url,
            PAPERBOY_DIGEST_INTERVAL="0",
            PAPERBOY_RATE_LIMIT_WRITE="100000000",
            PAPERBOY_RATE_LIMIT_AUTH="100000000",
            HF_HUB_OFFLINE="1",
        )
        assert subprocess.run([str(PAPERBOY), "index", "-q"], env=env, capture_output=True).returncode == 0
        server = subprocess.Popen(
            [str(PAPERBOY), "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            samples: dict[str, list[float]] = defaultdict(list)
            statuses: Counter[str] = Counter()
            votes: dict[tuple[int, str], bool] = {}
            started = time.monotonic()
            until = started + args.seconds

            async def everyone() -> None:
                await asyncio.gather(
                    *(
                        client_loop(n, base, tokens[n], papers, until, samples, statuses, votes)
                        for n in range(args.clients)
                    )
                )

            asyncio.run(everyone())
            elapsed = time.monotonic() - started
        finally:
            server.terminate()
            _, errors = server.communicate(timeout=30)
        settings = Settings(home=home, database_url=database_url)
        engine = engine_from_settings(settings)
        with session_factory(engine)() as session:
            stored = int(session.scalar(select(func.count()).select_from(Vote)) or 0)
        engine.dispose()
        if admin is not None:
            with admin.connect() as connection:
                connection.execute(
                    text(f'DROP DATABASE IF EXISTS "{make_url(database_url).database}" WITH (FORCE)')
                )
            admin.dispose()
    expected = sum(votes.values())
    total = sum(len(v) for v in samples.values())
    results: dict[str, Any] = {
        "benchmark": "load",
        "database": "postgresql" if args.database_url else "sqlite",
        "clients": args.clients,
        "seconds": round(elapsed, 1),
        "requests": total,
        "requests_per_s": round(total / elapsed, 1),
        "latency_ms": {
            kind: {
                "p50": round(float(np.percentile(v, 50)), 1),
                "p99": round(float(np.percentile(v, 99)), 1),
                "n": len(v),
            }
            for kind, v in sorted(samples.items())
        },
        "statuses": dict(sorted(statuses.items())),
        "server_errors": sum(count for status, count in statuses.items() if status.startswith("5")),
        "votes_expected": expected,
        "votes_stored": stored,
        "votes_exact": expected == stored,
        "tracebacks_in_server_log": errors.decode(errors="replace").count("Traceback"),
    }
    print(json.dumps(results, indent=2))
    if not args.no_record:
        record(
            results,
            command_line(
                ["--clients", str(args.clients), "--seconds", str(args.seconds)]
                + (["--database-url", "<postgresql>"] if args.database_url else [])
            ),
        )


if __name__ == "__main__":
    main()
