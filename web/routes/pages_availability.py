"""Pages: an expert's weekly availability, date overrides and booking policy; busy calendars
(uploaded .ics or a feed URL); and "my calendar feed link" for experts and district coordinators.

Over booking.schedule, booking.busy and booking.feeds: it checks that only the
expert themself (or staff) edits an expert's calendar. Staff open /availability?expert_id=...
"""

from __future__ import annotations

import secrets
from functools import partial
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from booking import ical
from booking.busy.models import FeedRegistration
from booking.busy.service import (
    add_busy_calendar,
    delete_busy_calendar,
    list_busy_calendars,
    read_feed,
    read_upload,
)
from booking.feeds.service import issue_feed_token, revoke_feed_tokens
from booking.schedule.service import get_availability, set_availability
from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, Scope
from marketplace.errors import Forbidden, InvalidInput
from marketplace.experts.service import get_expert
from marketplace.validation import RecordId
from marketplace.vocabulary import Role
from web.availability_form import AvailabilityForm, form_from_availability, parse_form
from web.deps import ReadSessionDep, SessionDep, performs, performs_reading, write_now
from web.feed_fetcher import feed_fetcher
from web.pages import (
    PageUser,
    ReadingPageUser,
    field_errors,
    is_staff,
    mark_sent,
    page_allows,
    redirect_with_flash,
    sent_before,
    text_error,
)
from web.templating import render

router = APIRouter(include_in_schema=False)

FormText = Annotated[str, Form()]
FormList = Annotated[list[str], Form()]
ExpertParam = Annotated[str, Query(max_length=32)]


def _expert_for(user: User, expert_id: str) -> str:
    """The expert whose calendar `user` edits: an expert their own (asking for another is
    refused), staff the one named; anyone else is refused."""
    expert_id = expert_id.strip()
    if user.role == Role.expert.value and user.expert_id:
        if expert_id and expert_id != user.expert_id:
            raise Forbidden(messages.FORBIDDEN)
        return user.expert_id
    if is_staff(user, Action.expert_edit):
        if not expert_id:
            raise InvalidInput(messages.EXPERT_NOT_FOUND.format(id="（未指定）"))
        return expert_id
    raise Forbidden(messages.FORBIDDEN)


def _back(user: User, expert_id: str) -> str:
    return (
        "/availability"
        if not is_staff(user, Action.expert_edit)
        else f"/availability?expert_id={expert_id}"
    )


