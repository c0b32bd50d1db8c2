"""One of several server processes (`paperboy serve --workers N`), built from the environment.

uvicorn starts each worker as a fresh process and calls `app()`. The settings come from the same
PAPERBOY_ environment the parent read, with its --host and --port written in, so every worker serves
the same data dir; the indexes are memory-mapped, so the workers share their pages. The parent alone
runs the background indexer and digests, and each worker embeds queries on one thread (the processes,
not the threads inside one, then share the cores).
"""

from __future__ import annotations

import os

from fastapi import FastAPI

from paperboy.config import Settings
from paperboy.search.factory import make_embedder
from paperboy.web.app import create_app

WORKERS_ENV = "PAPERBOY_SERVE_WORKERS"
"""How many workers the parent started (each enforces its share of the rate limits)."""


def app() -> FastAPI:
    settings = Settings()
    workers = int(os.environ.get(WORKERS_ENV, "1"))
    return create_app(settings, embedder=make_embedder(settings, query_threads=1), workers=workers)
