"""Requests for a time: file, list, answer (offer a time, which books a confirmed session through
booking.sessions, or decline), withdraw. They flush, never commit; notices go in the same
transaction as the change."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from sqlmodel import Session, col, select

from booking import ical
from booking.notifications import outbox
from booking.schedule.service import list_slots
from booking.sessions.models import BookingCreate, BookingKind
from booking.sessions.service import book_offered_time, check_request
from booking.time_requests.models import (
    DAY_PART_HOURS,
    DayPart,
    TimeRequest,
    TimeRequestCreate,
    TimeRequestPublic,
    TimeRequestStatus,
)
from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import (
    Action,
    Scope,
    covers,
    covers_expert,
    reach,
    require,
    require_district,
)
from marketplace.accounts.service import actor_for
from marketplace.audit.service import save_and_record
from marketplace.clock import LOCAL_TZ, utcnow
from marketplace.districts.models import District
from marketplace.errors import Conflict, Forbidden, InvalidInput, NotFound
from marketplace.experts.models import Expert
from marketplace.experts.service import get_expert
from marketplace.notifications.models import NotificationKind
from marketplace.notifications.service import notify, recipients
from marketplace.vocabulary import ExpertStatus, Format, Role


def _link(time_request: TimeRequest) -> str:
    return f"/time-requests#time-request-{time_request.id}"


def _who(session: Session, time_request: TimeRequest) -> str:
    expert = session.get(Expert, time_request.expert_id)
    district = session.get(District, time_request.district_id)
    return "，".join(
        n for n in (expert.name if expert else "", district.name if district else "") if n
    )


def _tell(
    session: Session,
    time_request: TimeRequest,
    event: str,
    *,
    user_ids: list[int],
    kind: NotificationKind,
    now: datetime,
    **details: str,
) -> None:
    """The inbox entry of each user concerned and, for those with an address, an e-mail: both
    written in the caller's transaction, with the change. The title is the event's message
    (NOTIFY_TIME_REQUEST) with the request's title, who it is between, and any details."""
    title = messages.NOTIFY_TIME_REQUEST[event].format(
        title=time_request.title, who=_who(session, time_request), **details
    )
    dedupe_key = f"time_request:{event}:{time_request.id}"
    notify(
        session=session,
        user_ids=user_ids,
        kind=kind,
        title=title,
        link=_link(time_request),
        dedupe_key=dedupe_key,
        now=now,
    )
    if not user_ids:
        return
    for user in session.exec(select(User).where(col(User.id).in_(user_ids))).all():
        if user.email:
            outbox.enqueue(
                session=session,
                kind="time_request",
                recipient=user.email,
                subject=title,
                body=messages.TIME_REQUEST_MAIL_BODY.format(title=title),
                dedupe_key=f"{dedupe_key}:{user.email}",
            )


def _snapshot(time_request: TimeRequest) -> dict:
    return time_request.model_dump(mode="json")


def _save(
    session: Session, user: User, action: str, time_request: TimeRequest, before: dict | None
) -> None:
    """Write the change and its audit entry (before and after)."""
    save_and_record(
        session=session,
        row=time_request,
        actor=actor_for(user),
        action=action,
        entity_type="time_request",
        before=before,
        after=_snapshot(time_request),
    )


def file_time_request(
    *, session: Session, data: TimeRequestCreate, user: User, now: datetime | None = None
) -> TimeRequest:
    """A district (or a center for one of its districts) asks an expert for a time in a window."""
    now = now or utcnow()
    scope = require(user, Action.time_request_file)
    if scope is Scope.own_district:
        if data.district_id is not None and data.district_id != user.district_id:
            raise Forbidden(messages.BOOKING_OWN_DISTRICT_ONLY)
        district_id = user.district_id
    else:
        district_id = data.district_id
    if district_id is None:
        raise InvalidInput(messages.BOOKING_NEEDS_DISTRICT, field="district_id")
    require_district(session, user, Action.time_request_file, district_id=district_id)
    if session.get(District, district_id) is None:
        raise NotFound(messages.DISTRICT_NOT_FOUND.format(name=district_id))
    expert = get_expert(session=session, expert_id=data.expert_id)
    if expert.status != ExpertStatus.active:
        raise InvalidInput(messages.EXPERT_NOT_BOOKABLE, field="expert_id")
    if data.kind.value not in expert.service_types:
        raise InvalidInput(
            messages.EXPERT_NO_SERVICE.format(kind=messages.BOOKING_KIND_LABELS[data.kind.value]),
            field="kind",
        )
    if data.format.value not in expert.formats:
        raise InvalidInput(
            messages.EXPERT_NO_FORMAT.format(format=messages.FORMAT_LABELS[data.format]),
            field="format",
        )
    if data.earliest_day < now.astimezone(LOCAL_TZ).date():
        raise InvalidInput(messages.TIME_REQUEST_PAST, field="earliest_day")
    if data.request_id is not None:
        check_request(session, data.request_id, district_id)
    time_request = TimeRequest(
        expert_id=expert.id,
        district_id=district_id,
        request_id=data.request_id,
        created_by_user_id=user.id,
        kind=data.kind.value,
        format=data.format.value,
        duration_minutes=data.duration_minutes,
        earliest_day=data.earliest_day,
        latest_day=data.latest_day,
        day_part=data.day_part.value,
        title=data.title,
        note=data.note,
        created_at=now,
        updated_at=now,
    )
    _save(session, user, "time_request.create", time_request, None)
    _tell(
        session,
        time_request,
        "filed",
        user_ids=recipients(session=session, expert_id=expert.id),
        kind=NotificationKind.time_request,
        now=now,
        earliest=f"{time_request.earliest_day:%m-%d}",
        latest=f"{time_request.latest_day:%m-%d}",
    )
    return time_request


