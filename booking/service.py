"""Booking services: availability, busy calendars, sessions and their lifecycle, trainings,
ratings, subscription feeds, reminders and crisis escalation. They flush, never commit."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from booking import availability as av
from booking import ical, notify
from booking.locking import serialized_session
from booking.models import (
    CHARGED_KINDS,
    LIVE_STATUSES,
    AvailabilityException,
    AvailabilityProfile,
    AvailabilityPublic,
    AvailabilityRule,
    AvailabilityUpdate,
    Booking,
    BookingCreate,
    BookingKind,
    BookingPublic,
    BookingRating,
    BookingStatus,
    BusyCalendar,
    BusyTime,
    CalendarFeedToken,
    OutOfOfficeIn,
    RatingCreate,
    RegistrationCreate,
    TrainingRegistration,
)
from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.service import actor_for
from marketplace.audit.service import Actor, record
from marketplace.clock import LOCAL_TZ, utcnow
from marketplace.districts.models import District
from marketplace.errors import Conflict, Forbidden, InvalidInput, NotFound
from marketplace.experts.models import Expert
from marketplace.experts.service import get_expert
from marketplace.vocabulary import ExpertStatus, Role

STAFF_ROLES = (Role.staff.value, Role.admin.value)
CRISIS_ESCALATION_MINUTES = 30
BUSY_SYNC_EXTRA_DAYS = 30
FEED_PAST_DAYS = 90
FEED_MAX_SESSIONS = 2000
OVERLAP_CONSTRAINT = "booking_session_no_overlap"

__all__ = ["serialized_session"]  # re-exported: callers open booking transactions through it


# --- roles ----------------------------------------------------------------------------------


def is_staff(user: User) -> bool:
    return user.role in STAFF_ROLES


def _require_expert_editor(user: User, expert_id: str) -> None:
    if not (is_staff(user) or (user.role == Role.expert and user.expert_id == expert_id)):
        raise Forbidden(messages.FORBIDDEN)


def _require_district_owner(user: User, district_id: int) -> None:
    if not (is_staff(user) or (user.role == Role.district and user.district_id == district_id)):
        raise Forbidden(messages.FORBIDDEN)


def _is_expert_side(user: User, booking: Booking) -> bool:
    return is_staff(user) or (user.role == Role.expert and user.expert_id == booking.expert_id)


def _is_party(user: User, booking: Booking) -> bool:
    return _is_expert_side(user, booking) or (
        user.role == Role.district and user.district_id == booking.district_id
    )


# --- availability ---------------------------------------------------------------------------


def _rules(session: Session, expert_id: str) -> list[AvailabilityRule]:
    return list(
        session.exec(
            select(AvailabilityRule)
            .where(AvailabilityRule.expert_id == expert_id)
            .order_by(AvailabilityRule.weekday, AvailabilityRule.start_minute)
        ).all()
    )


def _exceptions(session: Session, expert_id: str) -> list[AvailabilityException]:
    return list(
        session.exec(
            select(AvailabilityException)
            .where(AvailabilityException.expert_id == expert_id)
            .order_by(col(AvailabilityException.id))
        ).all()
    )


def get_availability(*, session: Session, expert_id: str) -> AvailabilityPublic:
    """The expert's availability as the PUT body shape (defaults when never set)."""
    get_expert(session=session, expert_id=expert_id)
    profile = session.get(AvailabilityProfile, expert_id) or AvailabilityProfile(
        expert_id=expert_id
    )
    weekly = [
        {
            "weekday": r.weekday,
            "start": av.format_clock(r.start_minute),
            "end": av.format_clock(r.end_minute),
        }
        for r in _rules(session, expert_id)
    ]
    overrides: dict[date, dict] = {}
    exceptions: list[dict] = []
    for row in _exceptions(session, expert_id):
        if row.kind == "out_of_office" and row.start_at and row.end_at:
            exceptions.append(
                {
                    "kind": "out_of_office",
                    "start": row.start_at.astimezone(LOCAL_TZ),
                    "end": row.end_at.astimezone(LOCAL_TZ),
                    "note": row.note,
                }
            )
        elif row.day is not None:
            override = overrides.get(row.day)
            if override is None:
                override = overrides[row.day] = {
                    "kind": "override",
                    "date": row.day,
                    "ranges": [],
                    "note": row.note,
                }
                exceptions.append(override)
            if row.start_minute is not None and row.end_minute is not None:
                override["ranges"].append(
                    {
                        "start": av.format_clock(row.start_minute),
                        "end": av.format_clock(row.end_minute),
                    }
                )
    return AvailabilityPublic.model_validate(
        {
            "expert_id": expert_id,
            "timezone": profile.timezone,
            "weekly": weekly,
            "exceptions": exceptions,
            "buffer_before_minutes": profile.buffer_before_minutes,
            "buffer_after_minutes": profile.buffer_after_minutes,
            "min_notice_minutes": profile.min_notice_minutes,
            "horizon_days": profile.horizon_days,
            "daily_limit_hours": profile.daily_limit_hours,
            "monthly_limit_hours": profile.monthly_limit_hours,
            "updated_at": profile.updated_at,
        }
    )


