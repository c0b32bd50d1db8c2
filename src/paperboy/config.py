"""Typed settings: one class, read from PAPERBOY_* environment variables, checked at start-up.

Every setting carries a description so `paperboy config` can explain itself and a test can keep the
README honest. Nothing is read at import time: callers build a `Settings()` and pass it down.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOME = Path("data")
DEFAULT_SHARED_DATA = Path("../shared/data")


class Settings(BaseSettings):
    """All of Paperboy's configuration."""

    model_config = SettingsConfigDict(env_prefix="PAPERBOY_", extra="ignore", validate_default=True)

    home: Path = Field(
        DEFAULT_HOME,
        description="Data directory: the SQLite database, search indexes and ingest state live here.",
    )
    database_url: str = Field(
        "",
        description=(
            "SQLAlchemy URL of the system of record. Empty means SQLite at <home>/paperboy.db; "
            "use postgresql+psycopg://user@host/db for PostgreSQL."
        ),
    )
    db_pool_size: int = Field(
        5,
        ge=1,
        le=1000,
        description="PostgreSQL connections each process keeps open in its pool (web app, ingest, indexer).",
    )
    db_max_overflow: int = Field(
        10,
        ge=0,
        le=1000,
        description="Extra PostgreSQL connections a process may open under load beyond db_pool_size "
        "(closed again when returned).",
    )
    shared_data: Path = Field(
        DEFAULT_SHARED_DATA,
        description="Directory of the shared sample data (arXiv metadata, fixtures, BEIR) used by demos and tests.",
    )
    host: str = Field("127.0.0.1", description="Address `paperboy serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `paperboy serve` listens on.")
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto headers are believed (empty: none; the client address is the connection's).",
    )
    arxiv_api_url: str = Field(
        "https://export.arxiv.org/api/query", description="Endpoint of the arXiv Atom API."
    )
    arxiv_oai_url: str = Field(
        "https://oaipmh.arxiv.org/oai", description="Endpoint of arXiv's OAI-PMH service."
    )
    http_delay: float = Field(
        3.0, ge=0, description="Seconds between requests to one remote service (arXiv asks for at least 3)."
    )
    http_timeout: float = Field(60.0, gt=0, description="Seconds before one HTTP request times out.")
    github_api_url: str = Field(
        "https://api.github.com", description="GitHub REST API that `paperboy enrich github` asks."
    )
    github_token: SecretStr = Field(
        SecretStr(""),
        description="A GitHub token for `paperboy enrich github` (5,000 requests an hour instead of 60); "
        "no scope is needed.",
    )
    github_delay: float = Field(
        1.0, ge=0, le=60, description="Seconds between two GitHub API requests (politeness)."
    )
    http_max_retries: int = Field(
        5,
        ge=0,
        le=20,
        description="Retries of a failed request (503, 5xx, connection errors) before giving up.",
    )
    ingest_batch_size: int = Field(
        2000,
        ge=1,
        le=50_000,
        description=(
            "Records committed per transaction by file ingesters (a commit rewrites the index pages "
            "it touched: 2,000 ingest a snapshot 1.4x faster than 500, holding the write lock under a second)."
        ),
    )

    embedder: str = Field(
        "minilm-int8",
        description="Embedding model: 'minilm-int8' (all-MiniLM-L6-v2, int8 ONNX, bundled weights).",
    )
    embed_threads: int = Field(
        0,
        ge=0,
        le=64,
        description="Parallel single-threaded model sessions for document embedding (0: one per core, at most 4).",
    )
    embed_batch_size: int = Field(
        1,
        ge=1,
        le=512,
        description="Texts per model run; 1 is fastest with the quantized model and keeps each vector "
        "independent of its batch (docs/BENCHMARKS.md).",
    )
    embed_quantize: bool = Field(
        True,
        description="Run the embedding model with dynamic int8 quantization (about 3.5x faster documents, same "
        "SciFact quality); false: the packaged float32 graph.",
    )
    embed_device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="Where the embedding model runs: auto (a CUDA GPU when onnxruntime-gpu sees one, else "
        "the CPU), cpu (always), or cuda (fail if there is none). On a GPU also set "
        "PAPERBOY_EMBED_QUANTIZE=false: int8 layers run on the CPU there (docs/SCALING.md).",
    )
    model_cache: Path | None = Field(
        None,
        description="Directory for model files Paperboy derives once (the quantized graph); "
        "empty: $XDG_CACHE_HOME/paperboy/models or ~/.cache/paperboy/models.",
    )
    embed_max_chunks: int = Field(
        1,
        ge=1,
        le=8,
        description="256-token windows embedded per abstract (their mean is the vector); 1 scores best.",
    )
    index_batch_size: int = Field(
        256, ge=1, le=10_000, description="Papers the indexer embeds and indexes per step."
    )
    index_flush_every: int = Field(
        20_000,
        ge=1,
        description="Newly embedded papers between durable commits of the vector index (and queue "
        "acknowledgements) in `paperboy index`; besides these, commits follow a clock.",
    )
    index_interval: float = Field(
        2,
        ge=0,
        description="Seconds between checks for new papers by the background indexer inside `paperboy serve` "
        "(0: no background indexer; run `paperboy index` from cron).",
    )
    search_alpha: float = Field(
        0.6, ge=0, le=1, description="Weight of the dense score in hybrid fusion (1 - alpha goes to BM25)."
    )
    search_normalization: str = Field(
        "zscore",
        pattern="^(zscore|minmax)$",
        description="Score normalization before fusion: zscore or minmax.",
    )
    search_candidates: int = Field(
        100, ge=10, le=5000, description="Candidates taken from each of BM25 and the vector index per query."
    )

    search_backend: str = Field(
        "embedded",
        pattern="^(embedded|qdrant)$",
        description="Where the search index lives: embedded (tantivy + usearch in the data dir) or qdrant.",
    )
    qdrant_url: str = Field(
        "",
        description="Qdrant to use with search_backend=qdrant: an http(s):// URL of a server or cluster, or a "
        "local path for in-process local mode (one process at a time); empty: <home>/qdrant.",
    )
    qdrant_collection: str = Field(
        "paperboy", description="Name prefix of Paperboy's Qdrant collection and alias."
    )
    qdrant_shards: int = Field(
        1, ge=1, le=1024, description="Shards of the Qdrant collection (servers and clusters)."
    )
    qdrant_replicas: int = Field(1, ge=1, le=16, description="Replicas of each Qdrant shard (clusters).")

    secret_key: SecretStr | None = Field(
        None,
        description=(
            "Key that signs CSRF tokens and email links. Empty: a random key is created once in "
            "<home>/secret_key (keep it: changing it invalidates links already sent)."
        ),
    )
    base_url: str = Field(
        "",
        description="Public address of the site (e.g. https://papers.example.org) for links in feeds and emails; "
        "empty: the address of the request.",
    )
    session_days: int = Field(30, ge=1, le=365, description="Days a sign-in lasts.")
    rate_limit_auth: int = Field(
        10, ge=1, description="Sign-in and sign-up attempts allowed per client address per minute."
    )
    rate_limit_write: int = Field(
        60, ge=1, description="Writes (votes, comments, submissions) allowed per client address per minute."
    )
    trending_days: int = Field(
        7, ge=1, le=90, description="Days of daily entries (before the newest one) that can trend."
    )
    trending_code_boost: float = Field(
        0.0,
        ge=0,
        le=10,
        description="Raise the trending score of papers whose repository saw a push in the last 30 days by "
        "this share (0.5: +50%; needs `paperboy enrich github`). 0: code activity does not count.",
    )
    trending_gravity: float = Field(
        1.5, gt=0, le=5, description="Exponent of the trending time decay: upvotes / (hours + 24) ^ gravity."
    )

    smtp_host: str = Field("127.0.0.1", description="SMTP server that sends digests and confirmation emails.")
    mail_outbox: Path | None = Field(
        None,
        description="Write every email into this folder (one .eml file each) instead of sending it over SMTP: "
        "for trying Paperboy without a mail server (`make run` uses data/outbox unless PAPERBOY_SMTP_HOST is "
        "set). Empty: send over SMTP.",
    )
    smtp_port: int = Field(
        25, ge=1, le=65535, description="SMTP server port (587 for STARTTLS, 465 for SSL)."
    )
    smtp_security: str = Field(
        "none",
        pattern="^(none|starttls|ssl)$",
        description="SMTP connection security: none, starttls or ssl.",
    )
    smtp_user: str = Field("", description="SMTP login (empty: no authentication).")
    smtp_password: SecretStr = Field(SecretStr(""), description="SMTP password.")
    smtp_timeout: float = Field(30.0, gt=0, description="Seconds before an SMTP command times out.")
    mail_from: str = Field(
        "Paperboy <digest@localhost>", description="From address of digests and confirmation emails."
    )
    digest_max_attempts: int = Field(
        6,
        ge=1,
        le=50,
        description="Tries of a digest that fails transiently (4xx, connection refused) before giving up.",
    )
    digest_retry_seconds: float = Field(
        60.0, ge=0, description="First wait before retrying a transient failure; doubles on each attempt."
    )
    digest_bounce_limit: int = Field(
        3, ge=1, le=100, description="Permanent failures (5xx) in a row after which a subscription is paused."
    )
    digest_interval: float = Field(
        600, ge=0, description="Seconds between digest runs inside `paperboy serve` (0: never; use cron)."
    )
    confirm_days: int = Field(
        7, ge=1, le=60, description="Days a subscription confirmation link stays valid."
    )
    submit_window_days: int = Field(
        14,
        ge=0,
        le=100_000,
        description="A paper can join a daily list only this many days after its first arXiv version "
        "(0: any time), as on Hugging Face.",
    )
    submit_daily_quota: int = Field(
        10, ge=0, le=10_000, description="Papers one user may submit per day (admins: no limit; 0: no limit)."
    )

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        allowed = ("sqlite", "postgresql")
        if value and value.split(":", 1)[0].split("+", 1)[0] not in allowed:
            raise ValueError(
                f"PAPERBOY_DATABASE_URL must start with sqlite:// or postgresql+psycopg://, got {value!r}"
            )
        return value

    @field_validator("mail_outbox", mode="before")
    @classmethod
    def _empty_outbox_means_smtp(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or the default SQLite file inside the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'paperboy.db').resolve()}"

    def describe(self) -> list[dict[str, Any]]:
        """Every setting with its env var, current value and help, for `paperboy config`."""
        rows = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            rows.append(
                {
                    "setting": name,
                    "env": f"PAPERBOY_{name.upper()}",
                    "value": str(value),
                    "description": field.description or "",
                }
            )
        rows.append(
            {
                "setting": "effective_database_url",
                "env": "",
                "value": self.effective_database_url,
                "description": "The database actually used (derived).",
            }
        )
        return rows
