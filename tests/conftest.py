"""Shared fixtures: settings, one migrated database per backend (SQLite, PostgreSQL) per run,
each test in a rolled-back transaction, and the app built through create_app."""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from marketplace.accounts.models import User, UserCreate
from marketplace.accounts.principal import system_principal
from marketplace.accounts.service import create_user, issue_token
from marketplace.db import (
    defer_writes,
    make_engine,
    run_migrations,
    session_scope,
    take_deferred_writes,
)
from marketplace.districts.service import seed_regions
from marketplace.services.models import ProcuredService, ServiceCreate
from marketplace.services.service import create_service, today
from marketplace.settings import Settings
from marketplace.specialties.service import seed_specialties
from marketplace.vocabulary import Role
from web.app import create_app
from web.deps import get_read_session, get_session

REPO = Path(__file__).resolve().parent.parent
# the shared eval set beside the clone (found from a worktree nested deeper too)
SHARED_DEV = next(
    (
        d / "shared" / "eval" / "dev"
        for d in REPO.parents
        if (d / "shared" / "eval" / "dev").is_dir()
    ),
    REPO.parent / "shared" / "eval" / "dev",
)
DEMO_EXPERTS = REPO / "demo" / "experts.jsonl"
TEST_SECRET = "test-secret-key-" + "k" * 40
TEST_PASSWORD = "test-pass-2026"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.pg)]
# Tests are hermetic and fast: no dense encoder unless a test loads one itself (the Chinese
# model's own tests are marked slow; CLI tests inherit this through the environment).
os.environ.setdefault("HEART_EMBED_MODEL", "none")