def set_availability(
    *, session: Session, expert_id: str, data: AvailabilityUpdate, user: User
) -> AvailabilityPublic:
    """Replace the expert's policy, weekly rules and exceptions (expert themself or staff)."""
    _require_expert_editor(user, expert_id)
    get_expert(session=session, expert_id=expert_id)
    before = get_availability(session=session, expert_id=expert_id).model_dump(mode="json")
    profile = session.get(AvailabilityProfile, expert_id) or AvailabilityProfile(
        expert_id=expert_id
    )
    for name in (
        "timezone",
        "buffer_before_minutes",
        "buffer_after_minutes",
        "min_notice_minutes",
        "horizon_days",
        "daily_limit_hours",
        "monthly_limit_hours",
    ):
        setattr(profile, name, getattr(data, name))
    profile.updated_at = utcnow()
    session.add(profile)
    for row in [*_rules(session, expert_id), *_exceptions(session, expert_id)]:
        session.delete(row)
    session.flush()
    for rule in data.weekly:
        session.add(
            AvailabilityRule(
                expert_id=expert_id,
                weekday=rule.weekday,
                start_minute=av.parse_clock(rule.start),
                end_minute=av.parse_clock(rule.end),
            )
        )
    for exception in data.exceptions:
        if isinstance(exception, OutOfOfficeIn):
            session.add(
                AvailabilityException(
                    expert_id=expert_id,
                    kind="out_of_office",
                    start_at=exception.start,
                    end_at=exception.end,
                    note=exception.note,
                )
            )
        elif not exception.ranges:
            session.add(
                AvailabilityException(
                    expert_id=expert_id, kind="override", day=exception.date, note=exception.note
                )
            )
        else:
            for r in exception.ranges:
                session.add(
                    AvailabilityException(
                        expert_id=expert_id,
                        kind="override",
                        day=exception.date,
                        note=exception.note,
                        start_minute=av.parse_clock(r.start),
                        end_minute=av.parse_clock(r.end),
                    )
                )
    session.flush()
    after = get_availability(session=session, expert_id=expert_id)
    record(
        session=session,
        actor=actor_for(user),
        action="availability.set",
        entity_type="expert",
        entity_id=expert_id,
        before=before,
        after=after.model_dump(mode="json"),
    )
    return after


def load_schedule(*, session: Session, expert: Expert) -> av.Schedule:
    """The pure availability input for one expert."""
    profile = session.get(AvailabilityProfile, expert.id) or AvailabilityProfile(
        expert_id=expert.id
    )
    monthly_hours = (
        profile.monthly_limit_hours
        if profile.monthly_limit_hours is not None
        else expert.monthly_capacity_hours
    )
    policy = av.Policy(
        timezone=profile.timezone,
        buffer_before_minutes=profile.buffer_before_minutes,
        buffer_after_minutes=profile.buffer_after_minutes,
        min_notice_minutes=profile.min_notice_minutes,
        horizon_days=profile.horizon_days,
        daily_limit_minutes=round(profile.daily_limit_hours * 60)
        if profile.daily_limit_hours
        else None,
        monthly_limit_minutes=round(monthly_hours * 60),
    )
    overrides: dict[date, list[tuple[int, int]]] = {}
    out_of_office: list[av.Interval] = []
    for row in _exceptions(session, expert.id):
        if row.kind == "out_of_office" and row.start_at and row.end_at:
            out_of_office.append((row.start_at, row.end_at))
        elif row.day is not None:
            ranges = overrides.setdefault(row.day, [])
            if row.start_minute is not None and row.end_minute is not None:
                ranges.append((row.start_minute, row.end_minute))
    return av.Schedule(
        policy=policy,
        weekly=tuple(
            av.WeeklyRule(r.weekday, r.start_minute, r.end_minute)
            for r in _rules(session, expert.id)
        ),
        overrides=tuple(av.DateOverride(day, tuple(r)) for day, r in overrides.items()),
        out_of_office=tuple(out_of_office),
    )


def _busy(session: Session, expert_id: str, start: datetime, end: datetime) -> list[av.Interval]:
    rows = session.exec(
        select(BusyTime.start_at, BusyTime.end_at).where(
            BusyTime.expert_id == expert_id, BusyTime.start_at < end, BusyTime.end_at > start
        )
    ).all()
    return [(s, e) for s, e in rows]


def _booked(
    session: Session, expert_id: str, start: datetime, end: datetime, exclude_id: int | None = None
) -> list[av.Interval]:
    query = select(Booking.start_at, Booking.end_at).where(
        Booking.expert_id == expert_id,
        col(Booking.status).in_(LIVE_STATUSES),
        Booking.start_at < end,
        Booking.end_at > start,
    )
    if exclude_id is not None:
        query = query.where(Booking.id != exclude_id)
    return [(s, e) for s, e in session.exec(query).all()]


def _context_window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    # Wide enough for the buffers and for whole local months (monthly hour limit).
    return start - timedelta(days=32), end + timedelta(days=32)


def list_slots(
    *,
    session: Session,
    expert_id: str,
    start_day: date,
    end_day: date,
    duration_minutes: int,
    now: datetime | None = None,
    kind: BookingKind | None = None,
) -> list[av.Interval]:
    """Bookable slots from `start_day` to `end_day` (inclusive, the expert's local dates)."""
    if not av.MIN_DURATION_MINUTES <= duration_minutes <= av.MAX_DURATION_MINUTES:
        raise InvalidInput(
            messages.SLOT_DURATION_INVALID.format(
                low=av.MIN_DURATION_MINUTES, high=av.MAX_DURATION_MINUTES
            )
        )
    if end_day < start_day or (end_day - start_day).days >= av.MAX_WINDOW_DAYS:
        raise InvalidInput(messages.SLOT_WINDOW_INVALID.format(days=av.MAX_WINDOW_DAYS))
    expert = get_expert(session=session, expert_id=expert_id)
    if expert.status != ExpertStatus.active:
        return []
    schedule = load_schedule(session=session, expert=expert)
    tz = av.parse_timezone(schedule.policy.timezone)
    start = datetime.combine(start_day, time(0), tzinfo=tz)
    end = datetime.combine(end_day + timedelta(days=1), time(0), tzinfo=tz)
    low, high = _context_window(start, end)
    return av.free_slots(
        schedule,
        busy=_busy(session, expert_id, low, high),
        booked=_booked(session, expert_id, low, high),
        start=start,
        end=end,
        duration_minutes=duration_minutes,
        now=now or utcnow(),
        bypass_notice=kind == BookingKind.crisis_support,
    )


