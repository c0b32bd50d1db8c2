"""Concurrent writers on one database, on PostgreSQL and SQLite: no deadlock, no lost update, no duplicate.

The main test runs what production runs at once: two `paperboy ingest jsonl` processes over overlapping
files of real arXiv records (some records revised differently in each file, so the merge rule decides),
`paperboy index` embedding with the real model while they write, and the web app (uvicorn, as in
production) taking sign-ups, upvotes and comments from several users on the very papers the ingests are
updating. Smaller tests aim two writers at the same rows in the same instant: the repository upsert, and
one user's vote toggled from many requests at once.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

import paperboy.db.repositories.papers as papers_repository
from paperboy.accounts.users import issue_api_token
from paperboy.config import Settings
from paperboy.db.engine import begin_write, transaction
from paperboy.db.models import Comment, Embedding, IndexQueue, Paper, User, Vote
from paperboy.db.records import PaperRecord
from paperboy.db.repositories.papers import UpsertCounts, upsert_papers
from paperboy.db.repositories.queue import pending_count
from paperboy.ingest.mapping import map_record
from paperboy.search.embedder import document_text
from paperboy.search.indexer import content_hash
from paperboy.web.app import create_app
from search_support import MemoizingEmbedder
from web_support import PASSWORD, open_signup_link, running_server, signup_link

pytestmark = pytest.mark.slow

PAPERBOY = Path(sys.executable).parent / "paperboy"
SOURCE = "arxiv/arxiv_api_2023-2025.part01.jsonl"
# Records [0, 160) go to process A and [80, 240) to process B: 80 papers both write, 240 in all (kept
# small because the indexer embeds every one with the real model).
A_RANGE, B_RANGE = range(0, 160), range(80, 240)
USERS = 6
TARGETS = 6  # overlap papers the users vote on and comment on while the ingests update them
MIN_ROUNDS, MAX_ROUNDS = 3, 40
PROCESS_TIMEOUT = 150.0
ABSTRACT_CHARS = 300
MARKERS = {"A": "ingestalpha", "B": "ingestbeta"}  # words no real title has, to find revisions by search
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


# --- data -------------------------------------------------------------------------------------------------


def _version(data: dict[str, Any]) -> int:
    return int(str(data["version"]).lstrip("v"))


def _revised(data: dict[str, Any], writer: str, bump: int) -> dict[str, Any]:
    """The record revised by one writer: a later version whose title carries the writer's marker word."""
    return {**data, "version": f"v{_version(data) + bump}", "title": f"{data['title']} [{MARKERS[writer]}]"}


@dataclass
class Corpus:
    """The two input files and what the database must hold once both are ingested, in any interleaving."""

    a: Path
    b: Path
    originals: dict[str, dict[str, Any]]
    expected: dict[str, PaperRecord]
    """The record the merge rule must leave for each paper (the higher version wins)."""
    overlap: list[str]
    targets: list[str]


def build_corpus(shared_data: Path, directory: Path) -> Corpus:
    lines = (shared_data / SOURCE).read_text().splitlines()[: max(B_RANGE) + 1]
    # Real records, abstracts cut to their start: the real model embeds them 4x faster.
    rows = [{**data, "abstract": data["abstract"][:ABSTRACT_CHARS]} for data in map(json.loads, lines)]
    a_rows = {n: rows[n] for n in A_RANGE}
    b_rows = {n: rows[n] for n in B_RANGE}
    overlap = sorted(set(A_RANGE) & set(B_RANGE))
    for k, n in enumerate(overlap):
        if k % 3 == 0:  # A has the newer revision
            a_rows[n], b_rows[n] = _revised(rows[n], "A", 2), _revised(rows[n], "B", 1)
        elif k % 3 == 1:  # B has the newer revision
            a_rows[n], b_rows[n] = _revised(rows[n], "A", 1), _revised(rows[n], "B", 2)
        # k % 3 == 2: both files carry the same record
    expected: dict[str, PaperRecord] = {}
    for n in sorted(set(A_RANGE) | set(B_RANGE)):
        candidates = [r[n] for r in (a_rows, b_rows) if n in r]
        expected[rows[n]["id"]] = map_record(max(candidates, key=_version), "jsonl")
    # Both processes start on the papers they share, in opposite orders, so their batches collide.
    a_order = overlap + [n for n in A_RANGE if n not in b_rows]
    b_order = overlap[::-1] + [n for n in B_RANGE if n not in a_rows]
    a_path, b_path = directory / "a.jsonl", directory / "b.jsonl"
    a_path.write_text("".join(json.dumps(a_rows[n]) + "\n" for n in a_order))
    b_path.write_text("".join(json.dumps(b_rows[n]) + "\n" for n in b_order))
    overlap_ids = [rows[n]["id"] for n in overlap]
    return Corpus(
        a=a_path,
        b=b_path,
        originals={rows[n]["id"]: rows[n] for n in sorted(set(A_RANGE) | set(B_RANGE))},
        expected=expected,
        overlap=overlap_ids,
        targets=overlap_ids[:TARGETS],
    )


