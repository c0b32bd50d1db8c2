"""The vector index: HNSW (usearch) over half-precision cosine vectors, keyed by paper id.

Half precision, not int8: usearch scales unit vectors by 127 into int8, and the components of a
384-dimensional unit vector are a few hundredths, so int8 keeps two or three bits of each; on vectors
modelled on real ones that capped recall@10 at 0.89 at 1M papers whatever the search depth, where f16
gives what float32 does (docs/BENCHMARKS.md). Indexes written as int8 earlier still open and work.

The index lives in one file, written atomically (temporary file, then rename) and memory-mapped read-only
when serving, so a server picks up a new version by reopening the file, and a crash mid-write leaves
the previous version intact. Small indexes are searched exactly, which keeps results deterministic.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from usearch.index import Index

DTYPE = "f16"
EXACT_BELOW = 20_000
CONNECTIVITY = 16
EXPANSION_ADD = 128
EXPANSION_SEARCH = 96


class VectorIndex:
    """An HNSW index on disk; `writable=False` memory-maps it for serving."""

    def __init__(self, path: Path, dim: int, writable: bool = True) -> None:
        self.path = path
        self.dim = dim
        self.writable = writable
        self._mtime_ns = 0
        self.index = self._open()

    def _new(self) -> Index:
        return Index(
            ndim=self.dim,
            metric="cos",
            dtype=DTYPE,
            connectivity=CONNECTIVITY,
            expansion_add=EXPANSION_ADD,
            expansion_search=EXPANSION_SEARCH,
        )

    def _open(self) -> Index:
        if not self.path.exists():
            return self._new()
        self._mtime_ns = self.path.stat().st_mtime_ns
        index = Index.restore(str(self.path), view=not self.writable)
        if index is None:
            raise RuntimeError(f"{self.path}: not a usearch index file")
        if index.ndim != self.dim:
            raise RuntimeError(f"{self.path}: vectors have {index.ndim} dimensions, the embedder {self.dim}")
        # Not kept in the file: a restored index would search at usearch's default, 64. (usearch has a setter;
        # its stubs hide it.)
        index.expansion_search = EXPANSION_SEARCH  # type: ignore[misc]
        return index

    def refresh(self) -> bool:
        """Reopen the file if another process saved a newer version; True when it did."""
        if not self.path.exists():
            return False
        mtime = self.path.stat().st_mtime_ns
        if mtime == self._mtime_ns:
            return False
        self.index = self._open()
        return True

    def keys(self) -> set[int]:
        return {int(key) for key in self.index.keys}

    def __len__(self) -> int:
        return len(self.index)

    def upsert(self, keys: Sequence[int], vectors: npt.NDArray[np.float32], fresh: bool = False) -> None:
        """Replace the vectors of `keys` (`fresh` indexes skip looking for old ones)."""
        if not keys:
            return
        if not fresh:
            self.delete(keys)
        self.index.add(np.asarray(keys, dtype=np.uint64), vectors)

    def delete(self, keys: Sequence[int]) -> None:
        present = [key for key in keys if key in self.index]
        if present:
            self.index.remove(np.asarray(present, dtype=np.uint64))

    def save(self) -> None:
        """Write the index atomically: a crash leaves either the old or the new file, never half of one."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        self.index.save(str(temporary))
        with temporary.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)
        self._mtime_ns = self.path.stat().st_mtime_ns

    def search(self, query: npt.NDArray[np.float32], limit: int) -> list[tuple[int, float]]:
        """Nearest papers as (paper_id, cosine similarity), best first."""
        if len(self.index) == 0 or limit <= 0:
            return []
        exact = len(self.index) < EXACT_BELOW
        matches = self.index.search(query, min(limit, len(self.index)), exact=exact)
        return [
            (int(key), 1.0 - float(distance))
            for key, distance in zip(matches.keys, matches.distances, strict=True)
        ]

    def similarity(self, query: npt.NDArray[np.float32], keys: Sequence[int]) -> dict[int, float]:
        """Cosine similarity of the query to the stored vectors of `keys` (missing keys are skipped)."""
        wanted = np.asarray(keys, dtype=np.uint64)
        present = wanted[self.index.contains(wanted)] if len(wanted) else wanted  # one call, not one per key
        if not len(present):
            return {}
        stored = self.index.get(present, dtype="f32")
        matrix = np.vstack(stored).astype(np.float32)  # type: ignore[arg-type]
        norms = np.linalg.norm(matrix, axis=1)
        norms[norms == 0] = 1.0
        scores = matrix @ query / norms
        return {int(key): float(score) for key, score in zip(present.tolist(), scores, strict=True)}

    def vector(self, key: int) -> npt.NDArray[np.float32] | None:
        """The stored vector of one paper (for "similar papers")."""
        if key not in self.index:
            return None
        return np.asarray(self.index.get(key, dtype="f32"), dtype=np.float32)