def _check_slot(
    session: Session,
    expert: Expert,
    start: datetime,
    end: datetime,
    *,
    now: datetime,
    kind: str,
    exclude_id: int | None = None,
) -> None:
    schedule = load_schedule(session=session, expert=expert)
    low, high = _context_window(start, end)
    try:
        av.check_slot(
            schedule,
            busy=_busy(session, expert.id, low, high),
            booked=_booked(session, expert.id, low, high, exclude_id),
            start=start,
            end=end,
            now=now,
            bypass_notice=kind == BookingKind.crisis_support,
        )
    except av.SlotRejected as rejected:
        message = messages.SLOT_REJECTED[rejected.reason].format(
            minutes=schedule.policy.min_notice_minutes, days=schedule.policy.horizon_days
        )
        if rejected.reason == "taken":
            raise Conflict(message) from None
        raise InvalidInput(message) from None


def _lock_expert(session: Session, expert_id: str) -> Expert:
    # Serializes bookings of one expert on PostgreSQL, so buffers and hour limits hold under
    # concurrency too; the exclusion constraint still guarantees no overlap on its own.
    # SQLite ignores FOR UPDATE: there the whole transaction is serialized (serialized_session).
    expert = session.exec(select(Expert).where(Expert.id == expert_id).with_for_update()).first()
    if expert is None:
        raise NotFound(messages.EXPERT_NOT_FOUND.format(id=expert_id))
    return expert


def _flush_guarded(session: Session, booking: Booking) -> None:
    """Write the booking; an overlap refused by the database becomes a 409."""
    try:
        with session.begin_nested():
            session.add(booking)
            session.flush()
    except IntegrityError as exc:
        text = str(exc.orig)
        if OVERLAP_CONSTRAINT in text or "booking_overlap" in text:
            raise Conflict(messages.SLOT_TAKEN) from None
        raise


# --- sessions -------------------------------------------------------------------------------


def _snapshot(booking: Booking) -> dict:
    return {
        "status": booking.status,
        "start": booking.start_at.isoformat(),
        "end": booking.end_at.isoformat(),
        "sequence": booking.sequence,
        "expert_id": booking.expert_id,
        "district_id": booking.district_id,
    }


def create_booking(
    *, session: Session, data: BookingCreate, user: User, now: datetime | None = None
) -> Booking:
    """Request a session: a district books for itself, staff for any district; 409 when taken."""
    now = now or utcnow()
    if user.role == Role.district:
        if data.district_id is not None and data.district_id != user.district_id:
            raise Forbidden(messages.BOOKING_OWN_DISTRICT_ONLY)
        district_id = user.district_id
    elif is_staff(user):
        district_id = data.district_id
    else:
        raise Forbidden(messages.FORBIDDEN)
    if district_id is None:
        raise InvalidInput(messages.BOOKING_NEEDS_DISTRICT)
    if session.get(District, district_id) is None:
        raise NotFound(messages.DISTRICT_NOT_FOUND.format(name=district_id))
    expert = _lock_expert(session, data.expert_id)
    if expert.status != ExpertStatus.active:
        raise InvalidInput(messages.EXPERT_NOT_BOOKABLE)
    if data.kind.value not in expert.service_types:
        raise InvalidInput(
            messages.EXPERT_NO_SERVICE.format(kind=messages.BOOKING_KIND_LABELS[data.kind])
        )
    if data.format.value not in expert.formats:
        raise InvalidInput(
            messages.EXPERT_NO_FORMAT.format(format=messages.FORMAT_LABELS[data.format])
        )
    _check_slot(session, expert, data.start, data.end, now=now, kind=data.kind)
    booking = Booking(
        uid=ical.session_uid(uuid.uuid4().hex),
        expert_id=expert.id,
        district_id=district_id,
        request_id=data.request_id,
        kind=data.kind.value,
        format=data.format.value,
        title=data.title,
        description=data.description,
        start_at=data.start,
        end_at=data.end,
        capacity=data.capacity,
        created_by_user_id=user.id,
        created_at=now,
        updated_at=now,
    )
    _flush_guarded(session, booking)
    record(
        session=session,
        actor=actor_for(user),
        action="booking.create",
        entity_type="booking",
        entity_id=str(booking.id),
        after=_snapshot(booking),
    )
    _notify(session, booking, "request", sides=("expert", "district"))
    return booking


def get_booking(*, session: Session, booking_id: int, user: User) -> Booking:
    """A booking the user may see (a party to it, staff, or any district for a training)."""
    booking = session.get(Booking, booking_id)
    if booking is None:
        raise NotFound(messages.BOOKING_NOT_FOUND.format(id=booking_id))
    if _is_party(user, booking) or (
        booking.kind == BookingKind.training and user.role == Role.district
    ):
        return booking
    raise Forbidden(messages.FORBIDDEN)


