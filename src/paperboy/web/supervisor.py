"""`paperboy serve --workers N` on Linux: N server processes, each listening on a socket of its own on the
same port (SO_REUSEPORT), so that the kernel spreads new connections evenly among them.

uvicorn's own workers share one listening socket, and the process that wakes first accepts every
connection then waiting. At 1M papers one of two workers held three quarters of 8 clients' keep-alive
connections and was held back by its interpreter lock while the other idled: 78-85 searches/s, against
107-110/s with a socket per worker (docs/BENCHMARKS.md). The kernel hashes each new connection to one of
the sockets of the port. A worker that dies closes its socket with it, so no connection waits on a
socket nobody accepts from, and is replaced; one that cannot start (the port taken by another program,
a broken data dir) stops the server.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import threading
from typing import Any

STARTUP_FAILURE = 3
"""Exit status of a worker that never served (uvicorn's own value for it)."""
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


def _serve(app: str, options: dict[str, Any]) -> None:
    """One worker: its own socket, then uvicorn on it (in a spawned process)."""
    import uvicorn

    config = uvicorn.Config(app, factory=True, **options)
    server = uvicorn.Server(config)
    try:
        sock = listening_socket(config.host, config.port)
    except OSError as exc:
        logging.getLogger("uvicorn.error").error("cannot listen on %s:%s: %s", config.host, config.port, exc)
        sys.exit(STARTUP_FAILURE)
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(STARTUP_FAILURE)


class Supervisor:
    """Starts the workers, replaces one that dies, and stops them all on SIGINT or SIGTERM."""

    def __init__(self, app: str, workers: int, options: dict[str, Any]) -> None:
        """`app`: the import path of an app factory; `options`: uvicorn's settings (host and port too)."""
        self.app, self.workers, self.options = app, workers, options
        self._context = multiprocessing.get_context("spawn")  # no fork of a process holding threads
        self._stop = threading.Event()
        self._processes: list[Any] = []

    def _start(self) -> Any:
        process = self._context.Process(target=_serve, args=(self.app, self.options), name="paperboy-worker")
        process.start()
        return process

    def run(self) -> int:
        """Serve until told to stop; 0, or 1 when a worker could not start."""
        previous = {
            sig: signal.signal(sig, lambda *_: self._stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        status = 0
        try:
            self._processes = [self._start() for _ in range(self.workers)]
            while not self._stop.wait(0.5):
                for index, process in enumerate(self._processes):
                    if process.is_alive():
                        continue
                    if process.exitcode == STARTUP_FAILURE:
                        log.error("a worker could not start (see above): stopping")
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
