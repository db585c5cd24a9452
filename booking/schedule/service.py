"""Availability services: read and replace an expert's availability, list and check slots."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time, timedelta

from sqlmodel import Session, col, select

from booking import availability as av
from booking.access import require_expert_editor
from booking.busy.models import BusyCalendar
from booking.busy.service import busy_between
from booking.schedule.models import (
    AvailabilityException,
    AvailabilityProfile,
    AvailabilityPublic,
    AvailabilityRule,
    AvailabilityUpdate,
    OutOfOfficeIn,
)
from booking.sessions.models import LIVE_STATUSES, TIME_USING_STATUSES, Booking, BookingKind
from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.service import actor_for
from marketplace.audit.service import record
from marketplace.clock import DEFAULT_ZONE, LOCAL_TZ, utcnow
from marketplace.errors import Conflict, InvalidInput, NotFound
from marketplace.experts.models import Expert
from marketplace.experts.service import get_expert
from marketplace.vocabulary import ExpertStatus


def _rules(session: Session, expert_id: str) -> list[AvailabilityRule]:
    return list(
        session.exec(
            select(AvailabilityRule)
            .where(AvailabilityRule.expert_id == expert_id)
            .order_by(col(AvailabilityRule.weekday), col(AvailabilityRule.start_minute))
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
            "slot_step_minutes": profile.slot_step_minutes,
            "daily_limit_hours": profile.daily_limit_hours,
            "monthly_limit_hours": profile.monthly_limit_hours,
            "updated_at": profile.updated_at,
        }
    )


def set_availability(
    *, session: Session, expert_id: str, data: AvailabilityUpdate, user: User
) -> AvailabilityPublic:
    """Replace the expert's policy, weekly rules and exceptions (expert themself or staff)."""
    require_expert_editor(session, user, expert_id)
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
        "slot_step_minutes",
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


def expert_zone(*, session: Session, expert_id: str) -> str:
    """The time zone the expert's availability is written in."""
    profile = session.get(AvailabilityProfile, expert_id)
    return profile.timezone if profile is not None else DEFAULT_ZONE


def load_schedule(*, session: Session, expert: Expert) -> av.Schedule:
    """The pure availability input for one expert."""
    return _schedule(
        expert,
        session.get(AvailabilityProfile, expert.id),
        _rules(session, expert.id),
        _exceptions(session, expert.id),
    )


def _schedule(
    expert: Expert,
    profile: AvailabilityProfile | None,
    rules: list[AvailabilityRule],
    exceptions: list[AvailabilityException],
) -> av.Schedule:
    profile = profile or AvailabilityProfile(expert_id=expert.id)
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
        slot_step_minutes=profile.slot_step_minutes,
        daily_limit_minutes=round(profile.daily_limit_hours * 60)
        if profile.daily_limit_hours
        else None,
        monthly_limit_minutes=round(monthly_hours * 60),
    )
    overrides: dict[date, list[tuple[int, int]]] = {}
    out_of_office: list[av.Interval] = []
    for row in exceptions:
        if row.kind == "out_of_office" and row.start_at and row.end_at:
            out_of_office.append((row.start_at, row.end_at))
        elif row.day is not None:
            ranges = overrides.setdefault(row.day, [])
            if row.start_minute is not None and row.end_minute is not None:
                ranges.append((row.start_minute, row.end_minute))
    return av.Schedule(
        policy=policy,
        weekly=tuple(av.WeeklyRule(r.weekday, r.start_minute, r.end_minute) for r in rules),
        overrides=tuple(av.DateOverride(day, tuple(r)) for day, r in overrides.items()),
        out_of_office=tuple(out_of_office),
    )


def _busy(session: Session, expert_id: str, start: datetime, end: datetime) -> list[av.Interval]:
    return busy_between(session=session, expert_id=expert_id, start=start, end=end)


def _booked(
    session: Session, expert_id: str, start: datetime, end: datetime, exclude_id: int | None = None
) -> list[av.Interval]:
    """Sessions that use the expert's time, and new times the expert proposed (held too)."""
    query = select(Booking.start_at, Booking.end_at).where(
        Booking.expert_id == expert_id,
        col(Booking.status).in_(TIME_USING_STATUSES),
        Booking.start_at < end,
        Booking.end_at > start,
    )
    proposed = select(Booking.proposed_start_at, Booking.proposed_end_at).where(
        Booking.expert_id == expert_id,
        col(Booking.status).in_(LIVE_STATUSES),
        col(Booking.proposed_start_at).is_not(None),
        col(Booking.proposed_start_at) < end,
        col(Booking.proposed_end_at) > start,
    )
    if exclude_id is not None:
        query = query.where(Booking.id != exclude_id)
        proposed = proposed.where(Booking.id != exclude_id)
    rows = [*session.exec(query).all(), *session.exec(proposed).all()]
    return sorted((s, e) for s, e in rows if s is not None and e is not None)


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