def list_bookings(
    *,
    session: Session,
    user: User,
    status: BookingStatus | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
) -> list[Booking]:
    """Bookings by role: a district's own, an expert's own, every booking for staff."""
    query = select(Booking)
    if user.role == Role.district:
        query = query.where(Booking.district_id == user.district_id)
    elif user.role == Role.expert:
        query = query.where(Booking.expert_id == user.expert_id)
    elif not is_staff(user):
        raise Forbidden(messages.FORBIDDEN)
    if status is not None:
        query = query.where(Booking.status == status.value)
    if start is not None:
        query = query.where(Booking.end_at > start)
    if end is not None:
        query = query.where(Booking.start_at < end)
    return list(
        session.exec(query.order_by(col(Booking.start_at), col(Booking.id)).limit(limit)).all()
    )


def _lock_booking(session: Session, booking_id: int) -> Booking:
    booking = session.exec(
        select(Booking).where(Booking.id == booking_id).with_for_update()
    ).first()
    if booking is None:
        raise NotFound(messages.BOOKING_NOT_FOUND.format(id=booking_id))
    return booking


def _transition(
    session: Session, booking: Booking, *, allowed_from: tuple[str, ...], to: str
) -> dict:
    if booking.status not in allowed_from:
        raise Conflict(
            messages.BOOKING_BAD_TRANSITION.format(
                status=messages.BOOKING_STATUS_LABELS.get(booking.status, booking.status)
            )
        )
    before = _snapshot(booking)
    booking.status = to
    booking.sequence += 1
    booking.updated_at = utcnow()
    session.add(booking)
    return before


def _audit(
    session: Session, user: User | Actor, action: str, booking: Booking, before: dict
) -> None:
    actor = user if isinstance(user, Actor) else actor_for(user)
    record(
        session=session,
        actor=actor,
        action=action,
        entity_type="booking",
        entity_id=str(booking.id),
        before=before,
        after=_snapshot(booking),
    )


def confirm_booking(*, session: Session, booking_id: int, user: User) -> Booking:
    """The expert (or staff) accepts a requested session."""
    booking = _lock_booking(session, booking_id)
    if not _is_expert_side(user, booking):
        raise Forbidden(messages.FORBIDDEN)
    before = _transition(
        session, booking, allowed_from=(BookingStatus.requested,), to=BookingStatus.confirmed
    )
    session.flush()
    _audit(session, user, "booking.confirm", booking, before)
    _notify(session, booking, "confirmation")
    return booking


def decline_booking(*, session: Session, booking_id: int, reason: str, user: User) -> Booking:
    """The expert (or staff) declines a requested session, with a reason."""
    booking = _lock_booking(session, booking_id)
    if not _is_expert_side(user, booking):
        raise Forbidden(messages.FORBIDDEN)
    before = _transition(
        session, booking, allowed_from=(BookingStatus.requested,), to=BookingStatus.declined
    )
    booking.decline_reason = reason
    session.flush()
    _audit(session, user, "booking.decline", booking, before)
    _notify(session, booking, "declined", extra=f"原因：{reason}")
    return booking


def cancel_booking(*, session: Session, booking_id: int, reason: str, user: User) -> Booking:
    """Either party (or staff) cancels a live session, with a reason; the slot is freed."""
    booking = _lock_booking(session, booking_id)
    if not _is_party(user, booking):
        raise Forbidden(messages.FORBIDDEN)
    before = _transition(session, booking, allowed_from=LIVE_STATUSES, to=BookingStatus.cancelled)
    booking.cancel_reason = reason
    booking.cancelled_by = f"{user.role}:{user.username}"[:64]
    session.flush()
    _audit(session, user, "booking.cancel", booking, before)
    _notify(session, booking, "cancellation", extra=f"原因：{reason}")
    return booking


def reschedule_booking(
    *,
    session: Session,
    booking_id: int,
    start: datetime,
    end: datetime,
    user: User,
    now: datetime | None = None,
) -> Booking:
    """Move a live session (same id and UID, new SEQUENCE); a district's move needs reconfirming."""
    now = now or utcnow()
    booking = _lock_booking(session, booking_id)
    if not _is_party(user, booking):
        raise Forbidden(messages.FORBIDDEN)
    if booking.status not in LIVE_STATUSES:
        raise Conflict(
            messages.BOOKING_BAD_TRANSITION.format(
                status=messages.BOOKING_STATUS_LABELS.get(booking.status, booking.status)
            )
        )
    expert = _lock_expert(session, booking.expert_id)
    _check_slot(session, expert, start, end, now=now, kind=booking.kind, exclude_id=booking.id)
    before = _snapshot(booking)
    booking.start_at, booking.end_at = start, end
    booking.sequence += 1
    booking.updated_at = now
    if user.role == Role.district:
        booking.status = BookingStatus.requested.value
    _flush_guarded(session, booking)
    _audit(session, user, "booking.reschedule", booking, before)
    _notify(session, booking, "change")
    return booking


def _require_started(booking: Booking, now: datetime) -> None:
    if now < booking.start_at:
        raise InvalidInput(messages.BOOKING_NOT_STARTED)


def complete_booking(
    *, session: Session, booking_id: int, user: User, now: datetime | None = None
) -> Booking:
    """Mark a confirmed session as held; supervision and training draw on the district's package."""
    booking = _lock_booking(session, booking_id)
    if not _is_expert_side(user, booking):
        raise Forbidden(messages.FORBIDDEN)
    _require_started(booking, now or utcnow())
    before = _transition(
        session, booking, allowed_from=(BookingStatus.confirmed,), to=BookingStatus.completed
    )
    if booking.kind in CHARGED_KINDS:
        booking.charged = _charge_district_package(
            session=session, booking=booking, actor=actor_for(user)
        )
    session.flush()
    _audit(session, user, "booking.complete", booking, before)
    return booking


