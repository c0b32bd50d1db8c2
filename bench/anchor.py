"""The design a team would pick instead of Paperboy: PostgreSQL full-text search + pgvector HNSW, fused
with reciprocal rank fusion, as Hugging Face's Papers search does it.

PostgreSQL 16 with pgvector comes from the PyPI package `pgserver` (`pip install '.[bench]'`). The papers
and the stored vectors are copied from a Paperboy system of record, so both sides search the same data:
- `tsvector` over title (weight A) and abstract (weight B), a GIN index, `websearch_to_tsquery`, ranked
  by `ts_rank_cd`;
- an HNSW index on the vectors, m = 16, ef_construction = 64 (pgvector's defaults), cosine distance;
- reciprocal rank fusion with k = 60 over the top 50 of each side, in one SQL statement;
- an arXiv id names its paper, and a title typed exactly comes first (the two overrides of that design).
"""

from __future__ import annotations

import json
import re
import sqlite3
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

RRF_K = 60
CANDIDATES = 50
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64
ARXIV_ID = re.compile(r"^(?:arxiv:)?(\d{4}\.\d{4,5})(?:v\d+)?$", re.IGNORECASE)

SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
DROP TABLE IF EXISTS papers;
CREATE TABLE papers (
    id bigint PRIMARY KEY,
    arxiv_id text NOT NULL,
    title text NOT NULL,
    abstract text NOT NULL,
    authors jsonb NOT NULL,
    published_at timestamp,
    embedding vector({dim}) NOT NULL,
    fts tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english', title), 'A') || setweight(to_tsvector('english', abstract), 'B')
    ) STORED
);
"""

INDEXES = {
    "arxiv_id_and_title": (
        "CREATE UNIQUE INDEX papers_arxiv_id ON papers (arxiv_id);"
        "CREATE INDEX papers_title ON papers (lower(title));"
    ),
    "gin": "CREATE INDEX papers_fts ON papers USING gin (fts);",
    "hnsw": (
        f"CREATE INDEX papers_embedding ON papers USING hnsw (embedding vector_cosine_ops) "
        f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION});"
    ),
}

HYBRID = f"""
WITH query AS (SELECT websearch_to_tsquery('english', %(q)s) AS tsq),
lexical AS (
    SELECT id, row_number() OVER () AS rank FROM (
        SELECT id FROM papers, query WHERE fts @@ query.tsq
        ORDER BY ts_rank_cd(fts, query.tsq) DESC LIMIT {CANDIDATES}
    ) ranked
),
dense AS (
    SELECT id, row_number() OVER () AS rank FROM (
        SELECT id FROM papers ORDER BY embedding <=> %(v)s::vector LIMIT {CANDIDATES}
    ) nearest
),
fused AS (
    SELECT coalesce(lexical.id, dense.id) AS id,
           coalesce(1.0 / ({RRF_K} + lexical.rank), 0) + coalesce(1.0 / ({RRF_K} + dense.rank), 0) AS score
    FROM lexical FULL OUTER JOIN dense ON lexical.id = dense.id
    ORDER BY score DESC LIMIT %(k)s
)
SELECT papers.id, papers.arxiv_id, papers.title, papers.abstract, papers.authors, papers.published_at,
       fused.score
FROM fused JOIN papers USING (id) ORDER BY fused.score DESC
"""

BY_ARXIV_ID = (
    "SELECT id, arxiv_id, title, abstract, authors, published_at, 1.0 FROM papers WHERE arxiv_id = %(id)s"
)
BY_TITLE = (
    "SELECT id, arxiv_id, title, abstract, authors, published_at, 1.0 FROM papers "
    "WHERE lower(title) = lower(%(q)s) LIMIT 1"
)
DENSE_ONLY = "SELECT id FROM papers ORDER BY embedding <=> %(v)s::vector LIMIT %(k)s"

SETTINGS = {
    # What a team would set for this machine (24 GB, 2 cores): the whole table fits in the OS cache.
    "shared_buffers": "4GB",
    "effective_cache_size": "16GB",
    "maintenance_work_mem": "8GB",
    "work_mem": "64MB",
    "max_parallel_maintenance_workers": "1",
    "max_parallel_workers_per_gather": "0",
    "jit": "off",
    "synchronous_commit": "off",
    "max_connections": "100",
}


def vector_literal(vector: npt.NDArray[np.float32]) -> str:
    return "[" + ",".join(f"{x:.6f}" for x in vector.tolist()) + "]"


@dataclass(frozen=True)
class AnchorHit:
    id: int
    arxiv_id: str
    title: str
    abstract: str
    authors: list[str]
    published_at: str | None
    score: float


def _hit(row: tuple[Any, ...]) -> AnchorHit:
    pid, arxiv_id, title, abstract, authors, published, score = row
    when = published.isoformat() if published else None
    return AnchorHit(int(pid), arxiv_id, title, abstract, authors, when, float(score))


def search(cursor: Any, query: str, vector: npt.NDArray[np.float32], k: int = 10) -> list[AnchorHit]:
    """The anchor's hybrid search: overrides first, then RRF of the full-text and HNSW candidates."""
    pinned: list[AnchorHit] = []
    named = ARXIV_ID.match(query.strip())
    if named:
        cursor.execute(BY_ARXIV_ID, {"id": named.group(1)})
        row = cursor.fetchone()
        if row:
            return [_hit(row)]
    cursor.execute(BY_TITLE, {"q": query.strip()})
    row = cursor.fetchone()
    if row:
        pinned.append(_hit(row))
    cursor.execute(HYBRID, {"q": query, "v": vector_literal(vector), "k": k})
    fused = [_hit(row) for row in cursor.fetchall() if not pinned or row[0] != pinned[0].id]
    return (pinned + fused)[:k]


