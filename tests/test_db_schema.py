"""The schema: migrations match the models, and invariants are enforced by the database itself."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from paperboy.db.migrate import current_revision, downgrade, head_revision, upgrade
from paperboy.db.models import Base, DailyEntry, Delivery, Paper, PaperVersion, Subscription, User, Vote

NOW = datetime(2024, 10, 25, 12, 0)


def _paper(session: Session, arxiv_id: str = "2410.17243") -> Paper:
    paper = Paper(
        arxiv_id=arxiv_id, title="T", abstract="A", authors=["X"], categories=["cs.LG"], source="test"
    )
    session.add(paper)
    session.flush()
    return paper


def _user(session: Session, name: str = "ada") -> User:
    user = User(email=f"{name}@example.org", username=name)
    session.add(user)
    session.flush()
    return user


def test_migrations_produce_exactly_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []
    assert current_revision(engine) == head_revision()


def test_expected_tables_exist(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    assert {
        "papers",
        "paper_versions",
        "daily_entries",
        "users",
        "votes",
        "comments",
        "subscriptions",
        "deliveries",
        "embeddings",
        "index_queue",
        "ingest_state",
    } <= tables


def test_upgrade_is_idempotent_and_downgrade_reverses(engine: Engine) -> None:
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    downgrade(engine, "base")
    assert "papers" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert "papers" in inspect(engine).get_table_names()


def test_arxiv_id_is_unique(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        _paper(session)
    with pytest.raises(IntegrityError), sessions() as session, session.begin():
        _paper(session)


def test_one_vote_per_user_and_paper(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        paper_id, user_id = _paper(session).id, _user(session).id
        session.add(Vote(user_id=user_id, paper_id=paper_id))
    with pytest.raises(IntegrityError), sessions() as session, session.begin():
        session.execute(insert(Vote).values(user_id=user_id, paper_id=paper_id))


def test_one_delivery_per_subscription_and_period(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        subscription = Subscription(email="ada@example.org", frequency="daily")
        session.add(subscription)
        session.flush()
        subscription_id = subscription.id
        session.add(Delivery(subscription_id=subscription_id, period="2024-10-25"))
    with pytest.raises(IntegrityError), sessions() as session, session.begin():
        session.add(Delivery(subscription_id=subscription_id, period="2024-10-25"))


def test_one_daily_entry_per_date_and_paper(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        paper_id = _paper(session).id
        session.add(DailyEntry(date=date(2024, 10, 25), paper_id=paper_id, submitted_at=NOW, source="test"))
    with pytest.raises(IntegrityError), sessions() as session, session.begin():
        session.add(DailyEntry(date=date(2024, 10, 25), paper_id=paper_id, submitted_at=NOW, source="test"))


def test_one_row_per_paper_version(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, session.begin():
        paper_id = _paper(session).id
        session.add(PaperVersion(paper_id=paper_id, version=1))
    with pytest.raises(IntegrityError), sessions() as session, session.begin():
        session.add(PaperVersion(paper_id=paper_id, version=1))


@pytest.mark.parametrize(
    "fields",
    [{"frequency": "hourly"}, {"send_hour": 24}, {"max_papers": 0}, {"status": "whatever"}],
)
def test_subscription_checks(sessions: sessionmaker[Session], fields: dict[str, object]) -> None:
    with pytest.raises(IntegrityError), sessions() as session, session.begin():
        session.add(Subscription(**{"email": "ada@example.org", "frequency": "daily", **fields}))


def test_foreign_keys_are_enforced(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(IntegrityError), sessions() as session, session.begin():
        session.add(PaperVersion(paper_id=999_999, version=1))


def _bulk_row(arxiv_id: str) -> dict[str, object]:
    moment = datetime(2024, 10, 25, 12, 0, 5, 120)
    return {
        "arxiv_id": arxiv_id,
        "version": 2,
        "title": "Ünïcode — title",
        "abstract": 'An "abstract"\n\nwith paragraphs',
        "authors": ["Ada Lovelace", "Émile Borel"],
        "categories": ["cs.LG"],
        "primary_category": "cs.LG",
        "comments": None,
        "journal_ref": None,
        "doi": None,
        "license": None,
        "published_at": moment,
        "updated_at": datetime(2024, 10, 26),
        "source": "test",
        "withdrawn": True,
        "upvotes_imported": 3,
        "code_urls": ["https://github.com/a/b"],
        "project_page": None,
        "keywords": [],
        "keywords_at": None,
        "created_at": moment,
        "modified_at": moment,
    }


def test_bulk_insert_stores_a_missing_json_value_and_mixed_dates_as_sqlalchemy_does(engine: Engine) -> None:
    """The values the ingest does not send today, kept exact for whoever does: JSON None (SQLAlchemy
    stores JSON's `null`), a date in a date-and-time column, a date and time in a date column."""
    from sqlalchemy import JSON, Column, Date, DateTime, Integer, MetaData, Table, text

    from paperboy.db.bulk import bulk_insert

    metadata = MetaData()
    table = Table(
        "bulk_probe",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("data", JSON),
        Column("bare", JSON(none_as_null=True)),
        Column("at", DateTime),
        Column("day", Date),
    )
    metadata.create_all(engine)
    try:

        def row(key: int) -> dict[str, object]:
            return {
                "id": key,
                "data": None,
                "bare": None,
                "at": date(2024, 10, 25),
                "day": datetime(2024, 10, 25, 13, 5),
            }

        with Session(engine) as session, session.begin():
            bulk_insert(session, table, [row(1)])
            session.execute(insert(table), [row(2)])
        with engine.connect() as connection:
            raw = connection.execute(
                text("SELECT data, bare, at, day, data IS NULL, bare IS NULL FROM bulk_probe ORDER BY id")
            ).all()
        assert raw[0] == raw[1], raw
        assert tuple(raw[0][4:]) == (False, True), "JSON null unless none_as_null, then SQL NULL"
    finally:
        metadata.drop_all(engine)


def test_bulk_inserted_rows_are_stored_exactly_as_sqlalchemy_stores_them(engine: Engine) -> None:
    """bulk_insert skips SQLAlchemy's per-value processing on SQLite: what it stores must be what
    SQLAlchemy would have (the same text for dates and JSON), and read back the same on every database."""
    from sqlalchemy import select, text

    from paperboy.db.bulk import bulk_insert

    table = Paper.__table__
    with Session(engine) as session, session.begin():
        bulk_insert(session, table, [_bulk_row("bulk.1")])  # type: ignore[arg-type]
        session.execute(insert(table), [_bulk_row("core.1")])
    with Session(engine) as session:
        bulk, core = (
            session.scalars(select(Paper).where(Paper.arxiv_id == a)).one() for a in ("bulk.1", "core.1")
        )
        columns = [c.key for c in table.columns if c.key not in ("id", "arxiv_id")]
        assert {c: getattr(bulk, c) for c in columns} == {c: getattr(core, c) for c in columns}
        assert bulk.published_at == datetime(2024, 10, 25, 12, 0, 5, 120) and bulk.withdrawn is True
        raw = session.execute(
            text("SELECT * FROM papers WHERE arxiv_id IN ('bulk.1', 'core.1') ORDER BY arxiv_id")
        ).all()
    assert raw[0][2:] == raw[1][2:], "the stored values are identical, byte for byte"
    with pytest.raises(ValueError, match="give authors"), Session(engine) as session:
        bulk_insert(session, table, [{k: v for k, v in _bulk_row("x").items() if k != "authors"}])  # type: ignore[arg-type]
