"""Page: the inbox of every role; opening an entry marks it read and goes to its record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from marketplace.accounts.permissions import Action
from marketplace.notifications.service import list_notifications, mark_all_read, mark_read
from marketplace.validation import RecordId
from web.deps import SessionDep, performs
from web.pages import PageUser, redirect_with_flash
from web.templating import render

router = APIRouter(include_in_schema=False)


def _safe_link(link: str) -> str:
    # Links are written by the app, but only ever follow a local path.
    return link if link.startswith("/") and not link.startswith("//") else "/notifications"


@router.get("/notifications", summary="通知", dependencies=[performs(Action.account)])
def inbox_page(
    request: Request,
    session: SessionDep,
    user: PageUser,
    unread: Annotated[bool, Query()] = False,
) -> Response:
    entries = list_notifications(
        session=session, user_id=user.id or 0, unread_only=unread, limit=200
    )
    context = {"entries": entries, "unread_only": unread}
    return render(request, "notifications.html", context)


@router.post(
    "/notifications/read-all", summary="全部标为已读", dependencies=[performs(Action.account)]
)
def inbox_read_all(session: SessionDep, user: PageUser) -> Response:
    mark_all_read(session=session, user_id=user.id or 0)
    return redirect_with_flash("/notifications", "notifications_all_read")


@router.post(
    "/notifications/{notification_id}/open",
    summary="查看通知",
    dependencies=[performs(Action.account)],
)
def inbox_open(notification_id: RecordId, session: SessionDep, user: PageUser) -> Response:
    entry = mark_read(session=session, user_id=user.id or 0, notification_id=notification_id)
    return RedirectResponse(_safe_link(entry.link), status_code=303)
