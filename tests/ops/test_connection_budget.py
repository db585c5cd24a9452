"""PostgreSQL connections across `heart serve --workers N`: each worker's pool is its share of
HEART_DB_MAX_CONNECTIONS, so all of them together stay within the budget however busy; a budget
that leaves a worker too few connections, or that the server would not admit, is refused before
the server starts, with a message that says what to change."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import TimeoutError as PoolTimeout
from typer.testing import CliRunner

from marketplace.db import DB_PROCESS_CONNECTIONS_FLOOR, make_engine
from marketplace.settings import Settings
from tests.conftest import TEST_SECRET, _pg_admin_url, create_pg_database, drop_pg_database
from web.cli import app as cli

pytestmark = pytest.mark.pg
runner = CliRunner()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[str]:
    admin = _pg_admin_url()
    url = create_pg_database(admin)
    yield url
    drop_pg_database(admin, url)


@pytest.fixture
def serve(database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Runs `heart serve ARGS` with uvicorn stubbed out; returns (result, what uvicorn got)."""
    started: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.append(options))
    monkeypatch.delenv("HEART_DB_POOL_CONNECTIONS", raising=False)  # serve sets it for workers
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    env = {
        "HEART_ENVIRONMENT": "production",
        "HEART_SECRET_KEY": TEST_SECRET,
        "HEART_DATABASE_URL": database,
        "HEART_DATA_DIR": str(tmp_path / "data"),
    }

    def run(*args: str, **extra: str):
        return runner.invoke(cli, ["serve", *args], env={**env, **extra}), started

    return run


def connections_to(database: str) -> int:
    admin = make_engine(Settings(database_url=_pg_admin_url(), environment="test"))
    try:
        with admin.connect() as connection:
            return connection.execute(
                text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name"),
                {"name": make_url(database).database},
            ).scalar_one()
    finally:
        admin.dispose()


def test_three_busy_workers_hold_no_more_connections_than_the_budget(serve, database, tmp_path):
    result, started = serve("--workers", "3", HEART_DB_MAX_CONNECTIONS="30")
    assert result.exit_code == 0, result.output
    assert started and started[0]["workers"] == 3
    share = int(os.environ["HEART_DB_POOL_CONNECTIONS"])
    assert share == 10
    # Each worker builds its engine from the environment, as create_app() does, and every
    # one of them is as busy as it can be: each takes connections until its pool has none.
    workers = [
        make_engine(
            Settings(
                environment="test",
                database_url=database,
                data_dir=tmp_path / "data",
                db_max_connections=30,
                db_pool_connections=share,
                db_pool_timeout_seconds=0.2,
            )
        )
        for _ in range(3)
    ]
    held = []
    try:
        for engine in workers:
            taken = 0
            while True:
                try:
                    held.append(engine.connect())
                except PoolTimeout:
                    break
                taken += 1
                assert taken <= share, "a worker's pool went past its share"
            assert taken == share
        assert connections_to(database) == 30  # every share in use, and not one more
    finally:
        for connection in held:
            connection.close()
        for engine in workers:
            engine.dispose()


def test_one_process_keeps_the_pool_it_had(serve):
    result, started = serve()
    assert result.exit_code == 0, result.output
    assert os.environ["HEART_DB_POOL_CONNECTIONS"] == "50"  # 80 // 1, at most 50


def test_a_budget_too_small_for_the_workers_is_refused_before_starting(serve):
    result, started = serve("--workers", "4", HEART_DB_MAX_CONNECTIONS="20")
    assert result.exit_code == 2 and not started
    said = "".join(result.output.split())
    assert "HEART_DB_MAX_CONNECTIONS=20分给4个工作进程，每个只有5个连接" in said
    assert f"至少{DB_PROCESS_CONNECTIONS_FLOOR * 4}" in said and "--workers" in said


def test_a_budget_the_server_would_not_admit_is_refused_before_starting(serve):
    result, started = serve("--workers", "2", HEART_DB_MAX_CONNECTIONS="5000")
    assert result.exit_code == 2 and not started
    said = "".join(result.output.split())
    assert "超过了PostgreSQL允许的连接数" in said and "max_connections=" in said
