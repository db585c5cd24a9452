"""District applications API: submit, list, decide, withdraw, record use, release, close."""

from __future__ import annotations

from fastapi import APIRouter

from marketplace.accounts.permissions import Action, require_district
from marketplace.allocation.service import (
    approve_application,
    close_application,
    record_usage,
    release_allocation,
)
from marketplace.applications.models import (
    ApplicationCreate,
    ApplicationPublic,
    ApplicationStatus,
    ApprovalRequest,
    RejectionRequest,
    ReleaseRequest,
    UsageRequest,
)
from marketplace.applications.service import (
    create_application,
    get_application,
    list_applications,
    public_view,
    public_views,
    reject_application,
    withdraw_application,
)
from marketplace.validation import RecordId
from web.deps import ApplicationDecider, CurrentUser, SessionDep, performs

router = APIRouter(prefix="/api/applications", tags=["applications"])
DECIDE = Action.application_decide


@router.post(
    "",
    response_model=ApplicationPublic,
    status_code=201,
    summary="区县提交服务申请",
    dependencies=[performs(Action.application_file)],
)
def create_application_route(
    data: ApplicationCreate, session: SessionDep, user: CurrentUser
) -> ApplicationPublic:
    application = create_application(session=session, data=data, user=user)
    return public_view(session=session, application=application)


@router.get(
    "",
    response_model=list[ApplicationPublic],
    summary="申请列表（区县仅见本区县）",
    dependencies=[performs(Action.application_read)],
)
def list_applications_route(
    session: SessionDep,
    user: CurrentUser,
    service_id: RecordId | None = None,
    status: ApplicationStatus | None = None,
    district_id: RecordId | None = None,
) -> list[ApplicationPublic]:
    if district_id is not None:
        require_district(session, user, Action.application_read, district_id=district_id)
    applications = list_applications(
        session=session, district_id=district_id, service_id=service_id, status=status, user=user
    )
    return public_views(session=session, applications=applications)


@router.get(
    "/{application_id}",
    response_model=ApplicationPublic,
    summary="申请详情",
    dependencies=[performs(Action.application_read)],
)
def read_application(
    application_id: RecordId, session: SessionDep, user: CurrentUser
) -> ApplicationPublic:
    application = get_application(session=session, application_id=application_id, user=user)
    return public_view(session=session, application=application)


@router.post(
    "/{application_id}/approve", response_model=ApplicationPublic, summary="批准（可部分批准）"
)
def approve_route(
    application_id: RecordId,
    session: SessionDep,
    user: ApplicationDecider,
    data: ApprovalRequest | None = None,
) -> ApplicationPublic:
    application = approve_application(
        session=session,
        application_id=application_id,
        quantity=data.quantity if data else None,
        user=user,
    )
    return public_view(session=session, application=application)


@router.post(
    "/{application_id}/reject", response_model=ApplicationPublic, summary="不予批准（须写明原因）"
)
def reject_route(
    application_id: RecordId,
    data: RejectionRequest,
    session: SessionDep,
    user: ApplicationDecider,
) -> ApplicationPublic:
    application = reject_application(
        session=session,
        application_id=application_id,
        reason=data.reason,
        user=user,
    )
    return public_view(session=session, application=application)


@router.post(
    "/{application_id}/withdraw",
    response_model=ApplicationPublic,
    summary="撤回待审批的申请",
    dependencies=[performs(Action.application_use)],
)
def withdraw_route(
    application_id: RecordId, session: SessionDep, user: CurrentUser
) -> ApplicationPublic:
    application = withdraw_application(session=session, application_id=application_id, user=user)
    return public_view(session=session, application=application)


@router.post(
    "/{application_id}/usage",
    response_model=ApplicationPublic,
    summary="登记使用（授权、名额、小时）",
    dependencies=[performs(Action.application_use)],
)
def record_usage_route(
    application_id: RecordId, data: UsageRequest, session: SessionDep, user: CurrentUser
) -> ApplicationPublic:
    record_usage(
        session=session,
        application_id=application_id,
        quantity=data.quantity,
        reference=data.reference,
        note=data.note,
        user=user,
    )
    application = get_application(session=session, application_id=application_id, user=user)
    return public_view(session=session, application=application)


@router.post(
    "/{application_id}/release",
    response_model=ApplicationPublic,
    summary="退回未用数量（工作人员）",
)
def release_route(
    application_id: RecordId,
    session: SessionDep,
    user: ApplicationDecider,
    data: ReleaseRequest | None = None,
) -> ApplicationPublic:
    application = release_allocation(
        session=session,
        application_id=application_id,
        quantity=data.quantity if data else None,
        note=data.note if data else "",
        user=user,
    )
    return public_view(session=session, application=application)


@router.post(
    "/{application_id}/close",
    response_model=ApplicationPublic,
    summary="结束使用（余额退回或过期）",
    dependencies=[performs(Action.application_use)],
)
def close_route(
    application_id: RecordId, session: SessionDep, user: CurrentUser
) -> ApplicationPublic:
    application = close_application(session=session, application_id=application_id, user=user)
    return public_view(session=session, application=application)
