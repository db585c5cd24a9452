"""The demo procured services and applications."""

from sqlmodel import select

from marketplace.accounts.principal import system_principal
from marketplace.allocation.service import fair_proposal, pool_balance
from marketplace.applications.models import ServiceApplication
from marketplace.services.demo import seed_demo_services
from marketplace.services.models import ProcuredService


def test_demo_services_are_seeded_once_with_applications_that_reconcile(session):
    assert seed_demo_services(session=session) == 4
    assert seed_demo_services(session=session) == 0
    services = session.exec(select(ProcuredService).order_by(ProcuredService.id)).all()
    names = [s.name for s in services]
    assert any("心理测评量表授权" in n for n in names) and "专家督导小时包" in names
    assert all(pool_balance(session=session, service_id=s.id).reconciled for s in services)
    statuses = {a.status for a in session.exec(select(ServiceApplication)).all()}
    assert {"submitted", "approved", "in_use"} <= statuses


def test_the_demo_supervision_pool_has_a_fair_proposal_that_serves_new_districts_first(session):
    seed_demo_services(session=session)
    supervision = session.exec(
        select(ProcuredService).where(ProcuredService.name == "专家督导小时包")
    ).one()
    proposal = fair_proposal(
        session=session, service_id=supervision.id, user=system_principal("test")
    )
    first = {d.district_name for d in proposal.districts if d.no_allocation_yet and d.proposed > 0}
    assert {"雁塔区", "周至县"} <= first
