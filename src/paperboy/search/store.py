"""Where the derived search indexes live, and how a rebuilt set replaces the current one atomically.

Layout under `<home>/index/`: one directory per build (`build-<timestamp>-<hex>/` holding `lexical/`,
`vectors.usearch`, `vocabulary/` and `build.json`) and a `CURRENT` file naming the live one. A rebuild
writes a new directory and then replaces `CURRENT` with a rename, so readers never see a half-built
index. `build.json` records the index format: a build of an older format counts as no index at all, so
the next index run rebuilds it (keyword search first, then vectors from the database).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from paperboy.locks import exclusive_lock
from paperboy.search.backend import IndexBusy, IndexDamaged
from paperboy.search.lexical import LexicalIndex
from paperboy.search.vectors import VectorIndex
from paperboy.search.vocabulary import Vocabulary

INDEX_FORMAT = 4  # 4: a `tags` field (has:code)
"""1: stemmed text only. 2: stems and exact words, TeX as words, folded accents, a vocabulary. 3: title words."""
BUILD_NAME = re.compile(r"^build-\d{8}T\d{6}-[0-9a-f]{8}$")
MANIFEST = "build.json"


def index_root(home: Path) -> Path:
    return home / "index"


def _manifest(build: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((build / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return manifest if isinstance(manifest, dict) else {}


def build_format(build: Path) -> int:
    return int(_manifest(build).get("format", 1))


def build_database(build: Path) -> str | None:
    """The database a build was made from (its instance id), None when it does not say."""
    database = _manifest(build).get("database")
    return database if isinstance(database, str) else None


def current_build(home: Path) -> Path | None:
    """The live build directory, or None before the first index run (or when it is of an older format)."""
    pointer = index_root(home) / "CURRENT"
    try:
        name = pointer.read_text().strip()
    except OSError:
        return None
    if not BUILD_NAME.match(name):
        return None
    build = index_root(home) / name
    if not build.is_dir() or build_format(build) != INDEX_FORMAT:
        return None
    return build


def new_build_dir(home: Path, database: str | None = None) -> Path:
    """A fresh, empty build directory of the current format, made from `database`."""
    root = index_root(home)
    root.mkdir(parents=True, exist_ok=True)
    build = root / f"build-{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
    build.mkdir()
    manifest = {"format": INDEX_FORMAT, "database": database, "created": time.time()}
    (build / MANIFEST).write_text(json.dumps(manifest))
    return build


def discard_current(home: Path) -> None:
    """Forget the live build (damaged, or made from another database): the next index run builds anew."""
    root = index_root(home)
    (root / "CURRENT").unlink(missing_ok=True)
    remove_orphans(home)


def remove_orphans(home: Path) -> list[str]:
    """Delete build folders that are not live (left by killed rebuilds) and stray temporary files.

    Call it holding the indexer lock: a rebuild in progress holds it too, so its folder is never taken.
    """
    root = index_root(home)
    live = current_build(home)
    removed = []
    for other in root.glob("build-*"):
        if other != live and other.is_dir():
            shutil.rmtree(other, ignore_errors=True)
            removed.append(other.name)
    for temporary in root.glob("*.tmp"):
        temporary.unlink(missing_ok=True)
    return removed


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
    """The lexical index, vector index and vocabulary of one build directory."""

    def __init__(self, build: Path, dim: int, writable: bool) -> None:
        self.build = build
        self.lexical = LexicalIndex(build / "lexical")
        self.vectors = VectorIndex(build / "vectors.usearch", dim, writable=writable)
        self.vocabulary = Vocabulary(build / "vocabulary")

    @classmethod
    def open_current(cls, home: Path, dim: int, writable: bool, database: str | None = None) -> SearchStore:
        """The live build, creating an empty first build (made from `database`) when there is none yet.

        IndexDamaged when its files cannot be read (the indexer then rebuilds from the database).
        """
        build = current_build(home)
        if build is None:
            build = new_build_dir(home, database)
            publish_build(home, build)
        return cls.open(build, dim, writable)

    @classmethod
    def open(cls, build: Path, dim: int, writable: bool) -> SearchStore:
        try:
            return cls(build, dim, writable)
        except Exception as exc:  # tantivy, usearch: anything a damaged file makes them raise
            raise IndexDamaged(f"{build.name}: {exc}") from exc