def mark_no_show(
    *, session: Session, booking_id: int, user: User, now: datetime | None = None
) -> Booking:
    """Record that the district side did not attend a confirmed session."""
    booking = _lock_booking(session, booking_id)
    if not _is_expert_side(user, booking):
        raise Forbidden(messages.FORBIDDEN)
    _require_started(booking, now or utcnow())
    before = _transition(
        session, booking, allowed_from=(BookingStatus.confirmed,), to=BookingStatus.no_show
    )
    session.flush()
    _audit(session, user, "booking.no_show", booking, before)
    return booking


def _charge_district_package(*, session: Session, booking: Booking, actor: Actor) -> bool:
    """The single call site into procured-service allocation: charge the session's hours."""
    from marketplace.allocation.service import consume_supervision_hours  # lazy: sibling domain

    hours = (booking.end_at - booking.start_at).total_seconds() / 3600
    return consume_supervision_hours(
        session=session,
        district_id=booking.district_id,
        hours=hours,
        reference=f"booking:{booking.id}:{booking.uid}",
        actor=actor,
    )


def seats_taken(*, session: Session, booking_id: int) -> int:
    total = session.exec(
        select(func.coalesce(func.sum(TrainingRegistration.participants), 0)).where(
            TrainingRegistration.booking_id == booking_id
        )
    ).one()
    return int(total)


def register_for_training(
    *, session: Session, booking_id: int, data: RegistrationCreate, user: User
) -> TrainingRegistration:
    """A district registers a school's participants for a training; never over capacity."""
    if user.role != Role.district or user.district_id is None:
        raise Forbidden(messages.FORBIDDEN)
    booking = _lock_booking(session, booking_id)
    if booking.kind != BookingKind.training:
        raise InvalidInput(messages.TRAINING_ONLY)
    if booking.status not in LIVE_STATUSES:
        raise Conflict(
            messages.BOOKING_BAD_TRANSITION.format(
                status=messages.BOOKING_STATUS_LABELS.get(booking.status, booking.status)
            )
        )
    left = (booking.capacity or 0) - seats_taken(session=session, booking_id=booking_id)
    if data.participants > left:
        raise Conflict(messages.TRAINING_FULL.format(left=max(left, 0)))
    registration = TrainingRegistration(
        booking_id=booking_id,
        district_id=user.district_id,
        school=data.school,
        participants=data.participants,
    )
    session.add(registration)
    session.flush()
    record(
        session=session,
        actor=actor_for(user),
        action="training.register",
        entity_type="booking",
        entity_id=str(booking_id),
        after={
            "registration_id": registration.id,
            "school": data.school,
            "participants": data.participants,
            "district_id": user.district_id,
        },
    )
    return registration


def list_registrations(
    *, session: Session, booking_id: int, user: User
) -> list[TrainingRegistration]:
    """Registrations of a training: all for its parties, a district's own for other districts."""
    booking = get_booking(session=session, booking_id=booking_id, user=user)
    query = select(TrainingRegistration).where(TrainingRegistration.booking_id == booking.id)
    if not _is_party(user, booking):
        query = query.where(TrainingRegistration.district_id == user.district_id)
    return list(session.exec(query.order_by(col(TrainingRegistration.id))).all())


def list_open_trainings(
    *, session: Session, user: User, now: datetime | None = None, limit: int = 200
) -> list[Booking]:
    """Live trainings not yet started, open to every district (and shown to staff)."""
    if not (is_staff(user) or user.role == Role.district):
        raise Forbidden(messages.FORBIDDEN)
    query = select(Booking).where(
        Booking.kind == BookingKind.training.value,
        col(Booking.status).in_(LIVE_STATUSES),
        Booking.start_at > (now or utcnow()),
    )
    return list(
        session.exec(query.order_by(col(Booking.start_at), col(Booking.id)).limit(limit)).all()
    )


def list_ratings(
    *, session: Session, user: User, booking_ids: list[int] | None = None, limit: int = 200
) -> list[BookingRating]:
    """Ratings by role: of an expert's sessions, of a district's own, every rating for staff."""
    query = select(BookingRating).join(Booking, col(Booking.id) == BookingRating.booking_id)
    if user.role == Role.district:
        query = query.where(BookingRating.district_id == user.district_id)
    elif user.role == Role.expert:
        query = query.where(Booking.expert_id == user.expert_id)
    elif not is_staff(user):
        raise Forbidden(messages.FORBIDDEN)
    if booking_ids is not None:
        query = query.where(col(BookingRating.booking_id).in_(booking_ids or [0]))
    return list(session.exec(query.order_by(col(BookingRating.id).desc()).limit(limit)).all())


def rate_booking(
    *, session: Session, booking_id: int, data: RatingCreate, user: User
) -> BookingRating:
    """The booking district rates a completed session once."""
    booking = session.get(Booking, booking_id)
    if booking is None:
        raise NotFound(messages.BOOKING_NOT_FOUND.format(id=booking_id))
    if not (user.role == Role.district and user.district_id == booking.district_id):
        raise Forbidden(messages.FORBIDDEN)
    if booking.status != BookingStatus.completed:
        raise InvalidInput(messages.RATING_NEEDS_COMPLETED)
    if session.exec(select(BookingRating).where(BookingRating.booking_id == booking_id)).first():
        raise Conflict(messages.RATING_EXISTS)
    rating = BookingRating(
        booking_id=booking_id,
        district_id=booking.district_id,
        score=data.score,
        feedback=data.feedback,
    )
    try:
        with session.begin_nested():
            session.add(rating)
            session.flush()
    except IntegrityError:
        raise Conflict(messages.RATING_EXISTS) from None
    record(
        session=session,
        actor=actor_for(user),
        action="booking.rate",
        entity_type="booking",
        entity_id=str(booking_id),
        after={"score": data.score, "feedback": data.feedback},
    )
    return rating


