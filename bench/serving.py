"""`paperboy serve` as a benchmark runs it: a subprocess on a free port, in steady state."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

PAPERBOY = Path(sys.executable).parent / "paperboy"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(
    home: Path, workers: int = 1, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """Start `paperboy serve` on `home` and wait for /healthz. No background indexer (the keyphrases of a
    freshly loaded million papers would take the cores for hours) and no digest runs."""
    port = free_port()
    environment = {
        **(env if env is not None else os.environ),
        "PAPERBOY_HOME": str(home),
        "PAPERBOY_PORT": str(port),
        "HF_HUB_OFFLINE": "1",
        "PAPERBOY_INDEX_INTERVAL": "0",
        "PAPERBOY_DIGEST_INTERVAL": "0",
    }
    command = [str(PAPERBOY), "serve"] + (["--workers", str(workers)] if workers > 1 else [])
    server = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server, port
        except httpx.HTTPError:
            pass
        if server.poll() is not None:
            break
        time.sleep(0.2)
    server.kill()
    raise RuntimeError(f"paperboy serve on {home} did not answer /healthz within two minutes")