def dense_ids(cursor: Any, vector: npt.NDArray[np.float32], k: int) -> list[int]:
    cursor.execute(DENSE_ONLY, {"v": vector_literal(vector), "k": k})
    return [int(row[0]) for row in cursor.fetchall()]


# --- loading --------------------------------------------------------------------------------------------
NULL = struct.pack("!i", -1)
COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)


def _field(data: bytes) -> bytes:
    return struct.pack("!i", len(data)) + data


def copy_rows(rows: Iterator[tuple[int, str, str, str, str, str, bytes]], dim: int) -> Iterator[bytes]:
    """Binary COPY data (faster than text for 384 floats a row): id, arxiv_id, title, abstract,
    authors (jsonb), published_at (text cast by the server is not allowed in binary: sent as timestamp),
    embedding (pgvector's binary form: int16 dim, int16 unused, float4s)."""
    yield COPY_HEADER
    epoch = np.datetime64("2000-01-01T00:00:00")
    vector_head = struct.pack("!hh", dim, 0)
    for pid, arxiv_id, title, abstract, authors, published, vector in rows:
        when = (
            _field(
                struct.pack(
                    "!q", int((np.datetime64(published.replace(" ", "T")) - epoch) / np.timedelta64(1, "us"))
                )
            )
            if published
            else NULL
        )
        floats = np.frombuffer(vector, dtype=np.float32).astype(">f4").tobytes()
        yield (
            struct.pack("!h", 7)
            + _field(struct.pack("!q", pid))
            + _field(arxiv_id.encode())
            + _field(title.encode())
            + _field(abstract.encode())
            + _field(b"\x01" + authors.encode())
            + when
            + _field(vector_head + floats)
        )
    yield struct.pack("!h", -1)


def paperboy_rows(database: Path) -> Iterator[tuple[int, str, str, str, str, str, bytes]]:
    """Every paper of a Paperboy SQLite system of record with its stored vector."""
    connection = sqlite3.connect(database)
    try:
        yield from connection.execute(
            "SELECT p.id, p.arxiv_id, p.title, p.abstract, p.authors, p.published_at, e.vector "
            "FROM papers p JOIN embeddings e ON e.paper_id = p.id ORDER BY p.id"
        )
    finally:
        connection.close()


def build(connection: Any, database: Path, dim: int, progress_every: int = 100_000) -> dict[str, float]:
    """Create the table, copy every paper in, and build each index; seconds for each step."""
    timings: dict[str, float] = {}
    for name, value in SETTINGS.items():
        if name not in {"shared_buffers", "max_connections"}:
            connection.execute(f"SET {name} = '{value}'")
    connection.execute(SCHEMA.format(dim=dim))
    started = time.perf_counter()
    copied = 0
    with (
        connection.cursor() as cursor,
        cursor.copy(
            "COPY papers (id, arxiv_id, title, abstract, authors, published_at, embedding) FROM STDIN "
            "WITH (FORMAT binary)"
        ) as copy,
    ):
        for chunk in copy_rows(paperboy_rows(database), dim):
            copy.write(chunk)
            copied += 1
            if copied % progress_every == 0:
                rate = copied / (time.perf_counter() - started)
                print(f"  anchor: copied {copied:,} papers ({rate:,.0f}/s)", flush=True)
    connection.commit()
    timings["copy_s"] = time.perf_counter() - started
    for name, statement in INDEXES.items():
        print(f"  anchor: building the {name} index ...", flush=True)
        started = time.perf_counter()
        connection.execute(statement)
        connection.commit()
        timings[f"{name}_index_s"] = time.perf_counter() - started
    started = time.perf_counter()
    connection.autocommit = True
    connection.execute("VACUUM ANALYZE papers")
    connection.autocommit = False
    timings["analyze_s"] = time.perf_counter() - started
    return timings


def sizes_mb(connection: Any) -> dict[str, float]:
    row = connection.execute(
        "SELECT pg_table_size('papers'), pg_relation_size('papers_fts'), "
        "pg_relation_size('papers_embedding'), pg_indexes_size('papers')"
    ).fetchone()
    table, gin, hnsw, indexes = (int(x) / 2**20 for x in row)
    return {
        "table_mb": round(table, 1),
        "gin_mb": round(gin, 1),
        "hnsw_mb": round(hnsw, 1),
        "all_indexes_mb": round(indexes, 1),
        "total_mb": round(table + indexes, 1),
    }


def settings_json() -> str:
    return json.dumps(SETTINGS)
