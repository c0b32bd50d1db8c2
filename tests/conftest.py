"""Shared fixtures: real databases (SQLite and PostgreSQL), settings, CLI runner, shared data.

`db_url` is parametrized over both backends, so every test that takes it runs against SQLite and a real
PostgreSQL server. Each test gets its own database (a fresh SQLite file; a freshly created PostgreSQL
database cloned from a migrated template), so tests never share state.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from mail_support import SmtpServer
from paperboy.config import Settings
from paperboy.db.engine import make_engine, session_factory
from paperboy.db.migrate import upgrade
from paperboy.search.embedder import MiniLmOnnxEmbedder
from search_support import MemoizingEmbedder

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("PAPERBOY_SHARED_DATA", REPO.parent / "shared" / "data")).resolve()
POSTGRES_URL = os.environ.get(
    "PAPERBOY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
TEMPLATE_DB = f"paperboy_template_{os.getpid()}"


def pytest_configure(config: pytest.Config) -> None:
    if not SHARED_DATA.is_dir():
        raise pytest.UsageError(f"shared data not found at {SHARED_DATA}: set PAPERBOY_SHARED_DATA")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real data (../shared/data by default)."""
    return SHARED_DATA


def _admin_engine() -> Engine:
    return create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A migrated PostgreSQL database used as the template of each test's database.

    A missing PostgreSQL server is an error, not a skip: CI must test both backends.
    """
    admin = _admin_engine()
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"'))
            connection.execute(text(f'CREATE DATABASE "{TEMPLATE_DB}"'))
    except Exception as exc:
        raise RuntimeError(f"PostgreSQL is required for the tests ({POSTGRES_URL}): {exc}") from exc
    url = make_url(POSTGRES_URL).set(database=TEMPLATE_DB).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield TEMPLATE_DB
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file copied for each test (migrating once is much faster)."""
    path = tmp_path_factory.mktemp("template") / "paperboy.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh, migrated database of each backend."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "paperboy.db"
        target.write_bytes(template.read_bytes())
        yield f"sqlite:///{target}"
        return
    template_name: str = request.getfixturevalue("postgres_template")
    name = f"paperboy_test_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the test's fresh database."""
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    """A session factory on the test's fresh database."""
    return session_factory(engine)


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """Settings pointing at a temporary data dir and the test's database."""
    return Settings(
        home=tmp_path / "home",
        database_url=db_url,
        shared_data=SHARED_DATA,
        http_delay=0,
        mail_outbox=tmp_path
        / "outbox",  # sign-up links and other emails land here (tests with SMTP unset it)
    )


@pytest.fixture
def cli_env(tmp_path: Path, db_url: str) -> dict[str, str]:
    """Environment for running `paperboy` (in-process or as a subprocess) against the test database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAPERBOY_")}
    env.update(
        PAPERBOY_HOME=str(tmp_path / "home"),
        PAPERBOY_DATABASE_URL=db_url,
        PAPERBOY_SHARED_DATA=str(SHARED_DATA),
        PAPERBOY_HTTP_DELAY="0",
    )
    return env


@pytest.fixture(scope="session")
def embedder() -> MemoizingEmbedder:
    """The real default embedder (bundled weights), memoized across the session."""
    return MemoizingEmbedder(MiniLmOnnxEmbedder())


@pytest.fixture
def cli(cli_env: dict[str, str]) -> CliRunner:
    """An in-process CLI runner with the test environment."""
    return CliRunner(env=cli_env)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that records what it is sent."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def mail_settings(settings: Settings, smtp: SmtpServer) -> Settings:
    """The test settings sending to the test's SMTP server; links point at the TestClient's host."""
    return settings.model_copy(
        update={
            "smtp_port": smtp.port,
            "mail_outbox": None,
            "smtp_timeout": 10.0,
            "base_url": "http://testserver",
            "mail_from": "Paperboy <digest@paperboy.test>",
        }
    )