def check_slot(
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
            minutes=schedule.policy.min_notice_minutes,
            days=schedule.policy.horizon_days,
            step=schedule.policy.slot_step_minutes,
        )
        if rejected.reason == "taken":
            raise Conflict(message) from None
        raise InvalidInput(message) from None


def lock_expert(session: Session, expert_id: str) -> Expert:
    # Serializes bookings of one expert on PostgreSQL, so buffers and hour limits hold under
    # concurrency too; the exclusion constraint still guarantees no overlap on its own.
    # SQLite ignores FOR UPDATE: there the whole transaction is serialized (serialized_session).
    expert = session.exec(select(Expert).where(Expert.id == expert_id).with_for_update()).first()
    if expert is None:
        raise NotFound(messages.EXPERT_NOT_FOUND.format(id=expert_id))
    return expert


FREE_TIME_DAYS = 14


def experts_with_free_time(
    *,
    session: Session,
    among: Collection[str] | None = None,
    days: int = FREE_TIME_DAYS,
    now: datetime | None = None,
) -> frozenset[str]:
    """The active experts with at least one bookable hour in the next `days` local days.

    The same answer as asking list_slots for each (rules, exceptions, busy times, bookings,
    limits), with the inputs of every candidate loaded in a handful of queries: only experts
    with weekly hours or a date with hours in the window are candidates (`among`: of these).
    """
    now = now or utcnow()
    today = now.astimezone(LOCAL_TZ).date()
    last = today + timedelta(days=days - 1)
    with_hours = select(AvailabilityRule.expert_id).union(
        select(AvailabilityException.expert_id).where(
            AvailabilityException.kind == "override",
            col(AvailabilityException.start_minute).is_not(None),
            col(AvailabilityException.day) >= today,
            col(AvailabilityException.day) <= last,
        )
    )
    query = select(Expert).where(
        Expert.status == ExpertStatus.active.value, col(Expert.id).in_(with_hours)
    )
    if among is not None:
        query = query.where(col(Expert.id).in_(sorted(among)))
    experts = session.exec(query).all()
    ids = sorted(e.id for e in experts)
    if not ids:
        return frozenset()
    profiles = {
        p.expert_id: p
        for p in session.exec(
            select(AvailabilityProfile).where(col(AvailabilityProfile.expert_id).in_(ids))
        ).all()
    }
    rules: dict[str, list[AvailabilityRule]] = {}
    for rule in session.exec(
        select(AvailabilityRule)
        .where(col(AvailabilityRule.expert_id).in_(ids))
        .order_by(col(AvailabilityRule.weekday), col(AvailabilityRule.start_minute))
    ).all():
        rules.setdefault(rule.expert_id, []).append(rule)
    exceptions: dict[str, list[AvailabilityException]] = {}
    for row in session.exec(
        select(AvailabilityException)
        .where(col(AvailabilityException.expert_id).in_(ids))
        .order_by(col(AvailabilityException.id))
    ).all():
        exceptions.setdefault(row.expert_id, []).append(row)
    with_calendars = set(
        session.exec(select(BusyCalendar.expert_id).where(col(BusyCalendar.expert_id).in_(ids)))
    )
    # Wide enough for every expert's time zone (±1 day) and the context window.
    low, high = _context_window(
        datetime.combine(today - timedelta(days=1), time(0), tzinfo=LOCAL_TZ),
        datetime.combine(last + timedelta(days=2), time(0), tzinfo=LOCAL_TZ),
    )
    booked: dict[str, list[av.Interval]] = {}
    for expert_id, start, end in [
        *session.exec(
            select(Booking.expert_id, Booking.start_at, Booking.end_at).where(
                col(Booking.expert_id).in_(ids),
                col(Booking.status).in_(TIME_USING_STATUSES),
                Booking.start_at < high,
                Booking.end_at > low,
            )
        ).all(),
        *session.exec(
            select(Booking.expert_id, Booking.proposed_start_at, Booking.proposed_end_at).where(
                col(Booking.expert_id).in_(ids),
                col(Booking.status).in_(LIVE_STATUSES),
                col(Booking.proposed_start_at).is_not(None),
                col(Booking.proposed_start_at) < high,
                col(Booking.proposed_end_at) > low,
            )
        ).all(),
    ]:
        if start is not None and end is not None:
            booked.setdefault(expert_id, []).append((start, end))
    free = set()
    for expert in experts:
        schedule = _schedule(
            expert, profiles.get(expert.id), rules.get(expert.id, []), exceptions.get(expert.id, [])
        )
        tz = av.parse_timezone(schedule.policy.timezone)
        start = datetime.combine(today, time(0), tzinfo=tz)
        end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz)
        busy = _busy(session, expert.id, low, high) if expert.id in with_calendars else []
        if av.free_slots(
            schedule,
            busy=busy,
            booked=sorted(booked.get(expert.id, [])),
            start=start,
            end=end,
            duration_minutes=60,
            now=now,
        ):
            free.add(expert.id)
    return frozenset(free)
