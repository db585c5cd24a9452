"""A fresh migrated database per test (SQLite file or PostgreSQL database): the scheduler commits
from its own threads and processes, so the shared rolled-back test transaction cannot host it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from marketplace.db import make_engine, run_migrations
from marketplace.settings import Settings
from tests.conftest import (
    BACKENDS,
    _pg_admin_url,
    create_pg_database,
    drop_pg_database,
    make_settings,
    seed_reference,
)


class FakeClock:
    """An injectable clock: the scheduler asks it for now; tests move it forward."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class OpsDb:
    settings: Settings
    engine: Engine
    url: str
    data_dir: Path

    def settings_with(self, **overrides: object) -> Settings:
        return make_settings(self.data_dir, self.url, **overrides)


@pytest.fixture(params=BACKENDS)
def ops_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpsDb]:
    admin_url = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ops.db'}"
    else:
        admin_url = _pg_admin_url()
        url = create_pg_database(admin_url)
    data_dir = tmp_path / "data"
    settings = make_settings(data_dir, url)
    engine = make_engine(settings)
    try:
        run_migrations(engine)
        seed_reference(engine)
        yield OpsDb(settings=settings, engine=engine, url=url, data_dir=data_dir)
    finally:
        engine.dispose()
        if admin_url is not None:
            drop_pg_database(admin_url, url)


@pytest.fixture
def clock() -> FakeClock:
    # A Wednesday 10:00:05 in Shanghai, a little past a minute boundary.
    return FakeClock(datetime(2027, 3, 3, 2, 0, 5, tzinfo=UTC))
