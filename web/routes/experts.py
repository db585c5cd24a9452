"""Expert directory API: list with filters, detail, staff create/update/pause, own-profile edit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from marketplace.accounts.permissions import Action
from marketplace.experts.models import (
    ExpertAdminUpdate,
    ExpertCreate,
    ExpertPage,
    ExpertPublic,
)
from marketplace.experts.service import (
    ExpertFilters,
    create_expert,
    get_expert,
    list_experts,
    public_view,
    update_expert,
)
from marketplace.vocabulary import Domain, ExpertStatus, Format, ServiceType
from web.deps import CurrentUser, SessionDep, StaffUser, performs

router = APIRouter(prefix="/api/experts", tags=["experts"])


@router.get(
    "",
    response_model=ExpertPage,
    summary="专家列表 / list experts",
    dependencies=[performs(Action.expert_read)],
)
def list_experts_route(
    session: SessionDep,
    user: CurrentUser,
    domain: Domain | None = None,
    specialty: Annotated[str | None, Query(max_length=64)] = None,
    city: Annotated[str | None, Query(max_length=64)] = None,
    district: Annotated[str | None, Query(max_length=64)] = None,
    format: Format | None = None,
    service_type: ServiceType | None = None,
    status: ExpertStatus | None = None,
    name: Annotated[str | None, Query(max_length=64)] = None,
    language: Annotated[str | None, Query(max_length=32)] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> ExpertPage:
    filters = ExpertFilters(
        domain=domain,
        specialty=specialty,
        city=city,
        district=district,
        format=format,
        service_type=service_type,
        status=status,
        name=name,
        language=language,
    )
    items, total = list_experts(session=session, filters=filters, page=page, page_size=page_size)
    return ExpertPage(items=items, total=total, page=page, page_size=page_size)


@router.get(
    "/{expert_id}",
    response_model=ExpertPublic,
    summary="专家详情 / expert detail",
    dependencies=[performs(Action.expert_read)],
)
def read_expert(expert_id: str, session: SessionDep, user: CurrentUser) -> ExpertPublic:
    return public_view(session=session, expert=get_expert(session=session, expert_id=expert_id))


@router.post("", response_model=ExpertPublic, status_code=201, summary="新增专家（工作人员）")
def create_expert_route(data: ExpertCreate, session: SessionDep, user: StaffUser) -> ExpertPublic:
    expert = create_expert(session=session, data=data, user=user)
    return public_view(session=session, expert=expert)


@router.patch(
    "/{expert_id}",
    response_model=ExpertPublic,
    summary="修改专家资料",
    dependencies=[performs(Action.expert_edit)],
)
def update_expert_route(
    expert_id: str, data: ExpertAdminUpdate, session: SessionDep, user: CurrentUser
) -> ExpertPublic:
    """Staff may change any field; an expert only the profile fields of their own record."""
    expert = update_expert(session=session, expert_id=expert_id, data=data, user=user)
    return public_view(session=session, expert=expert)


@router.post("/{expert_id}/pause", response_model=ExpertPublic, summary="暂停专家（工作人员）")
def pause_expert(expert_id: str, session: SessionDep, user: StaffUser) -> ExpertPublic:
    expert = update_expert(
        session=session,
        expert_id=expert_id,
        data=ExpertAdminUpdate(status=ExpertStatus.paused),
        user=user,
    )
    return public_view(session=session, expert=expert)


@router.post("/{expert_id}/activate", response_model=ExpertPublic, summary="恢复专家（工作人员）")
def activate_expert(expert_id: str, session: SessionDep, user: StaffUser) -> ExpertPublic:
    expert = update_expert(
        session=session,
        expert_id=expert_id,
        data=ExpertAdminUpdate(status=ExpertStatus.active),
        user=user,
    )
    return public_view(session=session, expert=expert)