def public_view(*, session: Session, booking: Booking) -> BookingPublic:
    """The API shape, with times in Asia/Shanghai."""
    return BookingPublic(
        id=booking.id or 0,
        uid=booking.uid,
        sequence=booking.sequence,
        expert_id=booking.expert_id,
        district_id=booking.district_id,
        request_id=booking.request_id,
        kind=BookingKind(booking.kind),
        format=booking.format,  # type: ignore[arg-type]
        title=booking.title,
        description=booking.description,
        status=BookingStatus(booking.status),
        start=booking.start_at.astimezone(LOCAL_TZ),
        end=booking.end_at.astimezone(LOCAL_TZ),
        capacity=booking.capacity,
        seats_taken=seats_taken(session=session, booking_id=booking.id or 0)
        if booking.kind == BookingKind.training
        else None,
        decline_reason=booking.decline_reason,
        cancel_reason=booking.cancel_reason,
        cancelled_by=booking.cancelled_by,
        escalated_at=booking.escalated_at,
        created_at=booking.created_at,
        updated_at=booking.updated_at,
    )


# --- iCalendar ------------------------------------------------------------------------------


def _email(user: User) -> str | None:
    return user.email or None


def _users(session: Session, *, role: str | tuple[str, ...], **where: object) -> list[User]:
    roles = (role,) if isinstance(role, str) else role
    query = select(User).where(col(User.role).in_(roles), User.is_active == True)  # noqa: E712
    for name, value in where.items():
        query = query.where(getattr(User, name) == value)
    return list(session.exec(query.order_by(col(User.id))).all())


def _info(booking: Booking, district_name: str) -> ical.SessionInfo:
    location = messages.FORMAT_LABELS.get(booking.format, booking.format)
    if booking.format == "onsite":
        location = f"{location}（{district_name}）"
    return ical.SessionInfo(
        uid=booking.uid,
        sequence=booking.sequence,
        title=f"{messages.BOOKING_KIND_LABELS.get(booking.kind, booking.kind)}：{booking.title}",
        description=booking.description,
        start=booking.start_at,
        end=booking.end_at,
        status=booking.status,
        location=location,
        updated_at=booking.updated_at,
    )


def booking_ics(*, session: Session, booking: Booking) -> bytes:
    """The session's invitation: REQUEST while live, CANCEL once cancelled or declined."""
    expert = session.get(Expert, booking.expert_id)
    district = session.get(District, booking.district_id)
    district_name = district.name if district else str(booking.district_id)
    expert_users = _users(session, role=Role.expert.value, expert_id=booking.expert_id)
    organizer_email = next((e for e in map(_email, expert_users) if e), None)
    organizer = ical.Party(
        expert.name if expert else booking.expert_id,
        organizer_email,
        key=f"expert:{booking.expert_id}",
    )
    attendees = [
        ical.Party(u.display_name or u.username, _email(u), key=f"user:{u.id}")
        for u in _users(session, role=Role.district.value, district_id=booking.district_id)
        if _email(u)
    ] or [ical.Party(district_name, None, key=f"district:{booking.district_id}")]
    cancelled = booking.status in (BookingStatus.cancelled, BookingStatus.declined)
    return ical.session_ics(
        _info(booking, district_name), organizer=organizer, attendees=attendees, cancelled=cancelled
    )


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_feed_owner(session: Session, user: User, owner_type: str, owner_id: str) -> None:
    if owner_type == "expert":
        get_expert(session=session, expert_id=owner_id)
        _require_expert_editor(user, owner_id)
    elif owner_type == "district":
        if not owner_id.isdigit() or session.get(District, int(owner_id)) is None:
            raise NotFound(messages.DISTRICT_NOT_FOUND.format(name=owner_id))
        _require_district_owner(user, int(owner_id))
    else:
        raise InvalidInput(messages.VALIDATION_FAILED)


def revoke_feed_tokens(*, session: Session, owner_type: str, owner_id: str, user: User) -> int:
    """Revoke every live subscription URL of an expert or a district."""
    _check_feed_owner(session, user, owner_type, owner_id)
    rows = session.exec(
        select(CalendarFeedToken).where(
            CalendarFeedToken.owner_type == owner_type,
            CalendarFeedToken.owner_id == owner_id,
            col(CalendarFeedToken.revoked_at).is_(None),
        )
    ).all()
    now = utcnow()
    for row in rows:
        row.revoked_at = now
        session.add(row)
    session.flush()
    if rows:
        record(
            session=session,
            actor=actor_for(user),
            action="feed.revoke",
            entity_type=owner_type,
            entity_id=owner_id,
            after={"revoked": len(rows)},
        )
    return len(rows)


def issue_feed_token(*, session: Session, owner_type: str, owner_id: str, user: User) -> str:
    """A new secret subscription token (older ones are revoked); only its hash is stored."""
    revoke_feed_tokens(session=session, owner_type=owner_type, owner_id=owner_id, user=user)
    token = secrets.token_urlsafe(32)
    session.add(
        CalendarFeedToken(owner_type=owner_type, owner_id=owner_id, token_hash=_hash_token(token))
    )
    session.flush()
    record(
        session=session,
        actor=actor_for(user),
        action="feed.issue",
        entity_type=owner_type,
        entity_id=owner_id,
        after={"issued": True},
    )
    return token


