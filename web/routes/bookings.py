"""Booking API: availability, free slots, sessions and their lifecycle, trainings, ratings,
busy calendars of experts, and iCalendar downloads and subscription feeds."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlmodel import Session

from booking import access
from booking.availability import MAX_DURATION_MINUTES, MIN_DURATION_MINUTES
from booking.busy import service as busy_service
from booking.busy.models import BusyCalendarPublic, FeedRegistration
from booking.feeds import service as feeds_service
from booking.feeds.models import FeedTokenPublic
from booking.ical import MAX_ICS_BYTES
from booking.schedule import service as schedule_service
from booking.schedule.models import AvailabilityPublic, AvailabilityUpdate, SlotPublic
from booking.sessions import service as sessions_service
from booking.sessions.models import (
    BookingCreate,
    BookingKind,
    BookingPublic,
    BookingStatus,
    RatingCreate,
    RatingPublic,
    ReasonIn,
    Reschedule,
)
from booking.trainings import service as trainings_service
from booking.trainings.models import RegistrationCreate, RegistrationPublic
from marketplace import messages
from marketplace.accounts.permissions import Action
from marketplace.accounts.service import actor_for
from marketplace.audit.service import record_read
from marketplace.clock import LOCAL_TZ
from marketplace.errors import InvalidInput, NotFound
from marketplace.validation import RecordId, SaneDate, SaneDatetime
from web.deps import (
    PUBLIC_ROUTE,
    CurrentUser,
    ReadingUser,
    ReadSessionDep,
    SessionDep,
    SettingsDep,
    performs,
    performs_reading,
    write_now,
)
from web.feed_fetcher import feed_fetcher
from web.routes.booking_transitions import TRANSITIONS, Transition

router = APIRouter(tags=["booking"])
ICS_TYPE = "text/calendar; charset=utf-8"


def _ics(data: bytes, filename: str) -> Response:
    return Response(
        content=data,
        media_type=ICS_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


# --- availability and slots -----------------------------------------------------------------


@router.get(
    "/api/experts/{expert_id}/availability",
    response_model=AvailabilityPublic,
    summary="专家可预约时间设置 / availability",
    dependencies=[performs(Action.expert_read)],
)
def read_availability(expert_id: str, session: SessionDep, user: CurrentUser) -> AvailabilityPublic:
    return schedule_service.get_availability(session=session, expert_id=expert_id)


@router.put(
    "/api/experts/{expert_id}/availability",
    response_model=AvailabilityPublic,
    summary="设置可预约时间（专家本人或工作人员）",
    dependencies=[performs(Action.expert_edit)],
)
def put_availability(
    expert_id: str, data: AvailabilityUpdate, session: SessionDep, user: CurrentUser
) -> AvailabilityPublic:
    return schedule_service.set_availability(
        session=session, expert_id=expert_id, data=data, user=user
    )


@router.get(
    "/api/experts/{expert_id}/slots",
    response_model=list[SlotPublic],
    summary="可预约时段 / free slots",
    dependencies=[performs(Action.expert_read)],
)
def list_slots(
    expert_id: str,
    session: SessionDep,
    user: CurrentUser,
    start: SaneDate,
    end: SaneDate,
    duration: Annotated[int, Query(ge=MIN_DURATION_MINUTES, le=MAX_DURATION_MINUTES)] = 60,
    kind: BookingKind | None = None,
) -> list[SlotPublic]:
    slots = schedule_service.list_slots(
        session=session,
        expert_id=expert_id,
        start_day=start,
        end_day=end,
        duration_minutes=duration,
        kind=kind,
    )
    return [SlotPublic(start=s.astimezone(LOCAL_TZ), end=e.astimezone(LOCAL_TZ)) for s, e in slots]


# --- sessions -------------------------------------------------------------------------------


@router.post(
    "/api/bookings",
    response_model=BookingPublic,
    status_code=201,
    summary="预约 / book a session",
    dependencies=[performs(Action.booking_create)],
)
def create_booking(
    data: BookingCreate, session: SessionDep, user: CurrentUser, settings: SettingsDep
) -> BookingPublic:
    booking = sessions_service.create_booking(
        session=session, data=data, user=user, uid_domain=settings.uid_domain
    )
    return sessions_service.public_view(session=session, booking=booking)


@router.get(
    "/api/bookings",
    response_model=list[BookingPublic],
    summary="我的预约 / my bookings",
    dependencies=[performs(Action.booking_read)],
)
def list_bookings(
    session: SessionDep,
    user: CurrentUser,
    status: BookingStatus | None = None,
    start: SaneDatetime | None = None,
    end: SaneDatetime | None = None,
) -> list[BookingPublic]:
    bookings = sessions_service.list_bookings(
        session=session, user=user, status=status, start=start, end=end
    )
    return [sessions_service.public_view(session=session, booking=b) for b in bookings]


@router.get(
    "/api/bookings/{booking_id}.ics",
    summary="预约日历文件 / session .ics",
    dependencies=[performs(Action.booking_read)],
)
def booking_ics(
    booking_id: RecordId, session: SessionDep, user: CurrentUser, settings: SettingsDep
) -> Response:
    booking = sessions_service.get_booking(session=session, booking_id=booking_id, user=user)
    return _ics(
        # A file a user downloads goes into their own calendar: a PUBLISH copy that invites
        # no one (a REQUEST would ask the importer to answer as an attendee).
        feeds_service.booking_ics(session=session, booking=booking, publish=True),
        f"heart-booking-{booking_id}.ics",
    )


@router.get(
    "/api/bookings/{booking_id}",
    response_model=BookingPublic,
    summary="预约详情",
    dependencies=[performs(Action.booking_read)],
)
def read_booking(booking_id: RecordId, session: SessionDep, user: CurrentUser) -> BookingPublic:
    booking = sessions_service.get_booking(session=session, booking_id=booking_id, user=user)
    if access.reads_as_center(user):  # who read what: a center opening a district's session
        record_read(
            session=session, actor=actor_for(user), entity_type="booking", entity_id=str(booking.id)
        )
    return sessions_service.public_view(session=session, booking=booking)


@router.post(
    "/api/bookings/{booking_id}/reschedule",
    response_model=BookingPublic,
    summary="改期",
    dependencies=[performs(Action.booking_change)],
)
def reschedule_booking(
    booking_id: RecordId, data: Reschedule, session: SessionDep, user: CurrentUser
) -> BookingPublic:
    booking = sessions_service.reschedule_booking(
        session=session, booking_id=booking_id, start=data.start, end=data.end, user=user
    )
    return sessions_service.public_view(session=session, booking=booking)


def _add_transition_route(transition: Transition) -> None:
    """POST /api/bookings/{id}/<path>: the transition, answered with the booking."""
    apply = transition.apply
    if transition.needs_reason:

        def with_reason(
            booking_id: RecordId, data: ReasonIn, session: SessionDep, user: CurrentUser
        ) -> BookingPublic:
            booking = apply(session=session, booking_id=booking_id, reason=data.reason, user=user)
            return sessions_service.public_view(session=session, booking=booking)

        endpoint: Callable[..., BookingPublic] = with_reason
    else:

        def without_reason(
            booking_id: RecordId, session: SessionDep, user: CurrentUser
        ) -> BookingPublic:
            booking = apply(session=session, booking_id=booking_id, user=user)
            return sessions_service.public_view(session=session, booking=booking)

        endpoint = without_reason
    router.add_api_route(
        f"/api/bookings/{{booking_id}}/{transition.path}",
        endpoint,
        methods=["POST"],
        response_model=BookingPublic,
        summary=transition.api_summary,
        dependencies=[performs(transition.action)],
        name=transition.name,
    )


for _transition in TRANSITIONS:
    _add_transition_route(_transition)


@router.post(
    "/api/bookings/{booking_id}/registrations",
    response_model=RegistrationPublic,
    status_code=201,
    summary="培训报名（区县）",
    dependencies=[performs(Action.training_register)],
)
def register_for_training(
    booking_id: RecordId, data: RegistrationCreate, session: SessionDep, user: CurrentUser
) -> RegistrationPublic:
    registration = trainings_service.register_for_training(
        session=session, booking_id=booking_id, data=data, user=user
    )
    return RegistrationPublic.model_validate(registration, from_attributes=True)


@router.get(
    "/api/bookings/{booking_id}/registrations",
    response_model=list[RegistrationPublic],
    summary="培训报名列表",
    dependencies=[performs(Action.booking_read)],
)
def list_registrations(
    booking_id: RecordId, session: SessionDep, user: CurrentUser
) -> list[RegistrationPublic]:
    rows = trainings_service.list_registrations(session=session, booking_id=booking_id, user=user)
    return [RegistrationPublic.model_validate(r, from_attributes=True) for r in rows]


@router.post(
    "/api/bookings/{booking_id}/rating",
    response_model=RatingPublic,
    status_code=201,
    summary="评价（区县，完成后）",
    dependencies=[performs(Action.booking_rate)],
)
def rate_booking(
    booking_id: RecordId, data: RatingCreate, session: SessionDep, user: CurrentUser
) -> RatingPublic:
    rating = sessions_service.rate_booking(
        session=session, booking_id=booking_id, data=data, user=user
    )
    return RatingPublic.model_validate(rating, from_attributes=True)


# --- subscription feeds ---------------------------------------------------------------------


def _feed_url(request: Request, token: str) -> str:
    return str(request.url_for("calendar_feed", token=token))


@router.post(
    "/api/experts/{expert_id}/feed-token",
    response_model=FeedTokenPublic,
    status_code=201,
    summary="生成（轮换）专家日历订阅地址",
    dependencies=[performs(Action.calendar_feed)],
)
def rotate_expert_feed(
    expert_id: str, request: Request, session: SessionDep, user: CurrentUser
) -> FeedTokenPublic:
    token = feeds_service.issue_feed_token(
        session=session, owner_type="expert", owner_id=expert_id, user=user
    )
    return FeedTokenPublic(url=_feed_url(request, token), token=token)


@router.delete(
    "/api/experts/{expert_id}/feed-token",
    status_code=204,
    summary="撤销专家日历订阅地址",
    dependencies=[performs(Action.calendar_feed)],
)
def revoke_expert_feed(expert_id: str, session: SessionDep, user: CurrentUser) -> Response:
    feeds_service.revoke_feed_tokens(
        session=session, owner_type="expert", owner_id=expert_id, user=user
    )
    return Response(status_code=204)


@router.post(
    "/api/districts/{district_id}/feed-token",
    response_model=FeedTokenPublic,
    status_code=201,
    summary="生成（轮换）区县日历订阅地址",
    dependencies=[performs(Action.calendar_feed)],
)
def rotate_district_feed(
    district_id: RecordId, request: Request, session: SessionDep, user: CurrentUser
) -> FeedTokenPublic:
    token = feeds_service.issue_feed_token(
        session=session, owner_type="district", owner_id=str(district_id), user=user
    )
    return FeedTokenPublic(url=_feed_url(request, token), token=token)


@router.delete(
    "/api/districts/{district_id}/feed-token",
    status_code=204,
    summary="撤销区县日历订阅地址",
    dependencies=[performs(Action.calendar_feed)],
)
def revoke_district_feed(district_id: RecordId, session: SessionDep, user: CurrentUser) -> Response:
    feeds_service.revoke_feed_tokens(
        session=session, owner_type="district", owner_id=str(district_id), user=user
    )
    return Response(status_code=204)


@router.get(
    "/api/feeds/{token}.ics",
    name="calendar_feed",
    summary="日历订阅（凭密钥地址，无需登录）",
    dependencies=[PUBLIC_ROUTE],
)
def calendar_feed(token: str, session: SessionDep, settings: SettingsDep) -> Response:
    if len(token) > 100:
        raise InvalidInput(messages.FEED_NOT_FOUND)
    feed = feeds_service.feed_for_token(
        session=session, token=token, organizer_fallback=settings.smtp_sender
    )
    return _ics(feed, "heart.ics")


# --- experts' busy calendars ----------------------------------------------------------------


def _calendar_public(calendar) -> BusyCalendarPublic:  # type: ignore[no-untyped-def]
    return BusyCalendarPublic.model_validate(calendar, from_attributes=True)


@router.get(
    "/api/experts/{expert_id}/busy-calendars",
    response_model=list[BusyCalendarPublic],
    summary="专家的忙碌日历",
    dependencies=[performs(Action.expert_edit)],
)
def list_busy_calendars(
    expert_id: str, session: SessionDep, user: CurrentUser
) -> list[BusyCalendarPublic]:
    return [
        _calendar_public(c)
        for c in busy_service.list_busy_calendars(session=session, expert_id=expert_id, user=user)
    ]


# Upload, registration and refresh read first and write last: the user is resolved and the
# calendar fetched and parsed (the sandbox: up to seconds) on a read session, holding no write
# lock; only the short store waits in the write queue (write_now). Other users' writes never
# wait behind a slow feed or a hostile file.


@router.post(
    "/api/experts/{expert_id}/busy-calendars/upload",
    response_model=BusyCalendarPublic,
    status_code=201,
    summary="上传忙碌日历（.ics）",
    dependencies=[performs_reading(Action.expert_edit)],
)
async def upload_busy_calendar(
    expert_id: str,
    session: ReadSessionDep,
    user: ReadingUser,
    file: Annotated[UploadFile, File()],
    name: Annotated[str, Form(max_length=100)] = "",
) -> BusyCalendarPublic:
    data = await file.read(MAX_ICS_BYTES + 1)
    read = await run_in_threadpool(
        partial(
            busy_service.read_upload, session=session, expert_id=expert_id, data=data, user=user
        )
    )
    label = name or (file.filename or "")
    return await write_now(
        session,
        lambda writing: _calendar_public(
            busy_service.add_busy_calendar(session=writing, read=read, name=label, user=user)
        ),
    )


@router.post(
    "/api/experts/{expert_id}/busy-calendars",
    response_model=BusyCalendarPublic,
    status_code=201,
    summary="登记忙碌日历订阅地址（ICS）",
    dependencies=[performs_reading(Action.expert_edit)],
)
async def register_busy_feed(
    expert_id: str,
    data: FeedRegistration,
    request: Request,
    session: ReadSessionDep,
    user: ReadingUser,
) -> BusyCalendarPublic:
    read = await run_in_threadpool(
        partial(
            busy_service.read_feed,
            session=session,
            expert_id=expert_id,
            url=data.url,
            user=user,
            fetch=feed_fetcher(request),
        )
    )
    return await write_now(
        session,
        lambda writing: _calendar_public(
            busy_service.add_busy_calendar(
                session=writing, read=read, name=data.name, user=user, url=data.url
            )
        ),
    )


@router.post(
    "/api/experts/{expert_id}/busy-calendars/{calendar_id}/refresh",
    response_model=BusyCalendarPublic,
    summary="立即刷新忙碌日历订阅",
    dependencies=[performs_reading(Action.expert_edit)],
)
async def refresh_busy_feed(
    expert_id: str,
    calendar_id: RecordId,
    request: Request,
    session: ReadSessionDep,
    user: ReadingUser,
) -> BusyCalendarPublic:
    def read() -> busy_service.RefreshRead:
        calendar = busy_service.get_busy_calendar(
            session=session, expert_id=expert_id, calendar_id=calendar_id, user=user
        )
        return busy_service.read_refresh(
            session=session, calendar=calendar, fetch=feed_fetcher(request)
        )

    refresh = await run_in_threadpool(read)

    def store(writing: Session) -> BusyCalendarPublic:
        calendar = busy_service.store_refresh(session=writing, refresh=refresh)
        if calendar is None:  # deleted while it was being fetched
            raise NotFound(messages.BUSY_CALENDAR_NOT_FOUND.format(id=calendar_id))
        return _calendar_public(calendar)

    return await write_now(session, store)


@router.delete(
    "/api/experts/{expert_id}/busy-calendars/{calendar_id}",
    status_code=204,
    summary="删除忙碌日历",
    dependencies=[performs(Action.expert_edit)],
)
def delete_busy_calendar(
    expert_id: str, calendar_id: RecordId, session: SessionDep, user: CurrentUser
) -> Response:
    busy_service.delete_busy_calendar(
        session=session, expert_id=expert_id, calendar_id=calendar_id, user=user
    )
    return Response(status_code=204)
