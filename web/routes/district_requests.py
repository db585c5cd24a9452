"""District requests API: file, list, read, edit, submit/withdraw; districts only their own."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, require
from marketplace.requests.models import (
    DistrictRequestCreate,
    DistrictRequestPage,
    DistrictRequestPublic,
    DistrictRequestUpdate,
    RequestStatus,
)
from marketplace.requests.service import (
    change_status,
    create_request,
    list_requests,
    public_view,
    update_request,
)
from marketplace.requests.service import read_request as read_request_for
from marketplace.validation import InputModel, RecordId
from matching.models import RequestDetail
from matching.service import request_detail
from web.deps import CurrentUser, SessionDep, performs

router = APIRouter(prefix="/api/requests", tags=["district requests"])


def _staff_or_district(user: User) -> User:
    require(user, Action.request_read)
    return user


class StatusChange(InputModel):
    status: RequestStatus


@router.post(
    "",
    response_model=DistrictRequestPublic,
    status_code=201,
    summary="提交区县申请 / file a request",
    dependencies=[performs(Action.request_file)],
)
def create_request_route(
    data: DistrictRequestCreate, session: SessionDep, user: CurrentUser
) -> DistrictRequestPublic:
    request = create_request(session=session, data=data, user=_staff_or_district(user))
    return public_view(session=session, request=request)


@router.get(
    "",
    response_model=DistrictRequestPage,
    summary="申请列表 / list requests",
    dependencies=[performs(Action.request_read)],
)
def list_requests_route(
    session: SessionDep,
    user: CurrentUser,
    status: RequestStatus | None = None,
    district_id: RecordId | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
) -> DistrictRequestPage:
    items, total = list_requests(
        session=session,
        user=_staff_or_district(user),
        status=status,
        district_id=district_id,
        page=page,
        page_size=page_size,
    )
    return DistrictRequestPage(items=items, total=total, page=page, page_size=page_size)


@router.get(
    "/{request_id}",
    response_model=RequestDetail,
    summary="申请详情（含已分配专家）/ request detail with assigned experts",
    dependencies=[performs(Action.request_read)],
)
def read_request(request_id: RecordId, session: SessionDep, user: CurrentUser) -> RequestDetail:
    request = read_request_for(
        session=session, request_id=request_id, user=_staff_or_district(user)
    )
    return request_detail(session=session, request=request)


@router.patch(
    "/{request_id}",
    response_model=DistrictRequestPublic,
    summary="修改申请 / edit a request",
    dependencies=[performs(Action.request_file)],
)
def update_request_route(
    request_id: RecordId, data: DistrictRequestUpdate, session: SessionDep, user: CurrentUser
) -> DistrictRequestPublic:
    request = update_request(
        session=session, request_id=request_id, data=data, user=_staff_or_district(user)
    )
    return public_view(session=session, request=request)


@router.post(
    "/{request_id}/status",
    response_model=DistrictRequestPublic,
    summary="变更申请状态 / change status",
    dependencies=[performs(Action.request_file)],
)
def change_status_route(
    request_id: RecordId, data: StatusChange, session: SessionDep, user: CurrentUser
) -> DistrictRequestPublic:
    request = change_status(
        session=session, request_id=request_id, status=data.status, user=_staff_or_district(user)
    )
    return public_view(session=session, request=request)
