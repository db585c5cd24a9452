"""SQLite writers queue in arrival order before BEGIN IMMEDIATE, inside and across processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from sqlalchemy import event, text

from marketplace.db import FairLock, make_engine, serialized_write
from marketplace.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def sqlite_engine_without_busy_wait(path: Path):  # type: ignore[no-untyped-def]
    """An engine on `path` whose connections fail at once on a held lock (busy_timeout 0), so
    any writer that reached SQLite's busy handler would raise instead of waiting."""
    engine = make_engine(Settings(environment="test", database_url=f"sqlite:///{path}"))

    @event.listens_for(engine, "connect")
    def _no_busy_wait(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    return engine


def make_counter(path: Path) -> None:
    engine = sqlite_engine_without_busy_wait(path)
    with serialized_write(engine) as session:
        session.execute(text("CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER)"))
        session.execute(text("INSERT INTO counter VALUES (1, 0)"))
    engine.dispose()


def increment(engine, times: int) -> None:  # type: ignore[no-untyped-def]
    """Read-modify-write increments, each in its own serialized transaction."""
    for _ in range(times):
        with serialized_write(engine) as session:
            n = session.execute(text("SELECT n FROM counter WHERE id = 1")).scalar_one()
            time.sleep(0.0005)  # hold the lock long enough for the others to pile up
            session.execute(text("UPDATE counter SET n = :n WHERE id = 1"), {"n": n + 1})


def counter_value(path: Path) -> int:
    engine = sqlite_engine_without_busy_wait(path)
    with serialized_write(engine) as session:
        value = session.execute(text("SELECT n FROM counter WHERE id = 1")).scalar_one()
    engine.dispose()
    return value


def test_concurrent_sqlite_writers_all_commit_without_meeting_a_busy_lock(tmp_path):
    path = tmp_path / "queue.db"
    make_counter(path)
    engine = sqlite_engine_without_busy_wait(path)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            increment(engine, 10)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()

    assert errors == []
    assert counter_value(path) == 160


def test_sqlite_writers_in_separate_processes_queue_instead_of_failing(tmp_path):
    path = tmp_path / "queue.db"
    make_counter(path)
    script = textwrap.dedent(
        f"""
        import sys, threading
        sys.path.insert(0, {str(ROOT)!r})
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from pathlib import Path
        from test_write_queue import increment, sqlite_engine_without_busy_wait
        engine = sqlite_engine_without_busy_wait(Path({str(path)!r}))
        threads = [threading.Thread(target=increment, args=(engine, 15)) for _ in range(3)]
        for t in threads: t.start()
        for t in threads: t.join()
        """
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    failures = [p.stderr.read().decode() for p in processes if p.wait(timeout=120) != 0]  # type: ignore[union-attr]

    assert failures == []
    assert counter_value(path) == 2 * 3 * 15


def test_fair_lock_serves_waiters_in_arrival_order():
    lock = FairLock()
    lock.acquire()
    served: list[int] = []
    arrived = threading.Semaphore(0)

    def waiter(n: int) -> None:
        arrived.release()
        lock.acquire()
        served.append(n)
        lock.release()

    threads = []
    for n in range(8):
        thread = threading.Thread(target=waiter, args=(n,))
        thread.start()
        arrived.acquire()
        while len(lock._waiters) < n + 1:  # until this waiter stands in the queue
            time.sleep(0.001)
        threads.append(thread)
    lock.release()
    for thread in threads:
        thread.join()

    assert served == list(range(8))


def test_fair_lock_waiter_that_times_out_leaves_the_queue_and_the_next_one_is_served():
    lock = FairLock()
    lock.acquire()

    assert lock.acquire(timeout=0.01) is False
    got_it = threading.Event()
    thread = threading.Thread(target=lambda: (lock.acquire(), got_it.set(), lock.release()))
    thread.start()
    while not lock._waiters:
        time.sleep(0.001)
    lock.release()
    thread.join(timeout=5)

    assert got_it.is_set()
    assert lock.acquire(timeout=0) is True