def _pg_admin_url() -> str:
    url = os.environ.get("HEART_TEST_PG_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("HEART_TEST_PG_URL is not set: the PostgreSQL suite must run in CI")
        pytest.skip("HEART_TEST_PG_URL not set (run scripts/test to start PostgreSQL)")
    return url


def _psycopg(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def create_pg_database(admin_url: str) -> str:
    """A new empty database on the test server; returns its URL."""
    name = f"heart_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_psycopg(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(admin_url: str, url: str) -> None:
    name = make_url(url).database
    admin = create_engine(_psycopg(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except DBAPIError as exc:  # a leftover test database is harmless; a failed teardown is not
        warnings.warn(f"could not drop test database {name}: {exc.orig}", stacklevel=2)
    finally:
        admin.dispose()


def make_settings(data_dir: Path, database_url: str | None = None, **overrides: object) -> Settings:
    overrides.setdefault("search_drain_seconds", 0)
    overrides.setdefault("scheduler_enabled", False)  # tests that need it start their own
    overrides.setdefault("embed_model", "none")
    return Settings(
        environment="test",
        secret_key=TEST_SECRET,
        data_dir=data_dir,
        database_url=database_url,
        **overrides,  # type: ignore[arg-type]
    )


def seed_reference(engine: Engine) -> None:
    with session_scope(engine) as session:
        seed_regions(session=session)
        seed_specialties(session=session)


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One database per backend for the whole run, migrated once."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    admin_url = _pg_admin_url()
    url = create_pg_database(admin_url)
    yield url
    drop_pg_database(admin_url, url)


@pytest.fixture(scope="session")
def engine(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    settings = make_settings(tmp_path_factory.mktemp("data"), database_url)
    engine = make_engine(settings)
    run_migrations(engine)
    seed_reference(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(engine: Engine, tmp_path: Path) -> Settings:
    return make_settings(tmp_path, engine.url.render_as_string(hide_password=False))


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back after the test."""
    connection = engine.connect()
    transaction = connection.begin()
    session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield session
    finally:
        session.close()
        transaction.rollback()
        connection.close()


@pytest.fixture
def app(settings: Settings, engine: Engine, session: Session):
    app = create_app(settings)
    app.state.engine = engine

    def _test_session() -> Iterator[Session]:
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise

    def _test_read_session() -> Iterator[Session]:
        # As get_read_session: writes are deferred to after the route; on an error only those
        # kept on error (a failed login's count) are applied, after the rollback.
        defer_writes(session)
        try:
            yield session
        except Exception:
            writes = take_deferred_writes(session, failed=True)
            session.rollback()
            for write in writes:
                write(session)
            session.commit()
            raise
        for write in take_deferred_writes(session):
            write(session)
        session.commit()

    app.dependency_overrides[get_session] = _test_session
    app.dependency_overrides[get_read_session] = _test_read_session
    return app


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


@pytest.fixture(params=BACKENDS)
def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, unmigrated database of each backend, for tests of whole commands."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    admin_url = _pg_admin_url()
    url = create_pg_database(admin_url)
    yield url
    drop_pg_database(admin_url, url)


# --- factories -------------------------------------------------------------------------


def make_user(
    session: Session,
    role: Role,
    *,
    username: str | None = None,
    district: str | None = None,
    expert_id: str | None = None,
) -> User:
    if role == Role.district and district is None:
        district = "西安市/碑林区"
    user = create_user(
        session=session,
        data=UserCreate(
            username=username or f"{role.value}-{uuid.uuid4().hex[:8]}",
            password=TEST_PASSWORD,
            role=role,
            district=district,
            expert_id=expert_id,
        ),
        user=system_principal("test"),
    )
    session.flush()
    return user


def make_service(
    session: Session,
    *,
    name: str = "督导小时包",
    kind: str = "supervision_hours",
    unit: str = "小时",
    quantity: int | Decimal = 10,
    days: int = 90,
    user: User | None = None,
) -> ProcuredService:
    """A procured service valid from yesterday for `days` days, entered by the system (or `user`)."""
    service = create_service(
        session=session,
        data=ServiceCreate(
            name=name,
            kind=kind,
            unit=unit,
            quantity=quantity,
            valid_from=today() - timedelta(days=1),
            valid_to=today() + timedelta(days=days),
        ),
        user=user or system_principal("test"),
    )
    session.flush()
    return service


def auth_headers(user: User, settings: Settings, session: Session | None = None) -> dict[str, str]:
    """A bearer token for `user`, its login session opened in `session` (default: the user's).

    Commits `session`: in tests that is the savepoint the test's transaction rolls back.
    """
    session = session or Session.object_session(user)
    assert session is not None, "auth_headers needs the user's session (pass session=)"
    token = issue_token(session=session, user=user, secret=settings.secret_key, minutes=30)
    # Committed (in the test's savepoint) so a refused request's rollback keeps the token valid.
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def expert_record(**overrides: object) -> dict:
    """A valid import-format record."""
    record = {
        "id": "T00001",
        "name": "测试专家",
        "domain": "psychology",
        "title": "心理咨询师",
        "organization": "西安市测试心理中心",
        "region": {"province": "陕西省", "city": "西安市", "district": "碑林区"},
        "specialties": ["心理危机干预", "自杀风险评估"],
        "bio": "长期从事学校心理危机干预工作。",
        "certifications": ["国家二级心理咨询师"],
        "formats": ["online", "onsite"],
        "service_types": ["supervision", "crisis_support"],
        "languages": ["普通话"],
        "years_experience": 10,
        "monthly_capacity_hours": 20,
    }
    record.update(overrides)
    return record


# --- proof that the engine suites ran ---------------------------------------------------
# scripts/test reads this file and fails the run when a required suite executed no test.

_MARKERS_OF: dict[str, set[str]] = {}
_RAN: dict[str, int] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        _MARKERS_OF[item.nodeid] = {m.name for m in item.iter_markers()}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:
        for marker in _MARKERS_OF.get(report.nodeid, ()) | {"all"}:
            _RAN[marker] = _RAN.get(marker, 0) + 1


def pytest_sessionfinish(session: pytest.Session) -> None:
    target = os.environ.get("HEART_TEST_COUNTS_FILE")
    if target:
        import json

        Path(target).write_text(json.dumps(_RAN, sort_keys=True), encoding="utf-8")


@pytest.fixture
def env(fresh_database_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a `heart` CLI run against a fresh database of each backend."""
    return {
        "HEART_ENVIRONMENT": "production",
        "HEART_SECRET_KEY": TEST_SECRET,
        "HEART_DATABASE_URL": fresh_database_url,
        "HEART_DATA_DIR": str(tmp_path / "data"),
        "HEART_EMBED_MODEL": "none",
        "HEART_SEARCH_DRAIN_SECONDS": "0",
    }