def list_time_requests(
    *, session: Session, user: User, status: TimeRequestStatus | None = None, limit: int = 200
) -> list[TimeRequest]:
    """Requests for a time by role: a district's own, an expert's own, a center's region's."""
    scope = require(user, Action.time_request_read)
    query = select(TimeRequest)
    if scope is Scope.own_expert:
        query = query.where(TimeRequest.expert_id == user.expert_id)
    else:
        districts = reach(session, user, Action.time_request_read)
        if districts is not None:
            query = query.where(col(TimeRequest.district_id).in_(sorted(districts)))
    if status is not None:
        query = query.where(TimeRequest.status == status.value)
    query = query.order_by(col(TimeRequest.created_at).desc(), col(TimeRequest.id).desc())
    return list(session.exec(query.limit(limit)).all())


def _may_read(session: Session, user: User, time_request: TimeRequest) -> bool:
    scope = require(user, Action.time_request_read)
    if scope is Scope.own_expert:
        return user.expert_id == time_request.expert_id
    return covers(session, user, Action.time_request_read, district_id=time_request.district_id)


def get_time_request(*, session: Session, time_request_id: int, user: User) -> TimeRequest:
    """A request for a time the user may see."""
    time_request = session.get(TimeRequest, time_request_id)
    if time_request is None:
        raise NotFound(messages.TIME_REQUEST_NOT_FOUND)
    if not _may_read(session, user, time_request):
        raise Forbidden(messages.FORBIDDEN)
    return time_request


def _lock_open(session: Session, time_request_id: int) -> TimeRequest:
    time_request = session.exec(
        select(TimeRequest).where(TimeRequest.id == time_request_id).with_for_update()
    ).first()
    if time_request is None:
        raise NotFound(messages.TIME_REQUEST_NOT_FOUND)
    return time_request


def _require_open(time_request: TimeRequest) -> None:
    if time_request.status != TimeRequestStatus.open.value:
        raise Conflict(
            messages.TIME_REQUEST_NOT_OPEN.format(
                status=messages.TIME_REQUEST_STATUS_LABELS.get(
                    time_request.status, time_request.status
                )
            )
        )


def _lock_for_expert_side(session: Session, time_request_id: int, user: User) -> TimeRequest:
    time_request = _lock_open(session, time_request_id)
    if not covers_expert(user, Action.time_request_answer, expert_id=time_request.expert_id):
        if _may_read(session, user, time_request):
            raise Forbidden(messages.FORBIDDEN)
        raise NotFound(messages.TIME_REQUEST_NOT_FOUND)
    _require_open(time_request)
    return time_request


def fits_window(time_request: TimeRequest, start: datetime, end: datetime) -> bool:
    """Whether a session from `start` to `end` lies in the requested days and part of the day."""
    local_start, local_end = start.astimezone(LOCAL_TZ), end.astimezone(LOCAL_TZ)
    if not time_request.earliest_day <= local_start.date() <= time_request.latest_day:
        return False
    low, high = DAY_PART_HOURS[DayPart(time_request.day_part)]
    day_start = datetime.combine(local_start.date(), time(0), tzinfo=LOCAL_TZ)
    return day_start + timedelta(hours=low) <= local_start and local_end <= day_start + timedelta(
        hours=high
    )


def offer_time(
    *,
    session: Session,
    time_request_id: int,
    start: datetime,
    end: datetime,
    user: User,
    now: datetime | None = None,
    uid_domain: str = ical.UID_DOMAIN,
) -> TimeRequest:
    """The expert side offers a time within the request: a confirmed session for the district."""
    now = now or utcnow()
    time_request = _lock_for_expert_side(session, time_request_id, user)
    if round((end - start).total_seconds() / 60) != time_request.duration_minutes:
        raise InvalidInput(
            messages.TIME_REQUEST_DURATION.format(minutes=time_request.duration_minutes),
            field="end",
        )
    if not fits_window(time_request, start, end):
        raise InvalidInput(
            messages.TIME_REQUEST_OUTSIDE.format(
                earliest=time_request.earliest_day.isoformat(),
                latest=time_request.latest_day.isoformat(),
                part=messages.DAY_PART_LABELS[time_request.day_part],
            ),
            field="start",
        )
    before = _snapshot(time_request)
    booking = book_offered_time(
        session=session,
        data=BookingCreate(
            expert_id=time_request.expert_id,
            start=start,
            end=end,
            kind=BookingKind(time_request.kind),
            format=Format(time_request.format),
            title=time_request.title,
            description=time_request.note,
            request_id=time_request.request_id,
        ),
        district_id=time_request.district_id,
        requested_by_user_id=time_request.created_by_user_id,
        user=user,
        now=now,
        uid_domain=uid_domain,
    )
    time_request.status = TimeRequestStatus.offered.value
    time_request.booking_id = booking.id
    time_request.answered_at = time_request.updated_at = now
    _save(session, user, "time_request.offer", time_request, before)
    # The district hears of it through the session's own confirmation (inbox and mail with .ics).
    return time_request


