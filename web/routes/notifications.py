"""In-app notifications API: the signed-in user's inbox, mark one or all read."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from marketplace.accounts.permissions import Action
from marketplace.notifications.models import NotificationPublic
from marketplace.notifications.service import (
    list_notifications,
    mark_all_read,
    mark_read,
    public_view,
    unread_count,
)
from marketplace.validation import RecordId
from web.deps import CurrentUser, SessionDep, performs

router = APIRouter(prefix="/api/notifications", tags=["notifications"])


class ReadAll(BaseModel):
    updated: int
    unread: int


@router.get(
    "",
    response_model=list[NotificationPublic],
    summary="我的通知 / my notifications",
    dependencies=[performs(Action.account)],
)
def list_my_notifications(
    session: SessionDep,
    user: CurrentUser,
    unread: Annotated[bool, Query(description="只看未读 / unread only")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[NotificationPublic]:
    entries = list_notifications(
        session=session, user_id=user.id or 0, unread_only=unread, limit=limit
    )
    return [public_view(e) for e in entries]


@router.post(
    "/read-all",
    response_model=ReadAll,
    summary="全部标为已读 / mark all read",
    dependencies=[performs(Action.account)],
)
def read_all(session: SessionDep, user: CurrentUser) -> ReadAll:
    updated = mark_all_read(session=session, user_id=user.id or 0)
    return ReadAll(updated=updated, unread=unread_count(session=session, user_id=user.id or 0))


@router.post(
    "/{notification_id}/read",
    response_model=NotificationPublic,
    summary="标为已读 / mark read",
    dependencies=[performs(Action.account)],
)
def read_one(
    notification_id: RecordId, session: SessionDep, user: CurrentUser
) -> NotificationPublic:
    return public_view(
        mark_read(session=session, user_id=user.id or 0, notification_id=notification_id)
    )
