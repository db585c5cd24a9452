"""`heart services expire`: lapsed balances become expiry entries in the ledger, once."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from marketplace.accounts.principal import system_principal
from marketplace.allocation.models import LedgerEntry
from marketplace.allocation.service import approve_application
from marketplace.applications.models import ApplicationCreate, ServiceApplication
from marketplace.applications.service import create_application
from marketplace.audit.service import Actor
from marketplace.db import make_engine, session_scope
from marketplace.districts.service import find_district
from marketplace.services.models import ServiceCreate
from marketplace.services.service import create_service, today
from tests.conftest import TEST_SECRET, make_settings
from web.cli import app

runner = CliRunner()
ACTOR = Actor.system("test")
SYSTEM = system_principal("test")


@pytest.fixture
def env(fresh_database_url: str, tmp_path: Path) -> dict[str, str]:
    env = {
        "HEART_ENVIRONMENT": "production",
        "HEART_SECRET_KEY": TEST_SECRET,
        "HEART_DATABASE_URL": fresh_database_url,
        "HEART_DATA_DIR": str(tmp_path / "data"),
    }
    assert runner.invoke(app, ["init"], env=env).exit_code == 0
    return env


def allocate_four_of_ten(url: str, tmp_path: Path) -> tuple[int, int]:
    engine = make_engine(make_settings(tmp_path, url))
    try:
        with session_scope(engine) as session:
            service = create_service(
                session=session,
                data=ServiceCreate(
                    name="测评工具授权",
                    kind="assessment_licence",
                    unit="份",
                    quantity=Decimal(10),
                    valid_from=today() - timedelta(days=30),
                    valid_to=today() + timedelta(days=5),
                ),
                user=SYSTEM,
            )
            district = find_district(session=session, name="西安市/碑林区").id
            application = create_application(
                session=session,
                data=ApplicationCreate(service_id=service.id, quantity=Decimal(4), purpose="测评"),
                district_id=district,
                user=SYSTEM,
            )
            approve_application(
                session=session, application_id=application.id, quantity=Decimal(4), user=SYSTEM
            )
            return service.id, application.id
    finally:
        engine.dispose()


def ledger(url: str, tmp_path: Path, service_id: int) -> tuple[list[tuple[str, int]], str]:
    engine = make_engine(make_settings(tmp_path, url))
    try:
        with session_scope(engine) as session:
            entries = session.exec(
                select(LedgerEntry.kind, LedgerEntry.hundredths)
                .where(LedgerEntry.service_id == service_id)
                .order_by(LedgerEntry.id)
            ).all()
            status = session.exec(select(ServiceApplication.status)).one()
            return [tuple(e) for e in entries], status
    finally:
        engine.dispose()


def test_expire_writes_the_unused_balance_of_a_lapsed_service_to_the_ledger_once(
    env, fresh_database_url, tmp_path
):
    service_id, _ = allocate_four_of_ten(fresh_database_url, tmp_path)
    after_validity = (today() + timedelta(days=6)).isoformat()
    first = runner.invoke(app, ["services", "expire", "--on", after_validity], env=env)
    assert first.exit_code == 0, first.output
    assert "已登记过期 1 条" in first.output
    entries, status = ledger(fresh_database_url, tmp_path, service_id)
    assert entries[-1] == ("expiry", 400) and status == "closed"
    again = runner.invoke(app, ["services", "expire", "--on", after_validity], env=env)
    assert again.exit_code == 0 and "已登记过期 0 条" in again.output
    assert ledger(fresh_database_url, tmp_path, service_id)[0] == entries


def test_expire_leaves_services_still_valid_alone(env, fresh_database_url, tmp_path):
    service_id, _ = allocate_four_of_ten(fresh_database_url, tmp_path)
    result = runner.invoke(app, ["services", "expire"], env=env)
    assert result.exit_code == 0 and "已登记过期 0 条" in result.output
    kinds = [kind for kind, _ in ledger(fresh_database_url, tmp_path, service_id)[0]]
    assert "expiry" not in kinds


def test_expire_with_a_malformed_date_is_exit_2(env):
    result = runner.invoke(app, ["services", "expire", "--on", "tomorrow"], env=env)
    assert result.exit_code == 2 and "YYYY-MM-DD" in result.output