# --- the web app, served for real -------------------------------------------------------------------------


@contextmanager
def serve(settings: Settings, embedder: MemoizingEmbedder) -> Iterator[str]:
    """The app on uvicorn in a thread (its worker threads handle requests concurrently); yields its URL."""
    app = create_app(settings, embedder=embedder)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        with running_server(app, sock):
            yield base


def web_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"rate_limit_auth": 10_000, "rate_limit_write": 100_000})


def sign_up(client: httpx.Client, username: str, outbox: Path) -> str:
    """A new account through the sign-up form; the client is signed in. Returns the CSRF token."""
    page = client.get("/signup")
    match = _CSRF.search(page.text)
    assert match, page.text[:500]
    token = match.group(1)
    response = client.post(
        "/signup",
        data={
            "csrf_token": token,
            "email": f"{username}@example.org",
            "username": username,
            "password": PASSWORD,
        },
    )
    assert response.status_code == 200, response.text[:500]
    confirm = open_signup_link(client, signup_link(client, f"{username}@example.org", outbox))
    assert confirm.status_code == 303, confirm.text[:500]
    signed_in = _CSRF.search(client.get("/account").text)  # signing up starts a session with its own token
    assert signed_in
    return signed_in.group(1)


def toggle_vote(client: httpx.Client, token: str, arxiv_id: str) -> httpx.Response:
    return client.post(
        f"/papers/{arxiv_id}/upvote", headers={"X-CSRF-Token": token, "Accept": "application/json"}
    )


@dataclass
class WebLog:
    """What the web users did, for the assertions (threads only append)."""

    comments: list[tuple[str, str]] = field(default_factory=list)
    writes_during_ingest: int = 0
    writes: int = 0
    problems: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wrote(self, during: bool) -> None:
        with self.lock:
            self.writes += 1
            self.writes_during_ingest += during


@dataclass
class WebUser:
    """One signed-in person (signed up before the ingests start, so every write of theirs can overlap)."""

    n: int
    client: httpx.Client
    token: str


def signed_up_users(base: str, outbox: Path, count: int) -> list[WebUser]:
    users = []
    for n in range(count):
        client = httpx.Client(base_url=base, timeout=60)
        users.append(WebUser(n, client, sign_up(client, f"user{n}", outbox)))
    return users


def web_user(user: WebUser, targets: list[str], ingesting: Callable[[], bool], log: WebLog) -> None:
    """One person votes (toggling) and comments on the targets until the ingests end."""
    n, token, client = user.n, user.token, user.client
    try:
        order = targets[n % len(targets) :] + targets[: n % len(targets)]
        voted = dict.fromkeys(targets, False)
        rounds = 0
        while rounds < MIN_ROUNDS or (ingesting() and rounds < MAX_ROUNDS):
            for arxiv_id in order:
                during = ingesting()
                response = toggle_vote(client, token, arxiv_id)
                if response.status_code != 200 or response.json()["upvoted"] is voted[arxiv_id]:
                    log.problems.append(
                        f"user{n} vote {arxiv_id}: {response.status_code} {response.text[:200]}"
                    )
                    return
                voted[arxiv_id] = not voted[arxiv_id]
                log.wrote(during)
            arxiv_id = order[rounds % len(order)]
            body = f"comment {rounds} of user{n}"
            during = ingesting()
            response = client.post(f"/papers/{arxiv_id}/comments", data={"csrf_token": token, "body": body})
            if response.status_code != 303:
                log.problems.append(f"user{n} comment: {response.status_code} {response.text[:200]}")
                return
            log.comments.append((arxiv_id, body))
            log.wrote(during)
            rounds += 1
        for arxiv_id in order:  # end with every user's vote on every target
            if not voted[arxiv_id]:
                response = toggle_vote(client, token, arxiv_id)
                if response.status_code != 200 or response.json()["upvoted"] is not True:
                    log.problems.append(f"user{n} final vote {arxiv_id}: {response.status_code}")
                    return
    except Exception as exc:  # reported by the test, not lost in the thread
        log.problems.append(f"user{n}: {type(exc).__name__}: {exc}")
    finally:
        client.close()