def _page(
    request: Request,
    session: SessionDep,
    user: User,
    expert_id: str,
    form: AvailabilityForm | None = None,
    *,
    calendar_errors: dict[str, str] | None = None,
    calendar_form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    expert = get_expert(session=session, expert_id=expert_id)
    if form is None:
        form = form_from_availability(get_availability(session=session, expert_id=expert_id))
        form.with_blank_rows()
    return render(
        request,
        "availability/page.html",
        {
            "expert": expert,
            "form": form,
            "calendars": list_busy_calendars(session=session, expert_id=expert_id, user=user),
            "calendar_errors": calendar_errors or {},
            "calendar_form": calendar_form or {},
            "staff_view": is_staff(user, Action.expert_edit),
            "nonce": secrets.token_urlsafe(16),
            "feed_owner": not is_staff(user, Action.expert_edit),
            "feed_url": None,
        },
        status_code=status_code,
        fragments=(),
    )


@router.get("/availability", summary="可预约时间", dependencies=[performs(Action.expert_edit)])
def availability_page(
    request: Request, session: SessionDep, user: PageUser, expert_id: ExpertParam = ""
) -> Response:
    return _page(request, session, user, _expert_for(user, expert_id))


@router.post("/availability", summary="保存可预约时间", dependencies=[performs(Action.expert_edit)])
def save_availability(
    request: Request,
    session: SessionDep,
    user: PageUser,
    expert_id: FormText = "",
    form_nonce: FormText = "",
    timezone: FormText = "Asia/Shanghai",
    w_day: FormList = [],  # noqa: B006 (FastAPI copies defaults)
    w_start: FormList = [],  # noqa: B006
    w_end: FormList = [],  # noqa: B006
    o_date: FormList = [],  # noqa: B006
    o_ranges: FormList = [],  # noqa: B006
    o_note: FormList = [],  # noqa: B006
    x_start: FormList = [],  # noqa: B006
    x_end: FormList = [],  # noqa: B006
    x_note: FormList = [],  # noqa: B006
    buffer_before_minutes: FormText = "",
    buffer_after_minutes: FormText = "",
    min_notice_hours: FormText = "",
    horizon_days: FormText = "",
    slot_step_minutes: FormText = "",
    daily_limit_hours: FormText = "",
    monthly_limit_hours: FormText = "",
) -> Response:
    target = _expert_for(user, expert_id)
    if sent_before(request, form_nonce):
        return redirect_with_flash(_back(user, target), "duplicate_submission")
    fields = {
        "timezone": [timezone],
        "w_day": w_day,
        "w_start": w_start,
        "w_end": w_end,
        "o_date": o_date,
        "o_ranges": o_ranges,
        "o_note": o_note,
        "x_start": x_start,
        "x_end": x_end,
        "x_note": x_note,
        "buffer_before_minutes": [buffer_before_minutes],
        "buffer_after_minutes": [buffer_after_minutes],
        "min_notice_hours": [min_notice_hours],
        "horizon_days": [horizon_days],
        "slot_step_minutes": [slot_step_minutes],
        "daily_limit_hours": [daily_limit_hours],
        "monthly_limit_hours": [monthly_limit_hours],
    }
    form, update = parse_form(fields)
    if update is None:
        form.errors.setdefault("__all__", messages.FORM_HAS_ERRORS)
        return _page(request, session, user, target, form, status_code=422)
    try:
        with session.begin_nested():  # a refused save leaves nothing half-written
            set_availability(session=session, expert_id=target, data=update, user=user)
    except InvalidInput as exc:
        form.errors["__all__"] = exc.message
        return _page(request, session, user, target, form, status_code=422)
    mark_sent(request, form_nonce)
    return redirect_with_flash(_back(user, target), "availability_saved")


# Upload and registration read first and write last (as the API's): the file is parsed and the
# feed fetched in the sandbox on the read session, holding no write lock; only the short store
# waits in the write queue (write_now).


@router.post(
    "/availability/calendars/upload",
    summary="上传忙碌日历",
    dependencies=[performs_reading(Action.expert_edit)],
)
async def upload_calendar(
    request: Request,
    session: ReadSessionDep,
    user: ReadingPageUser,
    file: Annotated[UploadFile | None, File()] = None,
    name: FormText = "",
    expert_id: FormText = "",
) -> Response:
    target = _expert_for(user, expert_id)
    data = await file.read(ical.MAX_ICS_BYTES + 1) if file is not None else b""
    error = ""
    if refused := text_error(name):
        error = refused
    elif not data:
        error = messages.ICS_FILE_REQUIRED
    elif len(data) > ical.MAX_ICS_BYTES:
        error = messages.ICS_FILE_TOO_LARGE.format(mb=ical.MAX_ICS_BYTES // (1024 * 1024))
    else:
        label = name.strip()[:100] or ((file.filename or "") if file else "")[:100]
        try:
            read = await run_in_threadpool(
                partial(read_upload, session=session, expert_id=target, data=data, user=user)
            )
        except InvalidInput as exc:
            error = exc.message
        else:
            await write_now(
                session,
                lambda writing: add_busy_calendar(
                    session=writing, read=read, name=label, user=user
                ),
            )
    if error:
        return await run_in_threadpool(
            partial(
                _page,
                request,
                session,
                user,
                target,
                calendar_errors={"file": error},
                calendar_form={"upload_name": name[:100]},
                status_code=422,
            )
        )
    return redirect_with_flash(_back(user, target), "busy_calendar_added")


@router.post(
    "/availability/calendars/feed",
    summary="登记忙碌日历订阅地址",
    dependencies=[performs_reading(Action.expert_edit)],
)
async def register_feed(
    request: Request,
    session: ReadSessionDep,
    user: ReadingPageUser,
    url: FormText = "",
    name: FormText = "",
    expert_id: FormText = "",
) -> Response:
    target = _expert_for(user, expert_id)
    form = {"url": url.strip()[:2000], "feed_name": name.strip()[:100]}
    errors: dict[str, str] = {}
    try:
        data = FeedRegistration.model_validate({"url": form["url"], "name": form["feed_name"]})
    except Exception as exc:  # pydantic ValidationError: shown next to the field
        errors = {"url": field_errors(exc).get("url") or messages.VALIDATION_FAILED}  # type: ignore[arg-type]
    else:
        try:
            read = await run_in_threadpool(
                partial(
                    read_feed,
                    session=session,
                    expert_id=target,
                    url=data.url,
                    user=user,
                    fetch=feed_fetcher(request),
                )
            )
        except InvalidInput as exc:
            errors = {"url": exc.message}
        else:
            await write_now(
                session,
                lambda writing: add_busy_calendar(
                    session=writing, read=read, name=data.name, user=user, url=data.url
                ),
            )
    if errors:
        return await run_in_threadpool(
            partial(
                _page,
                request,
                session,
                user,
                target,
                calendar_errors=errors,
                calendar_form=form,
                status_code=422,
            )
        )
    return redirect_with_flash(_back(user, target), "busy_calendar_added")


@router.post(
    "/availability/calendars/{calendar_id}/delete",
    summary="删除忙碌日历",
    dependencies=[performs(Action.expert_edit)],
)
def remove_calendar(
    calendar_id: RecordId, session: SessionDep, user: PageUser, expert_id: FormText = ""
) -> Response:
    target = _expert_for(user, expert_id)
    delete_busy_calendar(session=session, expert_id=target, calendar_id=calendar_id, user=user)
    return redirect_with_flash(_back(user, target), "busy_calendar_removed")


# --- my calendar feed link (experts and district coordinators) ---------------------------------


def _feed_owner(user: User) -> tuple[str, str]:
    if user.role == Role.expert.value and user.expert_id:
        return "expert", user.expert_id
    if user.role == Role.district.value and user.district_id is not None:
        return "district", str(user.district_id)
    raise Forbidden(
        messages.FEED_LINK_STAFF if is_staff(user, Action.expert_edit) else messages.FORBIDDEN
    )


@router.post(
    "/calendar-feed/rotate",
    summary="生成（更换）我的日历订阅链接",
    dependencies=[
        page_allows(
            Action.calendar_feed,
            Scope.own_district,
            Scope.own_expert,
            refused=messages.FEED_LINK_STAFF,
        )
    ],
)
def rotate_feed(request: Request, session: SessionDep, user: PageUser) -> Response:
    owner_type, owner_id = _feed_owner(user)
    token = issue_feed_token(session=session, owner_type=owner_type, owner_id=owner_id, user=user)
    return render(
        request,
        "calendar/feed_link.html",
        {"feed_url": str(request.url_for("calendar_feed", token=token)), "feed_owner": True},
        fragments=("feed_link",),
    )


@router.post(
    "/calendar-feed/revoke",
    summary="撤销我的日历订阅链接",
    dependencies=[
        page_allows(
            Action.calendar_feed,
            Scope.own_district,
            Scope.own_expert,
            refused=messages.FEED_LINK_STAFF,
        )
    ],
)
def revoke_feed(request: Request, session: SessionDep, user: PageUser) -> Response:
    owner_type, owner_id = _feed_owner(user)
    revoke_feed_tokens(session=session, owner_type=owner_type, owner_id=owner_id, user=user)
    return redirect_with_flash(
        "/availability" if owner_type == "expert" else "/bookings", "feed_link_revoked"
    )
