"""Procured-services API: catalogue (staff writes), ledger and balances, fair proposal, expiry."""

from __future__ import annotations

from fastapi import APIRouter, Response

from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, Scope, require
from marketplace.allocation.models import LedgerView, ProposalConfirm, ProposalPublic
from marketplace.allocation.service import (
    confirm_fair_proposal,
    expire_service,
    fair_proposal,
    ledger_view,
)
from marketplace.applications.models import ApplicationPublic
from marketplace.applications.service import public_views as application_views
from marketplace.districts.models import District
from marketplace.services.models import ServiceCreate, ServiceKind, ServicePublic, ServiceUpdate
from marketplace.services.service import (
    create_service,
    delete_service,
    get_service,
    list_services,
    public_view,
    public_views,
    require_readable,
    today,
    update_service,
)
from marketplace.validation import RecordId
from web.deps import CurrentUser, ServiceManager, SessionDep, performs

router = APIRouter(prefix="/api/services", tags=["services"])


def _district_of(user: User) -> int | None:
    """The district a coordinator sees the catalogue for; None for center staff and observers."""
    scope = require(user, Action.service_read)
    return user.district_id if scope is Scope.own_district else None


@router.get(
    "",
    response_model=list[ServicePublic],
    summary="采购服务目录 / list procured services",
    dependencies=[performs(Action.service_read)],
)
def list_services_route(
    session: SessionDep,
    user: CurrentUser,
    kind: ServiceKind | None = None,
    valid_today: bool = False,
) -> list[ServicePublic]:
    """Province staff see every service; city staff and observers their center's and the
    province's; a district those it may apply for."""
    district_id = _district_of(user)
    district = None if district_id is None else session.get(District, district_id)
    services = list_services(
        session=session,
        kind=kind,
        eligible_for=district,
        valid_on=today() if valid_today else None,
        user=user,
    )
    return public_views(session=session, services=services)


@router.post("", response_model=ServicePublic, status_code=201, summary="新增采购服务（工作人员）")
def create_service_route(
    data: ServiceCreate, session: SessionDep, user: ServiceManager
) -> ServicePublic:
    service = create_service(session=session, data=data, user=user)
    return public_view(session=session, service=service)


@router.get(
    "/{service_id}",
    response_model=ServicePublic,
    summary="采购服务详情（含剩余数量）",
    dependencies=[performs(Action.service_read)],
)
def read_service(service_id: RecordId, session: SessionDep, user: CurrentUser) -> ServicePublic:
    service = get_service(session=session, service_id=service_id)
    require_readable(session=session, user=user, service=service)
    return public_view(session=session, service=service)


@router.patch("/{service_id}", response_model=ServicePublic, summary="修改采购服务（工作人员）")
def update_service_route(
    service_id: RecordId, data: ServiceUpdate, session: SessionDep, user: ServiceManager
) -> ServicePublic:
    service = update_service(session=session, service_id=service_id, data=data, user=user)
    return public_view(session=session, service=service)


@router.delete("/{service_id}", status_code=204, summary="删除未被申请的采购服务（工作人员）")
def delete_service_route(
    service_id: RecordId, session: SessionDep, user: ServiceManager
) -> Response:
    delete_service(session=session, service_id=service_id, user=user)
    return Response(status_code=204)


@router.get(
    "/{service_id}/ledger",
    response_model=LedgerView,
    summary="台账与余额 / ledger and balances",
    dependencies=[performs(Action.service_read)],
)
def read_ledger(service_id: RecordId, session: SessionDep, user: CurrentUser) -> LedgerView:
    """The ledger of the districts the reader reaches: everything for province staff; a city
    center's or observer's region (of a province-wide service too); a district's own entries.
    The pool is shown to whoever may manage the service."""
    return ledger_view(session=session, service_id=service_id, user=user)


@router.get(
    "/{service_id}/fair-proposal",
    response_model=ProposalPublic,
    summary="公平分配建议方案（不生效）",
)
def read_fair_proposal(
    service_id: RecordId, session: SessionDep, user: ServiceManager
) -> ProposalPublic:
    return fair_proposal(session=session, service_id=service_id, user=user)


@router.post(
    "/{service_id}/fair-proposal/confirm",
    response_model=list[ApplicationPublic],
    summary="确认并执行公平分配方案（工作人员）",
)
def confirm_fair_proposal_route(
    service_id: RecordId, data: ProposalConfirm, session: SessionDep, user: ServiceManager
) -> list[ApplicationPublic]:
    approved = confirm_fair_proposal(
        session=session, service_id=service_id, fingerprint=data.fingerprint, user=user
    )
    return application_views(session=session, applications=approved)


@router.post(
    "/{service_id}/expire", response_model=ServicePublic, summary="过期处理未用余额（工作人员）"
)
def expire_service_route(
    service_id: RecordId, session: SessionDep, user: ServiceManager
) -> ServicePublic:
    expire_service(session=session, service_id=service_id, user=user)
    return public_view(session=session, service=get_service(session=session, service_id=service_id))
