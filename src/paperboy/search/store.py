"""Where the derived search indexes live, and how a rebuilt set replaces the current one atomically.

Layout under `<home>/index/`: one directory per build (`build-<timestamp>/` holding `lexical/` and
`vectors.usearch`) and a `CURRENT` file naming the live one. A rebuild writes a new directory and then
replaces `CURRENT` with a rename, so readers never see a half-built index.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from contextlib import AbstractContextManager
from pathlib import Path

from paperboy.locks import exclusive_lock
from paperboy.search.backend import IndexBusy
from paperboy.search.lexical import LexicalIndex
from paperboy.search.vectors import VectorIndex


def index_root(home: Path) -> Path:
    return home / "index"


def current_build(home: Path) -> Path | None:
    """The live build directory, or None before the first index run."""
    pointer = index_root(home) / "CURRENT"
    if not pointer.is_file():
        return None
    build = index_root(home) / pointer.read_text().strip()
    return build if build.is_dir() else None


def new_build_dir(home: Path) -> Path:
    """A fresh, empty build directory."""
    root = index_root(home)
    root.mkdir(parents=True, exist_ok=True)
    build = root / f"build-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    build.mkdir()
    return build


def publish_build(home: Path, build: Path) -> None:
    """Make `build` the live index (atomic rename of the pointer) and delete older builds."""
    root = index_root(home)
    temporary = root / "CURRENT.tmp"
    temporary.write_text(build.name)
    with temporary.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, root / "CURRENT")
    for other in root.glob("build-*"):
        if other != build and other.is_dir():
            shutil.rmtree(other, ignore_errors=True)


def indexer_lock(home: Path) -> AbstractContextManager[None]:
    """One indexer at a time per data dir."""
    return exclusive_lock(
        index_root(home) / "indexer.lock", lambda: IndexBusy(f"another `paperboy index` is running on {home}")
    )


class SearchStore:
    """The lexical and vector indexes of one build directory."""

    def __init__(self, build: Path, dim: int, writable: bool) -> None:
        self.build = build
        self.lexical = LexicalIndex(build / "lexical")
        self.vectors = VectorIndex(build / "vectors.usearch", dim, writable=writable)

    @classmethod
    def open_current(cls, home: Path, dim: int, writable: bool) -> SearchStore:
        """The live build, creating an empty first build when there is none yet."""
        build = current_build(home)
        if build is None:
            build = new_build_dir(home)
            publish_build(home, build)
        return cls(build, dim, writable)

    def commit(self) -> None:
        """Make both indexes durable: lexical commit, then atomic vector save."""
        self.lexical.commit()
        self.vectors.save()
