"""Concurrent approvals over HTTP on a real, committed database never oversubscribe a service."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from marketplace.accounts.principal import system_principal
from marketplace.allocation.models import LedgerEntry
from marketplace.applications.models import ApplicationCreate
from marketplace.applications.service import create_application
from marketplace.db import make_engine, run_migrations, session_scope
from marketplace.districts.models import District
from marketplace.vocabulary import Role
from tests.conftest import auth_headers, make_service, make_settings, seed_reference
from tests.web.allocation_support import quick_user
from web.app import create_app

THREADS = 20


@pytest.fixture
def live(fresh_database_url, tmp_path):
    """An app on a freshly migrated database whose requests really commit."""
    settings = make_settings(tmp_path, fresh_database_url)
    engine = make_engine(settings)
    run_migrations(engine)
    seed_reference(engine)
    app = create_app(settings)
    app.state.engine = engine
    with TestClient(app) as client:
        yield client, engine, settings
    engine.dispose()


def setup_service(engine, settings, *, quantity: int, applications: int, each: int):
    actor = system_principal("test")
    with session_scope(engine) as session:
        service = make_service(
            session, name="专家督导小时包", quantity=Decimal(quantity), user=actor
        )
        districts = session.exec(
            select(District.id).order_by(District.id).limit(applications)
        ).all()
        ids = [
            create_application(
                session=session,
                data=ApplicationCreate(
                    service_id=service.id, quantity=Decimal(each), purpose="并发测试"
                ),
                district_id=d,
                user=actor,
            ).id
            for d in districts
        ]
        staff = auth_headers(quick_user(session, Role.staff), settings)
    return service.id, ids, staff


def test_twenty_concurrent_approvals_never_allocate_more_than_was_bought(live):
    client, engine, settings = live
    service_id, application_ids, staff = setup_service(
        engine, settings, quantity=5, applications=THREADS, each=1
    )

    def approve(application_id: int) -> int:
        response = client.post(
            f"/api/applications/{application_id}/approve", json={"quantity": 1}, headers=staff
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        codes = Counter(pool.map(approve, application_ids))

    assert codes == Counter({200: 5, 409: 15})
    detail = client.get(f"/api/services/{service_id}", headers=staff).json()
    assert detail["remaining_quantity"] == 0 and detail["allocated_quantity"] == 5
    with session_scope(engine) as session:
        allocated = session.exec(
            select(func.sum(LedgerEntry.hundredths)).where(LedgerEntry.service_id == service_id)
        ).one()
    assert allocated == 500
    ledger = client.get(f"/api/services/{service_id}/ledger", headers=staff).json()
    assert ledger["pool"]["reconciled"] is True


def test_the_same_application_approved_by_twenty_clients_at_once_is_allocated_once(live):
    client, engine, settings = live
    service_id, (application_id,), staff = setup_service(
        engine, settings, quantity=10, applications=1, each=3
    )

    def approve(_: int) -> int:
        return client.post(
            f"/api/applications/{application_id}/approve", json={"quantity": 3}, headers=staff
        ).status_code

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        codes = Counter(pool.map(approve, range(THREADS)))

    assert codes == Counter({200: 1, 409: THREADS - 1})
    assert (
        client.get(f"/api/services/{service_id}", headers=staff).json()["remaining_quantity"] == 7
    )