def decline_time_request(
    *,
    session: Session,
    time_request_id: int,
    reason: str,
    user: User,
    now: datetime | None = None,
) -> TimeRequest:
    """The expert side cannot offer a time, and says why; the district is told."""
    now = now or utcnow()
    time_request = _lock_for_expert_side(session, time_request_id, user)
    before = _snapshot(time_request)
    time_request.status = TimeRequestStatus.declined.value
    time_request.decline_reason = reason
    time_request.answered_at = time_request.updated_at = now
    _save(session, user, "time_request.decline", time_request, before)
    _tell(
        session,
        time_request,
        "declined",
        user_ids=recipients(session=session, district_id=time_request.district_id),
        kind=NotificationKind.time_request_answered,
        now=now,
        reason=reason,
    )
    return time_request


def withdraw_time_request(
    *, session: Session, time_request_id: int, user: User, now: datetime | None = None
) -> TimeRequest:
    """The district no longer needs the time; the expert is told."""
    now = now or utcnow()
    time_request = _lock_open(session, time_request_id)
    if user.role == Role.expert.value or not covers(
        session, user, Action.time_request_file, district_id=time_request.district_id
    ):
        if _may_read(session, user, time_request):
            raise Forbidden(messages.FORBIDDEN)
        raise NotFound(messages.TIME_REQUEST_NOT_FOUND)
    _require_open(time_request)
    before = _snapshot(time_request)
    time_request.status = TimeRequestStatus.withdrawn.value
    time_request.updated_at = now
    _save(session, user, "time_request.withdraw", time_request, before)
    _tell(
        session,
        time_request,
        "withdrawn",
        user_ids=recipients(session=session, expert_id=time_request.expert_id),
        kind=NotificationKind.time_request_answered,
        now=now,
    )
    return time_request


def offer_choices(
    *, session: Session, time_request: TimeRequest, now: datetime | None = None, limit: int = 24
) -> list[tuple[datetime, datetime]]:
    """The expert's free times that fit the request (what the expert can offer with one click)."""
    now = now or utcnow()
    first = max(time_request.earliest_day, now.astimezone(LOCAL_TZ).date())
    if first > time_request.latest_day:
        return []
    slots = list_slots(
        session=session,
        expert_id=time_request.expert_id,
        start_day=first,
        end_day=time_request.latest_day,
        duration_minutes=time_request.duration_minutes,
        now=now,
    )
    chosen: list[tuple[datetime, datetime]] = []
    for start, end in slots:
        if not fits_window(time_request, start, end):
            continue
        if chosen and start < chosen[-1][1]:
            continue  # one-click choices do not overlap
        chosen.append((start.astimezone(LOCAL_TZ), end.astimezone(LOCAL_TZ)))
        if len(chosen) == limit:
            break
    return chosen


def public_views(*, session: Session, time_requests: list[TimeRequest]) -> list[TimeRequestPublic]:
    """The API shape, with the expert's and the district's names."""
    expert_ids = {t.expert_id for t in time_requests}
    district_ids = {t.district_id for t in time_requests}
    experts = {
        e.id: e.name
        for e in session.exec(select(Expert).where(col(Expert.id).in_(expert_ids))).all()
    }
    districts = {
        d.id: d.name
        for d in session.exec(select(District).where(col(District.id).in_(district_ids))).all()
    }
    return [
        TimeRequestPublic(
            id=t.id or 0,
            expert_id=t.expert_id,
            expert_name=experts.get(t.expert_id, t.expert_id),
            district_id=t.district_id,
            district_name=districts.get(t.district_id, ""),
            request_id=t.request_id,
            kind=BookingKind(t.kind),
            format=Format(t.format),
            duration_minutes=t.duration_minutes,
            earliest_day=t.earliest_day,
            latest_day=t.latest_day,
            day_part=DayPart(t.day_part),
            title=t.title,
            note=t.note,
            status=TimeRequestStatus(t.status),
            booking_id=t.booking_id,
            decline_reason=t.decline_reason,
            answered_at=t.answered_at,
            created_at=t.created_at,
        )
        for t in time_requests
    ]


def first_day(now: datetime | None = None) -> date:
    """Today in Beijing time: the earliest day a request for a time may start."""
    return (now or utcnow()).astimezone(LOCAL_TZ).date()