def feed_for_token(*, session: Session, token: str, now: datetime | None = None) -> bytes:
    """The subscription calendar a live token opens; NotFound for unknown or revoked tokens."""
    row = session.exec(
        select(CalendarFeedToken).where(
            CalendarFeedToken.token_hash == _hash_token(token),
            col(CalendarFeedToken.revoked_at).is_(None),
        )
    ).first()
    if row is None:
        raise NotFound(messages.FEED_NOT_FOUND)
    now = now or utcnow()
    query = select(Booking).where(
        Booking.start_at >= now - timedelta(days=FEED_PAST_DAYS),
        Booking.start_at < now + timedelta(days=366),
    )
    if row.owner_type == "expert":
        query = query.where(Booking.expert_id == row.owner_id)
        expert = session.get(Expert, row.owner_id)
        name = f"HEART · {expert.name if expert else row.owner_id}"
    else:
        query = query.where(Booking.district_id == int(row.owner_id))
        district = session.get(District, int(row.owner_id))
        name = f"HEART · {district.name if district else row.owner_id}"
    bookings = session.exec(query.order_by(col(Booking.start_at)).limit(FEED_MAX_SESSIONS)).all()
    names = (
        {
            d.id: d.name
            for d in session.exec(
                select(District).where(col(District.id).in_({b.district_id for b in bookings}))
            ).all()
        }
        if bookings
        else {}
    )
    return ical.feed_ics(name, [_info(b, names.get(b.district_id, "")) for b in bookings])


# --- busy calendars -------------------------------------------------------------------------


def _sync_window(session: Session, expert_id: str, now: datetime) -> tuple[datetime, datetime]:
    profile = session.get(AvailabilityProfile, expert_id)
    horizon = profile.horizon_days if profile else 90
    return now - timedelta(days=1), now + timedelta(days=horizon + BUSY_SYNC_EXTRA_DAYS)


def _parse_busy(session: Session, expert_id: str, data: bytes, now: datetime) -> list[av.Interval]:
    start, end = _sync_window(session, expert_id, now)
    profile = session.get(AvailabilityProfile, expert_id)
    try:
        return ical.busy_intervals(
            data, start=start, end=end, timezone=profile.timezone if profile else "Asia/Shanghai"
        )
    except ical.IcsRejected as rejected:
        raise InvalidInput(
            messages.ICS_REJECTED[rejected.reason].format(detail=rejected.detail)
        ) from None


def _replace_busy(
    session: Session, calendar: BusyCalendar, intervals: list[av.Interval], now: datetime
) -> None:
    session.execute(delete(BusyTime).where(col(BusyTime.calendar_id) == calendar.id))
    for start, end in intervals:
        session.add(
            BusyTime(
                calendar_id=calendar.id or 0,
                expert_id=calendar.expert_id,
                start_at=start,
                end_at=end,
            )
        )
    calendar.event_count = len(intervals)
    calendar.synced_at = now
    calendar.last_error = None
    session.add(calendar)
    session.flush()


def upload_busy_calendar(
    *,
    session: Session,
    expert_id: str,
    data: bytes,
    name: str,
    user: User,
    now: datetime | None = None,
) -> BusyCalendar:
    """Store the busy times of an uploaded .ics (checked fully before anything is stored)."""
    _require_expert_editor(user, expert_id)
    get_expert(session=session, expert_id=expert_id)
    now = now or utcnow()
    intervals = _parse_busy(session, expert_id, data, now)
    calendar = BusyCalendar(expert_id=expert_id, source="upload", name=name[:100])
    session.add(calendar)
    session.flush()
    _replace_busy(session, calendar, intervals, now)
    record(
        session=session,
        actor=actor_for(user),
        action="busy_calendar.upload",
        entity_type="expert",
        entity_id=expert_id,
        after={"calendar_id": calendar.id, "intervals": len(intervals)},
    )
    return calendar


FetchIcs = Callable[[str], bytes]


def _fetch(url: str, fetch: FetchIcs) -> bytes:
    try:
        return fetch(url)
    except ical.IcsRejected as rejected:
        raise InvalidInput(
            messages.ICS_REJECTED[rejected.reason].format(detail=rejected.detail)
        ) from None


def register_busy_feed(
    *,
    session: Session,
    expert_id: str,
    url: str,
    name: str,
    user: User,
    now: datetime | None = None,
    fetch: FetchIcs = ical.fetch_ics,
) -> BusyCalendar:
    """Register an ICS feed URL; it is fetched once now and stored only if it reads cleanly."""
    _require_expert_editor(user, expert_id)
    get_expert(session=session, expert_id=expert_id)
    now = now or utcnow()
    intervals = _parse_busy(session, expert_id, _fetch(url, fetch), now)
    calendar = BusyCalendar(expert_id=expert_id, source="feed", name=name[:100], url=url)
    session.add(calendar)
    session.flush()
    _replace_busy(session, calendar, intervals, now)
    record(
        session=session,
        actor=actor_for(user),
        action="busy_calendar.register",
        entity_type="expert",
        entity_id=expert_id,
        after={"calendar_id": calendar.id, "url": url, "intervals": len(intervals)},
    )
    return calendar


def list_busy_calendars(*, session: Session, expert_id: str, user: User) -> list[BusyCalendar]:
    _require_expert_editor(user, expert_id)
    return list(
        session.exec(
            select(BusyCalendar)
            .where(BusyCalendar.expert_id == expert_id)
            .order_by(col(BusyCalendar.id))
        ).all()
    )


def get_busy_calendar(
    *, session: Session, expert_id: str, calendar_id: int, user: User
) -> BusyCalendar:
    """One of the expert's busy calendars (the expert themself or staff)."""
    _require_expert_editor(user, expert_id)
    calendar = session.get(BusyCalendar, calendar_id)
    if calendar is None or calendar.expert_id != expert_id:
        raise NotFound(messages.BUSY_CALENDAR_NOT_FOUND.format(id=calendar_id))
    return calendar