# --- processes --------------------------------------------------------------------------------------------


@pytest.fixture
def spawn() -> Iterator[Callable[[list[str], dict[str, str]], subprocess.Popen[str]]]:
    """Starts `paperboy` processes; any still running when the test ends (it failed) is killed."""
    started: list[subprocess.Popen[str]] = []

    def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [str(PAPERBOY), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate()


def finish(process: subprocess.Popen[str], name: str, deadline: float) -> str:
    """Wait for a process (bounded: a deadlock fails the test instead of hanging it); return its stdout."""
    try:
        stdout, stderr = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        pytest.fail(f"{name} did not finish in time (deadlock?): {stdout[-2000:]} {stderr[-2000:]}")
    assert process.returncode == 0, f"{name} exited {process.returncode}: {stdout[-2000:]} {stderr[-3000:]}"
    return stdout


@contextmanager
def start_gate(sessions: sessionmaker[Session], db_url: str) -> Iterator[Callable[[list[int]], None]]:
    """Hold back every paper write until the given processes all wait at it, then let them go at once.

    Process start-up takes seconds and varies, so without this one ingest may finish before the other
    begins. PostgreSQL: an EXCLUSIVE lock on `papers` (plain reads pass, row locks wait); SQLite: the
    write lock. Yields `open_when_waiting(pids)`.
    """
    with sessions() as gate:
        if db_url.startswith("postgresql"):
            gate.execute(text("LOCK TABLE papers IN EXCLUSIVE MODE"))
        else:
            begin_write(gate)

        def open_when_waiting(pids: list[int]) -> None:
            deadline = time.monotonic() + 60
            while not _waiting_at_gate(sessions, db_url, pids):
                assert time.monotonic() < deadline, "the processes never reached the database"
                time.sleep(0.05)
            gate.rollback()

        yield open_when_waiting
        gate.rollback()


def _waiting_at_gate(sessions: sessionmaker[Session], db_url: str, pids: list[int]) -> bool:
    if db_url.startswith("postgresql"):
        with sessions() as session:
            waiting = session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND query LIKE '%FOR NO KEY UPDATE%'"
                )
            )
        return (waiting or 0) >= len(pids)
    # SQLite: both have the database open (reads pass the gate; their first write waits in busy_timeout).
    database = Path(db_url.removeprefix("sqlite:///")).resolve()
    for pid in pids:
        try:
            files = {os.path.realpath(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        except FileNotFoundError:
            return True  # it already exited: its exit status tells why
        if str(database) not in files:
            return False
    time.sleep(0.5)  # from opening the database to its first write: parsing the first batch
    return True


# --- the tests --------------------------------------------------------------------------------------------


def test_two_ingests_indexer_and_web_at_once(
    db_url: str,
    shared_data: Path,
    tmp_path: Path,
    cli_env: dict[str, str],
    settings: Settings,
    sessions: sessionmaker[Session],
    embedder: MemoizingEmbedder,
    spawn: Callable[[list[str], dict[str, str]], subprocess.Popen[str]],
) -> None:
    corpus = build_corpus(shared_data, tmp_path)
    # The papers people vote on exist before the ingests start (and give the indexer work from its start).
    with transaction(sessions) as session:
        upsert_papers(session, [map_record(corpus.originals[i], "jsonl") for i in corpus.targets])
    env = {
        **cli_env,
        "HF_HUB_OFFLINE": "1",
        "PAPERBOY_INGEST_BATCH_SIZE": "10",  # many small transactions interleave
        "PAPERBOY_INDEX_BATCH_SIZE": "8",
        "PAPERBOY_INDEX_FLUSH_EVERY": "8",  # the indexer acknowledges while the ingests re-enqueue
    }
    log = WebLog()
    assert settings.mail_outbox is not None
    outbox = Path(settings.mail_outbox)
    started = time.monotonic()
    with serve(web_settings(settings), embedder) as base:
        people = signed_up_users(base, outbox, USERS)
        with start_gate(sessions, db_url) as open_gate:
            # Each ingest reads its file three times (--force): later passes merge into what the other wrote.
            ingests = {
                name: spawn(["ingest", "jsonl", "--json", "--force", str(path), str(path), str(path)], env)
                for name, path in (("ingest A", corpus.a), ("ingest B", corpus.b))
            }
            indexer = spawn(["index", "--quiet"], env)
            open_gate([process.pid for process in ingests.values()])

        def ingesting() -> bool:
            return any(process.poll() is None for process in ingests.values())

        users = [
            threading.Thread(target=web_user, args=(person, corpus.targets, ingesting, log), daemon=True)
            for person in people
        ]
        for user in users:
            user.start()
        deadline = started + PROCESS_TIMEOUT
        outputs = {name: finish(process, name, deadline) for name, process in ingests.items()}
        for user in users:
            user.join(timeout=max(1.0, deadline - time.monotonic()))
            assert not user.is_alive(), "a web user is stuck (deadlock?)"
        indexer_output = finish(indexer, "index (concurrent)", deadline)
        assert not log.problems, log.problems
        assert log.writes_during_ingest > 0, "no web write overlapped the ingests: the test proves nothing"

        final = subprocess.run(
            [str(PAPERBOY), "index", "--quiet"], env=env, capture_output=True, text=True, timeout=120
        )
        assert final.returncode == 0, final.stdout + final.stderr
        assert "0 still queued" in final.stdout, final.stdout

        # No duplicate, none missing: each paper created exactly once, by one of the writers.
        summaries = [s for out in outputs.values() for s in json.loads(out)]
        assert all(s["rejected"] == 0 for s in summaries), summaries
        with sessions() as session:
            rows = {p.arxiv_id: p for p in session.scalars(select(Paper))}
            assert session.scalar(select(func.count()).select_from(Paper)) == len(corpus.expected)
            assert pending_count(session) == 0
        assert sorted(rows) == sorted(corpus.expected)
        assert sum(s["new"] for s in summaries) == len(corpus.expected) - len(corpus.targets)
        created_by_a = summaries[0]["new"] - (len(A_RANGE) - len(corpus.overlap))
        if db_url.startswith("postgresql"):  # (SQLite's single write lock is not fair: one may run first)
            assert 0 < created_by_a < len(corpus.overlap) - len(corpus.targets), (
                "the ingests did not interleave"
            )

        # No lost update: whichever process wrote last, every paper holds the newer revision.
        wrong = [
            (arxiv_id, rows[arxiv_id].version, rows[arxiv_id].title)
            for arxiv_id, record in corpus.expected.items()
            if (rows[arxiv_id].version, rows[arxiv_id].title, rows[arxiv_id].abstract)
            != (record.version, record.title, record.abstract)
        ]
        assert not wrong, f"{len(wrong)} papers lost the newer revision, e.g. {wrong[:3]}"
        winners = {
            writer: {i for i in corpus.overlap if marker in corpus.expected[i].title}
            for writer, marker in MARKERS.items()
        }
        shared = len(corpus.overlap)
        assert (len(winners["A"]), len(winners["B"])) == (len(range(0, shared, 3)), len(range(1, shared, 3)))

        # Every vote and comment counted exactly once.
        with sessions() as session:
            assert session.scalar(select(func.count()).select_from(User)) == USERS
            assert session.scalar(select(func.count()).select_from(Vote)) == USERS * len(corpus.targets)
            assert session.scalar(select(func.count()).select_from(Comment)) == len(log.comments)
        with httpx.Client(base_url=base, timeout=60) as client:
            for arxiv_id in corpus.targets:
                details = client.get(f"/api/papers/{arxiv_id}").json()
                assert details["upvotes"] == USERS, details
                posted = sum(1 for target, _ in log.comments if target == arxiv_id)
                assert details["numComments"] == posted, details

            # The index reflects the final metadata: each paper's final title finds it first, and every
            # stored vector was computed from the final text (no stale entry survived the interleaving).
            sample = corpus.overlap + list(corpus.expected)[:: len(corpus.expected) // 10]
            for arxiv_id in sample:
                title = corpus.expected[arxiv_id].title
                hits = client.get("/api/papers/search", params={"q": title, "mode": "lexical", "limit": 3})
                assert hits.status_code == 200, hits.text
                top = hits.json()[0]
                assert top["paper"]["id"] == arxiv_id, (title, top)
            # The lexical index holds each paper's final title: each writer's marker finds exactly the
            # papers whose newest revision came from that writer, none indexed from the older one.
            for writer, marker in MARKERS.items():
                hits = client.get("/api/papers/search", params={"q": marker, "mode": "lexical", "limit": 100})
                assert {hit["paper"]["id"] for hit in hits.json()} == winners[writer], writer
            hybrid = client.get("/api/papers/search", params={"q": corpus.expected[corpus.overlap[0]].title})
            assert hybrid.json()[0]["paper"]["id"] == corpus.overlap[0]
    assert f"index holds {len(corpus.expected)} papers" in final.stdout, final.stdout
    with sessions() as session:
        hashes = {
            pid: value for pid, value in session.execute(select(Embedding.paper_id, Embedding.content_hash))
        }
    for paper in rows.values():
        text = document_text(paper.title, paper.abstract)
        assert hashes.get(paper.id) == content_hash(embedder.signature, text), paper.arxiv_id
    print(
        f"\n{db_url.split(':')[0]}: ingest A created {created_by_a} of the {len(corpus.overlap)} shared papers; "
        f"{log.writes} web writes ({log.writes_during_ingest} during the ingests); concurrent indexer: "
        f"{indexer_output.strip()}; {time.monotonic() - started:.1f} s"
    )


def _records(ids: range, version: int, tag: str) -> list[PaperRecord]:
    return [
        PaperRecord(
            arxiv_id=f"2401.{n:05d}",
            title=f"Paper {n}, {tag} version {version}",
            abstract=f"Abstract of paper {n} as revised by {tag}.",
            source="test",
            version=version,
        )
        for n in ids
    ]


def _race(
    sessions: sessionmaker[Session], writers: dict[str, Callable[[int], list[PaperRecord]]], rounds: int
) -> dict[str, UpsertCounts]:
    """Each round, every writer upserts its batch in its own transaction, all starting at the same instant."""
    barrier = threading.Barrier(len(writers))
    counts: dict[str, UpsertCounts] = {name: UpsertCounts() for name in writers}
    errors: list[str] = []

    def run(name: str) -> None:
        for round_number in range(rounds):
            records = writers[name](round_number)
            barrier.wait(timeout=60)
            try:
                with transaction(sessions) as session:
                    counts[name].add(upsert_papers(session, records))
            except Exception as exc:
                errors.append(f"{name}, round {round_number}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=run, args=(name,), daemon=True) for name in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "an upsert is stuck (deadlock?)"
    assert not errors, errors[:3]
    return counts


def test_concurrent_upserts_of_the_same_new_papers_leave_one_row_each(
    sessions: sessionmaker[Session],
) -> None:
    """Two transactions insert the same new papers at the same instant (opposite orders, different
    versions): one row per paper, the higher version on it, each counted new exactly once."""
    rounds, size = 15, 20

    def batch(version: int, tag: str, reverse: bool) -> Callable[[int], list[PaperRecord]]:
        def make(round_number: int) -> list[PaperRecord]:
            records = _records(range(round_number * size, (round_number + 1) * size), version, tag)
            return records[::-1] if reverse else records

        return make

    counts = _race(sessions, {"A": batch(2, "A", False), "B": batch(1, "B", True)}, rounds)
    total = rounds * size
    assert counts["A"].new + counts["B"].new == total
    with sessions() as session:
        papers = list(session.scalars(select(Paper)))
        queued = session.scalar(select(func.count()).select_from(IndexQueue))
    assert len(papers) == len({p.arxiv_id for p in papers}) == total
    assert all(p.version == 2 and "A version 2" in p.title for p in papers)
    assert queued == total


def test_concurrent_updates_are_not_lost(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two transactions revise the same papers at once, the older revision in one and the newer in the
    other: the newer one stays, whichever commits last (reads are slowed to widen the race window)."""
    total, size = 200, 20
    with transaction(sessions) as session:
        upsert_papers(session, _records(range(total), 1, "seed"))
    load = papers_repository.load_papers

    def slow_load(*args: Any, **kwargs: Any) -> dict[str, Paper]:
        found = load(*args, **kwargs)
        time.sleep(0.01)
        return found

    monkeypatch.setattr(papers_repository, "load_papers", slow_load)

    def batch(version: int, tag: str, reverse: bool) -> Callable[[int], list[PaperRecord]]:
        def make(round_number: int) -> list[PaperRecord]:
            records = _records(range(round_number * size, (round_number + 1) * size), version, tag)
            return records[::-1] if reverse else records

        return make

    _race(sessions, {"new": batch(3, "new", False), "old": batch(2, "old", True)}, total // size)
    with sessions() as session:
        papers = list(session.scalars(select(Paper)))
    lost = [p.arxiv_id for p in papers if p.version != 3 or "new version 3" not in p.title]
    assert len(papers) == total
    assert not lost, f"{len(lost)} papers lost the newer revision"


def test_one_users_vote_from_many_requests_at_once(
    settings: Settings, sessions: sessionmaker[Session], embedder: MemoizingEmbedder
) -> None:
    """The same user toggles, sets and withdraws one vote from many requests at the same instant: never a
    500, never two votes, and the count the API shows matches the database."""
    with transaction(sessions) as session:
        upsert_papers(session, _records(range(1), 1, "seed"))
    arxiv_id = "2401.00000"
    with serve(web_settings(settings), embedder) as base, httpx.Client(base_url=base, timeout=60) as client:
        assert settings.mail_outbox is not None
        token = sign_up(client, "racer", Path(settings.mail_outbox))
        with transaction(sessions) as session:
            user = session.scalar(select(User).where(User.username == "racer"))
            assert user is not None
            api_token = issue_api_token(user)
        bearer = {"Authorization": f"Bearer {api_token}"}
        cookies = dict(client.cookies)

        def votes() -> int:
            with sessions() as session:
                return session.scalar(select(func.count()).select_from(Vote)) or 0

        def burst(
            request: Callable[[httpx.Client, int], httpx.Response], threads: int = 8, each: int = 6
        ) -> list[dict[str, Any]]:
            """`threads` clients send `each` requests, all starting at the same instant."""
            barrier = threading.Barrier(threads)
            responses: list[httpx.Response | Exception] = []

            def run(worker: int) -> None:
                with httpx.Client(base_url=base, timeout=60, cookies=cookies) as own:
                    barrier.wait(timeout=30)
                    for _ in range(each):
                        try:
                            responses.append(request(own, worker))
                        except Exception as exc:
                            responses.append(exc)

            workers = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(timeout=60)
                assert not worker.is_alive(), "a vote request is stuck (deadlock?)"
            bad = [r for r in responses if isinstance(r, Exception) or r.status_code != 200]
            assert not bad, [r if isinstance(r, Exception) else (r.status_code, r.text[:200]) for r in bad]
            return [r.json() for r in responses if isinstance(r, httpx.Response)]

        toggled = burst(lambda c, _: toggle_vote(c, token, arxiv_id))
        assert all(r["upvotes"] in (0, 1) for r in toggled)
        assert votes() in (0, 1)
        assert client.get(f"/api/papers/{arxiv_id}").json()["upvotes"] == votes()

        upvoted = burst(lambda c, _: c.post(f"/api/papers/{arxiv_id}/upvote", headers=bearer))
        assert all(r["upvoted"] is True and r["upvotes"] == 1 for r in upvoted), upvoted
        assert votes() == 1

        mixed = burst(
            lambda c, worker: (
                c.post(f"/api/papers/{arxiv_id}/upvote", headers=bearer)
                if worker % 2
                else toggle_vote(c, token, arxiv_id)
            )
        )
        assert all(r["upvotes"] in (0, 1) for r in mixed)
        assert votes() in (0, 1)

        withdrawn = burst(lambda c, _: c.delete(f"/api/papers/{arxiv_id}/upvote", headers=bearer))
        assert all(r["upvoted"] is False and r["upvotes"] == 0 for r in withdrawn), withdrawn
        assert votes() == 0
        assert client.get(f"/api/papers/{arxiv_id}").json()["upvotes"] == 0
