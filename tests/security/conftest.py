"""One world per backend and module for the security suites; requests run in savepoints."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tests.conftest import make_settings
from tests.matching.db_support import fake_relevance
from tests.security.world import World, build_world
from web.app import create_app
from web.deps import get_read_session, get_session


@dataclass
class Matrix:
    client: TestClient
    session: Session
    world: World


@pytest.fixture(scope="module")
def matrix(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    settings = make_settings(
        tmp_path_factory.mktemp("matrix"), engine.url.render_as_string(hide_password=False)
    )
    try:
        world = build_world(session, settings)
        app = create_app(settings)
        app.state.engine = engine
        app.state.match_relevance = fake_relevance

        def flush_only() -> Iterator[Session]:
            yield session
            session.flush()

        app.dependency_overrides[get_session] = flush_only
        app.dependency_overrides[get_read_session] = flush_only
        with TestClient(app) as client:
            yield Matrix(client, session, world)
    finally:
        session.close()
        transaction.rollback()
        connection.close()


def in_savepoint(matrix: Matrix, call):  # type: ignore[no-untyped-def]
    """Run `call()` inside a savepoint that is rolled back, whatever happens."""
    savepoint = matrix.session.begin_nested()
    try:
        return call()
    finally:
        if savepoint.is_active:
            savepoint.rollback()
        matrix.session.expire_all()