def delete_busy_calendar(*, session: Session, expert_id: str, calendar_id: int, user: User) -> None:
    """Forget a busy calendar and its busy times."""
    calendar = get_busy_calendar(
        session=session, expert_id=expert_id, calendar_id=calendar_id, user=user
    )
    session.execute(delete(BusyTime).where(col(BusyTime.calendar_id) == calendar_id))
    session.delete(calendar)
    session.flush()
    record(
        session=session,
        actor=actor_for(user),
        action="busy_calendar.delete",
        entity_type="expert",
        entity_id=expert_id,
        before={"calendar_id": calendar_id, "url": calendar.url},
    )


def refresh_busy_feed(
    *,
    session: Session,
    calendar: BusyCalendar,
    now: datetime | None = None,
    fetch: FetchIcs = ical.fetch_ics,
) -> BusyCalendar:
    """Poll one feed; on failure the previous busy times stay and the error is recorded."""
    now = now or utcnow()
    if calendar.source != "feed" or not calendar.url:
        return calendar
    try:
        intervals = _parse_busy(session, calendar.expert_id, _fetch(calendar.url, fetch), now)
    except InvalidInput as error:
        calendar.last_error = error.message[:500]
        session.add(calendar)
        session.flush()
        return calendar
    _replace_busy(session, calendar, intervals, now)
    return calendar


@dataclass
class PollReport:
    refreshed: int = 0
    failed: list[str] = field(default_factory=list)


def poll_busy_feeds(
    *, session: Session, now: datetime | None = None, fetch: FetchIcs = ical.fetch_ics
) -> PollReport:
    """Refresh every registered feed."""
    report = PollReport()
    feeds = session.exec(
        select(BusyCalendar).where(BusyCalendar.source == "feed").order_by(col(BusyCalendar.id))
    ).all()
    for calendar in feeds:
        refresh_busy_feed(session=session, calendar=calendar, now=now, fetch=fetch)
        if calendar.last_error:
            report.failed.append(f"{calendar.id}: {calendar.last_error}")
        else:
            report.refreshed += 1
    return report


# --- notifications, reminders, escalation ---------------------------------------------------


def _mail_body(booking: Booking, extra: str = "") -> str:
    return messages.MAIL_BODY.format(
        kind=messages.BOOKING_KIND_LABELS.get(booking.kind, booking.kind),
        title=booking.title,
        start=booking.start_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"),
        end=booking.end_at.astimezone(LOCAL_TZ).strftime("%H:%M"),
        format=messages.FORMAT_LABELS.get(booking.format, booking.format),
        status=messages.BOOKING_STATUS_LABELS.get(booking.status, booking.status),
        extra=extra,
    )


def _notify(
    session: Session,
    booking: Booking,
    kind: str,
    *,
    extra: str = "",
    sides: tuple[str, ...] = ("expert", "district"),
    dedupe_suffix: str = "",
) -> int:
    recipients: list[User] = []
    if "expert" in sides:
        recipients += _users(session, role=Role.expert.value, expert_id=booking.expert_id)
    if "district" in sides:
        recipients += _users(session, role=Role.district.value, district_id=booking.district_id)
    if "staff" in sides:
        recipients += _users(session, role=STAFF_ROLES)
    addresses = sorted({a for a in map(_email, recipients) if a})
    if not addresses:
        return 0
    ics = booking_ics(session=session, booking=booking)
    method = (
        "CANCEL"
        if booking.status in (BookingStatus.cancelled, BookingStatus.declined)
        else "REQUEST"
    )
    subject = messages.MAIL_SUBJECTS[kind].format(title=booking.title)
    queued = 0
    for address in addresses:
        key = f"{kind}:{booking.id}:{booking.sequence}{dedupe_suffix}:{address}"
        queued += notify.enqueue(
            session=session,
            kind=kind,
            recipient=address,
            subject=subject,
            body=_mail_body(booking, extra),
            dedupe_key=key,
            booking_id=booking.id,
            ics=ics,
            ics_method=method,
        )
    session.flush()
    return queued


def enqueue_reminders(*, session: Session, now: datetime | None = None) -> int:
    """Queue the day-before reminder of every confirmed session starting within 24 hours."""
    now = now or utcnow()
    upcoming = session.exec(
        select(Booking).where(
            Booking.status == BookingStatus.confirmed.value,
            Booking.start_at > now,
            Booking.start_at <= now + timedelta(hours=24),
        )
    ).all()
    return sum(
        _notify(session, b, "reminder", dedupe_suffix=f":{b.start_at.isoformat()}")
        for b in upcoming
    )


def escalate_unanswered_crisis(
    *, session: Session, now: datetime | None = None, after_minutes: int = CRISIS_ESCALATION_MINUTES
) -> list[Booking]:
    """Crisis requests no expert accepted within `after_minutes` are flagged and sent to staff."""
    now = now or utcnow()
    overdue = session.exec(
        select(Booking).where(
            Booking.kind == BookingKind.crisis_support.value,
            Booking.status == BookingStatus.requested.value,
            col(Booking.escalated_at).is_(None),
            Booking.created_at <= now - timedelta(minutes=after_minutes),
        )
    ).all()
    system = Actor.system("booking.escalation")
    for booking in overdue:
        before = _snapshot(booking)
        booking.escalated_at = now
        session.add(booking)
        session.flush()
        _audit(session, system, "booking.escalate", booking, before | {"escalated_at": None})
        _notify(session, booking, "escalation", sides=("staff",))
    return list(overdue)
