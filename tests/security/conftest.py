"""One world per backend and module for the security suites; requests run in savepoints."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from marketplace.experts.models import Expert
from search.indexing import expert_documents
from search.service import SearchService
from tests.conftest import make_settings
from tests.matching.db_support import fake_relevance
from tests.security.world import World, build_world
from web.app import create_app
from web.deps import get_read_session, get_session

SESSION_OPTIONS: dict[str, Any] = {
    "join_transaction_mode": "create_savepoint",
    "expire_on_commit": False,
}
CASE_SAVEPOINT = "heart_case"


@dataclass
class Matrix:
    client: TestClient
    session: Session
    world: World


@pytest.fixture(scope="module")
def matrix(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(bind=connection, **SESSION_OPTIONS)
    settings = make_settings(
        tmp_path_factory.mktemp("matrix"), engine.url.render_as_string(hide_password=False)
    )
    try:
        world = build_world(session, settings)
        app = create_app(settings)
        app.state.engine = engine
        # The world's experts are in the search index, as in a hub that ran `heart index` (an
        # empty index answers every search with 503 "index missing", not with the route).
        search = SearchService(settings=settings, engine=engine)
        search.backend.upsert(
            expert_documents(session, session.exec(select(Expert.id)).all(), search.analyzer)
        )
        app.state.search = search
        app.state.match_relevance = fake_relevance

        def request_session() -> Iterator[Session]:
            # Each request has its own session on the module's connection, inside the caller's
            # savepoint (`rolled_back`): the app's commits release only the request's own
            # savepoints, so the caller's rollback discards every write of the request.
            # One function for both dependencies, so a request's reads and writes share it.
            with Session(bind=connection, **SESSION_OPTIONS) as request:
                yield request
                request.commit()

        app.dependency_overrides[get_session] = request_session
        app.dependency_overrides[get_read_session] = request_session
        with TestClient(app) as client:
            yield Matrix(client, session, world)
    finally:
        session.close()
        transaction.rollback()
        connection.close()


@contextmanager
def rolled_back(matrix: Matrix) -> Iterator[None]:
    """Everything done inside is undone afterwards, and the savepoint is gone with it.

    SQLAlchemy's nested rollback leaves its savepoint established; over thousands of cases the
    savepoints stacked up, and PostgreSQL gave each one a subtransaction id to lock when a
    later case wrote, until its lock table ran out ("out of shared memory"). So the savepoint
    is rolled back and released by hand, on the session's connection (whose own transaction is
    begun first, so that it stays outside).
    """
    connection = matrix.session.connection()
    connection.exec_driver_sql(f"SAVEPOINT {CASE_SAVEPOINT}")
    try:
        yield
    finally:
        connection.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {CASE_SAVEPOINT}")
        connection.exec_driver_sql(f"RELEASE SAVEPOINT {CASE_SAVEPOINT}")
        matrix.session.expire_all()


def in_savepoint(matrix: Matrix, call):  # type: ignore[no-untyped-def]
    """Run `call()` inside a savepoint that is rolled back, whatever happens."""
    with rolled_back(matrix):
        return call()
