"""Property: any sequence of approvals, use, releases, closes and expiry keeps the ledger exact."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import func, select

from marketplace.accounts.principal import system_principal
from marketplace.allocation.balances import Totals, ledger_totals
from marketplace.allocation.models import LedgerEntry
from marketplace.allocation.service import (
    approve_application,
    close_application,
    consume_supervision_hours,
    expire_service,
    pool_balance,
    record_usage,
    release_allocation,
)
from marketplace.applications.models import ApplicationCreate, ServiceApplication
from marketplace.applications.service import create_application
from marketplace.audit.service import Actor
from marketplace.districts.service import find_district
from marketplace.errors import DomainError
from marketplace.services.models import ProcuredService, ServiceCreate
from marketplace.services.service import create_service, today

ACTOR = Actor.system("property")
SYSTEM = system_principal("property")
DISTRICTS = ["西安市/碑林区", "西安市/雁塔区", "宝鸡市/渭滨区"]
BOUGHT = 12

amounts = st.sampled_from([Decimal("0.5"), Decimal(1), Decimal(2), Decimal("2.5"), Decimal(4)])
operation = st.one_of(
    st.tuples(st.just("apply"), st.integers(0, 2), amounts),
    st.tuples(st.just("approve"), st.integers(0, 7), amounts),
    st.tuples(st.just("use"), st.integers(0, 7), amounts),
    st.tuples(st.just("release"), st.integers(0, 7), amounts),
    st.tuples(st.just("hours"), st.integers(0, 2), amounts),
    st.tuples(st.just("close"), st.integers(0, 7), amounts),
    st.tuples(st.just("expire"), st.just(0), amounts),
)


def run(
    session, service: ProcuredService, districts: list[int], applications: list[int], op
) -> None:
    kind, index, amount = op
    if kind == "apply":
        application = create_application(
            session=session,
            data=ApplicationCreate(service_id=service.id, quantity=amount * 2, purpose="性质测试"),
            district_id=districts[index],
            user=SYSTEM,
        )
        applications.append(application.id)
        return
    if kind == "hours":
        consume_supervision_hours(
            session=session,
            district_id=districts[index],
            hours=float(amount),
            reference="",
            user=SYSTEM,
        )
        return
    if kind == "expire":
        service.valid_to = today() - timedelta(days=1)
        session.add(service)
        session.flush()
        expire_service(session=session, service_id=service.id, user=SYSTEM)
        return
    if not applications:
        return
    application_id = applications[index % len(applications)]
    if kind == "approve":
        approve_application(
            session=session, application_id=application_id, quantity=amount, user=SYSTEM
        )
    elif kind == "use":
        record_usage(session=session, application_id=application_id, quantity=amount, user=SYSTEM)
    elif kind == "release":
        release_allocation(
            session=session, application_id=application_id, quantity=amount, user=SYSTEM
        )
    elif kind == "close":
        close_application(session=session, application_id=application_id, user=SYSTEM)


def ledger_size(session, service_id: int) -> int:
    return session.exec(
        select(func.count()).select_from(LedgerEntry).where(LedgerEntry.service_id == service_id)
    ).one()


def check_invariants(session, service: ProcuredService, applications: list[int]) -> None:
    pool = pool_balance(session=session, service_id=service.id)
    assert pool.reconciled
    assert pool.remaining >= 0
    assert pool.bought == pool.remaining + pool.held_by_districts + pool.consumed + pool.expired
    per_application = ledger_totals(session=session, by="application", application_ids=applications)
    for application_id in applications:
        totals = per_application.get(application_id, Totals())
        application = session.get(ServiceApplication, application_id)
        assert totals.held >= 0
        assert totals.allocated == (application.approved_hundredths or 0)
        if application.status in ("submitted", "rejected", "withdrawn"):
            assert totals == Totals()
        if application.status == "closed":
            assert totals.held == 0


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(operations=st.lists(operation, min_size=1, max_size=14))
def test_random_operation_sequences_keep_the_ledger_reconciled_and_balances_non_negative(
    session, operations
):
    savepoint = session.begin_nested()
    try:
        districts = [find_district(session=session, name=name).id for name in DISTRICTS]
        service = create_service(
            session=session,
            data=ServiceCreate(
                name="性质测试督导包",
                kind="supervision_hours",
                unit="小时",
                quantity=Decimal(BOUGHT),
                valid_from=today() - timedelta(days=10),
                valid_to=today() + timedelta(days=10),
            ),
            user=SYSTEM,
        )
        applications: list[int] = []
        for op in operations:
            before = ledger_size(session, service.id)
            try:
                run(session, service, districts, applications, op)
            except DomainError:
                assert ledger_size(session, service.id) == before  # a refusal writes nothing
            check_invariants(session, service, applications)
    finally:
        savepoint.rollback()
