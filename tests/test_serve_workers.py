"""`paperboy serve --workers N`: several processes answer on one port, stop together, and keep the rate
limits to what is configured (each process enforces its share)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from mail_support import free_port
from paperboy.cli import app as cli_app
from paperboy.config import Settings
from paperboy.web.app import create_app
from paperboy.web.security import worker_share

PAPERBOY = Path(sys.executable).parent / "paperboy"


@pytest.mark.parametrize("workers", ["0", "33"])
def test_a_worker_count_out_of_range_is_refused(cli: CliRunner, workers: str) -> None:
    result = cli.invoke(cli_app, ["serve", "--workers", workers])
    assert result.exit_code == 2 and f"--workers must be between 1 and 32, got {workers}" in result.output


def test_workers_together_allow_no_more_than_the_limit(settings: Settings) -> None:
    assert [worker_share(10, n) for n in (1, 2, 3, 4)] == [10, 5, 3, 2]
    assert worker_share(1, 4) == 1, "a limit is never turned into a ban"
    for workers in (1, 3):
        limiters = create_app(settings, workers=workers).state.web.limiters
        assert limiters["write"].limit * workers <= settings.rate_limit_write
        assert limiters["auth"].limit * workers <= settings.rate_limit_auth
        assert limiters["account"].limit * workers <= settings.rate_limit_auth
    assert create_app(settings).state.web.limiters["write"].limit == settings.rate_limit_write


def _worker_pids(parent: int) -> list[int]:
    """Children of `parent` that are uvicorn workers (multiprocessing's spawned processes)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return [int(pid) for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def test_two_workers_answer_on_one_port_and_stop_together(cli: CliRunner, cli_env: dict[str, str]) -> None:
    assert cli.invoke(cli_app, ["init"]).exit_code == 0
    port = free_port()
    env = {**cli_env, "PAPERBOY_PORT": str(port), "HF_HUB_OFFLINE": "1", "PAPERBOY_DIGEST_INTERVAL": "0"}
    server = subprocess.Popen(
        [str(PAPERBOY), "serve", "--workers", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        workers = _wait_until_both_serve(server, port)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            for _ in range(6):  # new connections each: the kernel hands them to either worker
                response = client.get(
                    "/api/papers/search", params={"q": "diffusion"}, headers={"Connection": "close"}
                )
                assert response.status_code == 200 and response.json() == []
            assert client.get("/api/papers").status_code == 200
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        output = server.stdout.read().decode()  # type: ignore[union-attr]
        assert output.count("Application startup complete") == 2, output
        for pid in workers:
            assert (
                not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
            )
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def _start_workers(
    cli: CliRunner, cli_env: dict[str, str], port: int
) -> tuple[subprocess.Popen[bytes], list[int]]:
    assert cli.invoke(cli_app, ["init"]).exit_code == 0
    env = {**cli_env, "PAPERBOY_PORT": str(port), "HF_HUB_OFFLINE": "1", "PAPERBOY_DIGEST_INTERVAL": "0"}
    server = subprocess.Popen(
        [str(PAPERBOY), "serve", "--workers", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    return server, _wait_until_both_serve(server, port)


def _wait_until_both_serve(server: subprocess.Popen[bytes], port: int) -> list[int]:
    """The two workers' pids, once each listens (a worker loads the app first, then takes connections)."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        workers = _worker_pids(server.pid)
        if len(workers) == 2 and all(_sockets(pid, port, "0A") for pid in workers):
            assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
            return workers
        assert server.poll() is None, server.stdout.read().decode()  # type: ignore[union-attr]
        time.sleep(0.2)
    server.kill()  # its workers end with it (they are told to when their parent dies)
    server.wait()
    raise AssertionError("the workers did not start")


def _sockets(pid: int, port: int, state: str) -> list[str]:
    """Inodes of the TCP sockets a process holds on the local `port` in `state` (01 established, 0A
    listening), from /proc."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = str(fd.readlink()) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == state and fields[9] in inodes:
                found.append(fields[9])
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT balancing is Linux's")
def test_keep_alive_connections_are_spread_over_the_workers_and_a_dead_worker_is_replaced(
    cli: CliRunner, cli_env: dict[str, str]
) -> None:
    """With one shared listening socket, whichever worker woke first accepted every waiting connection:
    at 1M papers one of two workers held three quarters of 8 clients' connections and limited them all.
    Each worker now has a socket of its own on the port, and the kernel spreads connections over them."""
    port = free_port()
    server, workers = _start_workers(cli, cli_env, port)
    clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) for _ in range(16)]
    try:
        listening = [_sockets(pid, port, "0A") for pid in workers]
        assert all(len(own) == 1 for own in listening) and listening[0] != listening[1], listening
        for client in clients:
            assert client.get("/healthz").status_code == 200  # each keeps its connection open
        held = [len(_sockets(pid, port, "01")) for pid in workers]
        assert sum(held) == 16 and min(held) >= 1, held  # all on one worker by chance: odds 2 in 65,536
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            replaced = _worker_pids(server.pid)
            if len(replaced) == 2 and workers[0] not in replaced:
                break
            time.sleep(0.2)
        assert len(replaced) == 2 and workers[0] not in replaced, replaced
        for _ in range(20):  # new connections: none waits on the dead worker's socket
            assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code == 200
        server.kill()  # no clean-up runs: the workers must end by themselves, not go on serving
        server.wait()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not all(map(_ended, replaced)):
            time.sleep(0.2)
        assert all(map(_ended, replaced)), replaced
    finally:
        for client in clients:
            client.close()
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)


def _ended(pid: int) -> bool:
    """Whether a process has exited (gone, or a zombie nobody has reaped yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def failing_app() -> None:
    """An app factory that fails as a broken data dir would (imported by the spawned workers)."""
    raise RuntimeError("the index files are unreadable")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT balancing is Linux's")
def test_workers_whose_app_cannot_load_stop_the_server_instead_of_restarting_forever() -> None:
    script = (
        "import sys; from paperboy.web.supervisor import Supervisor; "
        f"sys.exit(Supervisor('test_serve_workers:failing_app', 2, "
        f"{{'host': '127.0.0.1', 'port': {free_port()}, 'log_level': 'info'}}).run())"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).parent,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
    )
    assert result.returncode == 1, result.stderr
    assert "the app could not be loaded: RuntimeError: the index files are unreadable" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT balancing is Linux's")
@pytest.mark.parametrize("shared", [False, True], ids=["another program", "another server sharing ports"])
def test_workers_that_cannot_listen_stop_the_server_with_a_clear_error(
    shared: bool, cli: CliRunner, cli_env: dict[str, str]
) -> None:
    """A port taken is an error even when the other listener allows sharing it (a second `paperboy
    serve`): the workers' own sockets would otherwise quietly take part of its traffic."""
    assert cli.invoke(cli_app, ["init"]).exit_code == 0
    port = free_port()
    with socket.socket() as taken:
        if shared:
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", port))
        taken.listen()
        env = {**cli_env, "PAPERBOY_PORT": str(port), "HF_HUB_OFFLINE": "1", "PAPERBOY_DIGEST_INTERVAL": "0"}
        result = subprocess.run(
            [str(PAPERBOY), "serve", "--workers", "2"], env=env, capture_output=True, text=True, timeout=120
        )
    assert result.returncode == 1, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "Address already in use" in result.stderr
    assert "Traceback" not in result.stderr
