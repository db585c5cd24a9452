"""Requests for a time API (提交预约意向): file, list, read, offer a time, decline, withdraw."""

from __future__ import annotations

from fastapi import APIRouter

from booking.sessions.models import ReasonIn
from booking.time_requests import service
from booking.time_requests.models import (
    TimeOffer,
    TimeRequestCreate,
    TimeRequestPublic,
    TimeRequestStatus,
)
from marketplace.accounts.permissions import Action
from marketplace.validation import RecordId
from web.deps import CurrentUser, SessionDep, SettingsDep, performs

router = APIRouter(prefix="/api/time-requests", tags=["booking"])


def _one(session: SessionDep, time_request) -> TimeRequestPublic:  # type: ignore[no-untyped-def]
    return service.public_views(session=session, time_requests=[time_request])[0]


@router.post(
    "",
    response_model=TimeRequestPublic,
    status_code=201,
    summary="提交预约意向 / ask for a time",
    dependencies=[performs(Action.time_request_file)],
)
def file_time_request(
    data: TimeRequestCreate, session: SessionDep, user: CurrentUser
) -> TimeRequestPublic:
    return _one(session, service.file_time_request(session=session, data=data, user=user))


@router.get(
    "",
    response_model=list[TimeRequestPublic],
    summary="预约意向列表",
    dependencies=[performs(Action.time_request_read)],
)
def list_time_requests(
    session: SessionDep, user: CurrentUser, status: TimeRequestStatus | None = None
) -> list[TimeRequestPublic]:
    rows = service.list_time_requests(session=session, user=user, status=status)
    return service.public_views(session=session, time_requests=rows)


@router.get(
    "/{time_request_id}",
    response_model=TimeRequestPublic,
    summary="预约意向详情",
    dependencies=[performs(Action.time_request_read)],
)
def read_time_request(
    time_request_id: RecordId, session: SessionDep, user: CurrentUser
) -> TimeRequestPublic:
    return _one(
        session,
        service.get_time_request(session=session, time_request_id=time_request_id, user=user),
    )


@router.post(
    "/{time_request_id}/offer",
    response_model=TimeRequestPublic,
    summary="专家提供时间（即确认一次预约）",
    dependencies=[performs(Action.time_request_answer)],
)
def offer_time(
    time_request_id: RecordId,
    data: TimeOffer,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
) -> TimeRequestPublic:
    time_request = service.offer_time(
        session=session,
        time_request_id=time_request_id,
        start=data.start,
        end=data.end,
        user=user,
        uid_domain=settings.uid_domain,
    )
    return _one(session, time_request)


@router.post(
    "/{time_request_id}/decline",
    response_model=TimeRequestPublic,
    summary="专家婉拒（需原因）",
    dependencies=[performs(Action.time_request_answer)],
)
def decline_time_request(
    time_request_id: RecordId, data: ReasonIn, session: SessionDep, user: CurrentUser
) -> TimeRequestPublic:
    time_request = service.decline_time_request(
        session=session, time_request_id=time_request_id, reason=data.reason, user=user
    )
    return _one(session, time_request)


@router.post(
    "/{time_request_id}/withdraw",
    response_model=TimeRequestPublic,
    summary="区县撤回预约意向",
    dependencies=[performs(Action.time_request_file)],
)
def withdraw_time_request(
    time_request_id: RecordId, session: SessionDep, user: CurrentUser
) -> TimeRequestPublic:
    time_request = service.withdraw_time_request(
        session=session, time_request_id=time_request_id, user=user
    )
    return _one(session, time_request)
