"""Engine and session construction; nothing is built at import time."""

from __future__ import annotations

import fcntl
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine

from marketplace import messages
from marketplace.errors import Unavailable
from marketplace.settings import Settings

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


# One serving process needs a connection per request it works on at once (24 by default) plus
# its background work; 50 covers anyio's 40 worker threads and more. Fewer than 8 and requests
# would mostly wait for a connection: `heart serve` refuses a budget that leaves a worker less.
DB_PROCESS_CONNECTIONS = 50
DB_PROCESS_CONNECTIONS_FLOOR = 8
DB_POOL_SIZE = 10  # kept open; the rest of a process's share is opened on demand


def process_connections(settings: Settings, processes: int = 1) -> int:
    """PostgreSQL connections one of `processes` serving processes may hold: its share of
    db_max_connections (or the share `heart serve` gave it), at most DB_PROCESS_CONNECTIONS.
    Raises ValueError (in Chinese and English) when a share is below the floor."""
    share = settings.db_pool_connections or settings.db_max_connections // processes
    if share < DB_PROCESS_CONNECTIONS_FLOOR:
        raise ValueError(
            messages.DB_BUDGET_TOO_SMALL.format(
                budget=settings.db_max_connections,
                processes=processes,
                share=share,
                floor=DB_PROCESS_CONNECTIONS_FLOOR,
                needed=DB_PROCESS_CONNECTIONS_FLOOR * processes,
            )
        )
    return min(share, DB_PROCESS_CONNECTIONS)


def check_connection_budget(settings: Settings, processes: int) -> int:
    """Each of `processes` serving processes' connection share, refusing (ValueError, Chinese
    first) a budget that leaves a process less than the floor or that the PostgreSQL server
    itself would not admit (its max_connections less the superuser reserve). A server that
    cannot be reached is not checked here (the app then reports the database down)."""
    share = process_connections(
        settings.model_copy(update={"db_pool_connections": None}), processes
    )
    engine = create_engine(
        settings.resolved_database_url.replace("postgresql://", "postgresql+psycopg://", 1),
        poolclass=NullPool,
    )
    try:
        with engine.connect() as connection:
            server = int(connection.exec_driver_sql("SHOW max_connections").scalar_one())
            reserved = int(
                connection.exec_driver_sql("SHOW superuser_reserved_connections").scalar_one()
            )
    except OperationalError:
        return share
    finally:
        engine.dispose()
    if settings.db_max_connections > server - reserved:
        raise ValueError(
            messages.DB_BUDGET_OVER_SERVER.format(
                budget=settings.db_max_connections,
                server=server,
                reserved=reserved,
                fits=server - reserved,
            )
        )
    return share


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
    # As for SQLite, room for every worker thread, but within this process's share of the
    # connection budget, so N workers never open more than db_max_connections together.
    connections = process_connections(settings)
    pool_size = min(DB_POOL_SIZE, connections)
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=connections - pool_size,
        pool_timeout=settings.db_pool_timeout_seconds,
    )


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN; we emit it ourselves so that
    # write transactions can be taken with BEGIN IMMEDIATE (see serialized_write).
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
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


class FairLock:
    """A first-come, first-served lock that any thread may release (hand-over on release).

    threading.Lock wakes an arbitrary waiter, and SQLite's busy handler only polls, so under
    a steady stream of writers some wait far longer than others; here each waiter gets its own
    gate and `release` opens the oldest one. Releasing from another thread is allowed because
    a web request may enter and leave its session on different worker threads.
    """

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._held = False
        self._waiters: deque[threading.Lock] = deque()

    def acquire(self, timeout: float | None = None) -> bool:
        """Wait for the lock in arrival order; False when `timeout` seconds passed first."""
        with self._mutex:
            if not self._held:
                self._held = True
                return True
            gate = threading.Lock()
            gate.acquire()
            self._waiters.append(gate)
        if gate.acquire(timeout=-1 if timeout is None else timeout):
            return True
        with self._mutex:
            if gate in self._waiters:
                self._waiters.remove(gate)
                return False
        # Handed over between the timeout and taking the mutex: the lock is ours after all.
        gate.acquire()
        return True

    def release(self) -> None:
        with self._mutex:
            if not self._held:
                raise RuntimeError("release of an unlocked FairLock")
            if self._waiters:
                self._waiters.popleft().release()  # ownership passes straight to the oldest
            else:
                self._held = False


# Seconds a writer waits for its turn before giving up (as SQLite's busy_timeout).
WRITE_WAIT_SECONDS = 30.0
_write_locks: dict[str, FairLock] = {}
_write_locks_guard = threading.Lock()


def sqlite_write_lock(engine: Engine) -> FairLock:
    """The in-process writer queue of an SQLite database (one per file, shared by engines)."""
    key = _lock_file(engine) or f"engine:{id(engine)}"
    with _write_locks_guard:
        return _write_locks.setdefault(str(key), FairLock())


