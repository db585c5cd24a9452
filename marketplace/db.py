"""Engine and session construction; nothing is built at import time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from marketplace.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def make_engine(settings: Settings) -> Engine:
    """Build the SQLAlchemy engine for the configured database."""
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # More pooled connections than the server's worker threads (anyio's 40): a writer that
        # holds SQLite's lock must never wait for a connection or thread that requests queued
        # behind the lock are holding (under load that stalled every request for ~30 s).
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=10,
            max_overflow=70,
        )
        _configure_sqlite(engine)
        return engine
    if url.startswith("postgresql://"):
        url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    # As for SQLite: room for every worker thread (anyio's 40) plus background work.
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=40)


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN; we emit it ourselves so that
    # write transactions can be taken with BEGIN IMMEDIATE (see serialized_write).
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):  # type: ignore[no-untyped-def]
        mode = connection.info.pop("sqlite_begin", "BEGIN")
        connection.exec_driver_sql(mode)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise


@contextmanager
def serialized_write(engine: Engine) -> Iterator[Session]:
    """A committing session whose SQLite transaction takes the write lock first (BEGIN IMMEDIATE).

    A deferred SQLite transaction that reads and later writes fails with "database is locked"
    when another writer committed in between; taking the lock first makes concurrent writers
    queue (busy_timeout) instead. On PostgreSQL this is an ordinary session.
    """
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.info["sqlite_begin"] = "BEGIN IMMEDIATE"
        try:
            with Session(bind=connection, expire_on_commit=False) as session:
                try:
                    yield session
                    session.commit()
                except Exception:
                    session.rollback()
                    raise
        finally:
            connection.info.pop("sqlite_begin", None)


def is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def run_migrations(engine: Engine, revision: str = "heads") -> None:
    """Upgrade the database schema to the newest revision(s)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revisions(engine: Engine) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())
