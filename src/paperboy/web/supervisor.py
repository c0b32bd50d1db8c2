"""`paperboy serve --workers N` on Linux: N server processes, each listening on a socket of its own on the
same port (SO_REUSEPORT), so that the kernel spreads new connections evenly among them.

uvicorn's own workers share one listening socket, and the process that wakes first accepts every
connection then waiting. At 1M papers one of two workers held three quarters of 8 clients' keep-alive
connections and was held back by its interpreter lock while the other idled: 78-85 searches/s, against
107-110/s with a socket per worker (docs/BENCHMARKS.md). The kernel hashes each new connection to one of
the sockets of the port. A worker that dies closes its socket with it, so no connection waits on a
socket nobody accepts from, and is replaced; workers that cannot start (the port taken by another
program, an app that fails to load) or keep ending stop the server, and workers end with the server.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

STARTUP_FAILURE = 3
"""Exit status of a worker that never served (uvicorn's own value for it)."""
RESTARTS_PER_MINUTE = 10
"""More replacements than this in a minute and the workers are failing as they start, not dying now
and then: the server stops instead of loading the app over and over."""
PR_SET_PDEATHSIG = 1
BACKLOG = 2048
STOP_SECONDS = 30.0
log = logging.getLogger("paperboy.serve")


def supported() -> bool:
    """Whether connections to sockets sharing a port are balanced by the kernel (Linux 3.9 and later;
    elsewhere SO_REUSEPORT, where it exists, does not spread them)."""
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket on host:port that other workers' sockets may share."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    return sock


def _die_with_the_parent() -> None:
    """A worker ends when the supervisor does, even when it is killed (SIGKILL runs no cleanup): workers
    left behind would go on taking a share of the port's connections."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _serve(app: str, options: dict[str, Any], parent: int) -> None:
    """One worker (in a spawned process): the app loaded, then a socket of its own, then uvicorn on it.
    Loading comes first so that the kernel hands no connection to a worker that cannot answer yet."""
    import uvicorn

    _die_with_the_parent()
    if os.getppid() != parent:  # the supervisor died before the line above took effect
        sys.exit(STARTUP_FAILURE)
    errors = logging.getLogger("uvicorn.error")
    config = uvicorn.Config(app, factory=True, **options)
    try:
        config.load()
    except SystemExit:
        sys.exit(STARTUP_FAILURE)  # uvicorn has said why (an app factory it could not call)
    except Exception as exc:
        errors.error("the app could not be loaded: %s: %s", type(exc).__name__, exc)
        sys.exit(STARTUP_FAILURE)
    try:
        sock = listening_socket(config.host, config.port)
    except OSError as exc:
        errors.error("cannot listen on %s:%s: %s", config.host, config.port, exc)
        sys.exit(STARTUP_FAILURE)
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


def why_port_is_taken(host: str, port: int) -> OSError | None:
    """Why host:port is not free for the workers (another program listens on it), or None. The probe
    binds without SO_REUSEPORT, so another server that shares its port (a second `paperboy serve`) is
    found too: the workers' own sockets would quietly share the port with it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # connections in TIME_WAIT are fine
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc
    return None


class Supervisor:
    """Starts the workers, replaces one that dies, and stops them all on SIGINT or SIGTERM."""

    def __init__(self, app: str, workers: int, options: dict[str, Any]) -> None:
        """`app`: the import path of an app factory; `options`: uvicorn's settings (host and port too)."""
        self.app, self.workers, self.options = app, workers, options
        self._context = multiprocessing.get_context("spawn")  # no fork of a process holding threads
        self._stop = threading.Event()
        self._processes: list[Any] = []

    def _start(self) -> Any:
        process = self._context.Process(
            target=_serve, args=(self.app, self.options, os.getpid()), name="paperboy-worker"
        )
        process.start()
        return process

    def run(self) -> int:
        """Serve until told to stop; 0, or 1 when the port is taken or the workers cannot start."""
        taken = why_port_is_taken(self.options["host"], self.options["port"])
        if taken is not None:
            log.error("cannot listen on %s:%s: %s", self.options["host"], self.options["port"], taken)
            return 1
        previous = {
            sig: signal.signal(sig, lambda *_: self._stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        status = 0
        restarts: list[float] = []
        try:
            for _ in range(self.workers):
                self._processes.append(self._start())  # each kept at once: stopped even if a later one fails
            while not self._stop.wait(0.5):
                for index, process in enumerate(self._processes):
                    if process.is_alive():
                        continue
                    now = time.monotonic()
                    restarts = [at for at in restarts if now - at < 60] + [now]
                    if process.exitcode == STARTUP_FAILURE or len(restarts) > RESTARTS_PER_MINUTE:
                        reason = "could not start" if process.exitcode == STARTUP_FAILURE else "keep ending"
                        log.error("the workers %s (see above): stopping", reason)
                        self._stop.set()
                        status = 1
                        break
                    log.warning(
                        "worker %s ended (exit code %s): starting another", process.pid, process.exitcode
                    )
                    self._processes[index] = self._start()
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return status

    def _stop_all(self) -> None:
        for process in self._processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        for process in self._processes:
            process.join(STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()