def _lock_file(engine: Engine) -> Path | None:
    """The advisory lock file next to an SQLite database file (None for in-memory databases)."""
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).resolve().with_name(Path(database).name + ".write-lock")


@contextmanager
def _sqlite_writer_turn(engine: Engine) -> Iterator[None]:
    """Wait in line for SQLite's write lock: first in this process, then across processes.

    Writers block here instead of in SQLite's busy handler, which polls with sleeps and lets a
    newcomer overtake a writer that has waited for long (under load some waited past the busy
    timeout and failed). Across processes (`heart serve --workers N`, CLI commands) an flock on
    a file next to the database does the queueing; only one thread per process waits on it.
    """
    lock = sqlite_write_lock(engine)
    if not lock.acquire(timeout=WRITE_WAIT_SECONDS):
        raise Unavailable(messages.DATABASE_UNAVAILABLE)
    try:
        path = _lock_file(engine)
        if path is None:
            yield
            return
        with open(path, "a") as handle:  # closing the file releases the flock
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield
    finally:
        lock.release()


@contextmanager
def serialized_write(engine: Engine) -> Iterator[Session]:
    """A committing session whose SQLite transaction takes the write lock first (BEGIN IMMEDIATE).

    A deferred SQLite transaction that reads and later writes fails with "database is locked"
    when another writer committed in between; taking the lock first avoids that, and writers
    queue in arrival order before BEGIN IMMEDIATE (see _sqlite_writer_turn). On PostgreSQL this
    is an ordinary session.
    """
    if engine.dialect.name == "sqlite":
        with _sqlite_writer_turn(engine), _session_on_connection(engine, "BEGIN IMMEDIATE") as s:
            yield s
        return
    with _session_on_connection(engine, None) as session:
        yield session


@contextmanager
def _session_on_connection(engine: Engine, sqlite_begin: str | None) -> Iterator[Session]:
    with engine.connect() as connection:
        if sqlite_begin:
            connection.info["sqlite_begin"] = sqlite_begin
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


# --- writes a read deferred ------------------------------------------------------------------
# A read request (GET) runs in a plain, deferred SQLite transaction that never takes the write
# queue; if it wrote there (an audit of the read, a session's last-seen time) it would fight
# the queued writers for SQLite's lock and fail with 503 under load. Instead such writes are
# collected on the session and applied after the read, in one serialized write.
DEFERRED_WRITES = "heart.deferred_writes"

Write = Callable[[Session], None]


def write_later(session: Session, write: Write, *, even_on_error: bool = False) -> None:
    """Run `write(session)` now, or after the read when `session` is a read request's session.

    `write` must not rely on objects loaded by `session`: it may run in another session.
    Deferred writes are dropped when the request fails, except those `even_on_error` (a failed
    login is counted although the login answers with an error).
    """
    pending = session.info.get(DEFERRED_WRITES)
    if pending is None:
        write(session)
    else:
        pending.append((write, even_on_error))


def defer_writes(session: Session) -> None:
    """Make write_later collect the writes of `session` instead of running them."""
    session.info[DEFERRED_WRITES] = []


def take_deferred_writes(session: Session, *, failed: bool = False) -> list[Write]:
    """The writes collected on `session` (only those kept on error when `failed`)."""
    pending = session.info.pop(DEFERRED_WRITES, None) or []
    return [write for write, even_on_error in pending if even_on_error or not failed]


def apply_writes(engine: Engine, writes: list[Write]) -> None:
    """Apply deferred writes in one serialized write transaction."""
    with serialized_write(engine) as session:
        for write in writes:
            write(session)


def is_sqlite(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def run_migrations(engine: Engine, revision: str = "heads") -> None:
    """Upgrade the database schema to the newest revision(s)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.connect() as connection, _sqlite_foreign_keys_deferred(connection):
        with connection.begin():
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            _check_foreign_keys(connection)


@contextmanager
def _sqlite_foreign_keys_deferred(connection: Connection) -> Iterator[None]:
    """SQLite's way to change a table that others reference (https://sqlite.org/lang_altertable.html):
    foreign keys off outside the transaction, the batch migration copies and drops the table,
    `foreign_key_check` before the commit, foreign keys back on. With them on, dropping the old
    copy of a referenced table (resource, with its files and uses) failed on existing data."""
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.driver_connection
    assert raw is not None
    raw.execute("PRAGMA foreign_keys=OFF")  # autocommit connection: takes effect at once
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def _check_foreign_keys(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:  # the transaction rolls back: the database stays at its old revision
        raise RuntimeError(messages.MIGRATION_BROKE_FOREIGN_KEYS.format(rows=broken[:5]))


def current_revisions(engine: Engine) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return set(MigrationContext.configure(connection).get_current_heads())
