"""One week of an expert's bookable slots, day by day, and why a week is empty."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlmodel import Session

from booking import availability as av
from booking.schedule.service import list_slots, load_schedule
from booking.sessions.models import BookingKind
from marketplace import messages
from marketplace.clock import DEFAULT_ZONE, LOCAL_TZ, utcnow, zone
from marketplace.experts.service import get_expert
from marketplace.vocabulary import ExpertStatus


@dataclass
class WeekDay:
    day: date
    slots: list[tuple[datetime, datetime]] = field(default_factory=list)


@dataclass
class WeekSlots:
    start: date  # the Monday
    days: list[WeekDay]
    empty_reason: str | None  # why no slot is offered this week (None when some are)
    slot_minutes: int
    step_minutes: int

    @property
    def previous(self) -> date:
        return self.start - timedelta(days=7)

    @property
    def next(self) -> date:
        return self.start + timedelta(days=7)

    @property
    def count(self) -> int:
        return sum(len(d.slots) for d in self.days)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week_slots(
    *,
    session: Session,
    expert_id: str,
    week_of: date,
    duration_minutes: int = 60,
    kind: BookingKind | None = None,
    now: datetime | None = None,
    timezone: str = DEFAULT_ZONE,
) -> WeekSlots:
    """The free slots of the week containing `week_of`, days and times as the viewer's zone
    `timezone` reads them, with a reason if none."""
    now = now or utcnow()
    tz = zone(timezone)
    start = monday_of(week_of)
    expert = get_expert(session=session, expert_id=expert_id)
    schedule = load_schedule(session=session, expert=expert)
    days = [WeekDay(start + timedelta(days=i)) for i in range(7)]
    week = WeekSlots(
        start=start,
        days=days,
        empty_reason=None,
        slot_minutes=duration_minutes,
        step_minutes=schedule.policy.slot_step_minutes,
    )
    today = now.astimezone(tz).date()
    horizon_end = today + timedelta(days=schedule.policy.horizon_days)
    if expert.status != ExpertStatus.active:
        week.empty_reason = messages.WEEK_EXPERT_INACTIVE
        return week
    if not schedule.weekly and not schedule.overrides:
        week.empty_reason = messages.WEEK_NO_HOURS
        return week
    if start + timedelta(days=6) < today:
        week.empty_reason = messages.WEEK_PAST
        return week
    if start > horizon_end:
        week.empty_reason = messages.WEEK_NOT_OPEN.format(days=schedule.policy.horizon_days)
        return week
    first, last = max(start, today), min(start + timedelta(days=6), horizon_end)
    # The expert's days may start hours before or after the viewer's: ask one day either side.
    slots = list_slots(
        session=session,
        expert_id=expert_id,
        start_day=first - timedelta(days=1),
        end_day=last + timedelta(days=1),
        duration_minutes=duration_minutes,
        now=now,
        kind=kind,
    )
    by_day = {d.day: d for d in days}
    for slot_start, slot_end in slots:
        local_start = slot_start.astimezone(tz)
        if first <= local_start.date() <= last:
            by_day[local_start.date()].slots.append((local_start, slot_end.astimezone(tz)))
    if not week.count:
        if not any(_has_hours(schedule, d.day) for d in days if first <= d.day <= last):
            week.empty_reason = messages.WEEK_NO_HOURS_THIS_WEEK
        else:
            week.empty_reason = messages.WEEK_FULLY_BOOKED
    return week


def _has_hours(schedule: av.Schedule, day: date) -> bool:
    override = next((o for o in schedule.overrides if o.day == day), None)
    if override is not None:
        return bool(override.ranges)
    return any(rule.weekday == day.weekday() for rule in schedule.weekly)


def next_slots(
    *,
    session: Session,
    expert_id: str,
    count: int = 3,
    now: datetime | None = None,
    first_day: date | None = None,
    last_day: date | None = None,
) -> list[tuple[datetime, datetime]]:
    """The expert's next `count` one-hour slots that do not overlap, over two weeks from
    today (or from `first_day`, a request's window, up to `last_day`)."""
    now = now or utcnow()
    today = now.astimezone(LOCAL_TZ).date()
    start_day = max(first_day or today, today)
    end_day = start_day + timedelta(days=13)
    if last_day is not None:
        end_day = min(end_day, last_day)
    if end_day < start_day:
        return []
    slots = list_slots(
        session=session,
        expert_id=expert_id,
        start_day=start_day,
        end_day=end_day,
        duration_minutes=60,
        now=now,
    )
    chosen: list[tuple[datetime, datetime]] = []
    for start, end in slots:
        if chosen and start < chosen[-1][1]:
            continue
        chosen.append((start.astimezone(LOCAL_TZ), end.astimezone(LOCAL_TZ)))
        if len(chosen) == count:
            break
    return chosen


@dataclass(frozen=True)
class FreeThisWeek:
    count: int  # one-hour slots that do not overlap, from now to Sunday
    first: datetime  # the earliest of them, local time


def free_this_week(
    *, session: Session, expert_id: str, now: datetime | None = None
) -> FreeThisWeek | None:
    """The expert's free one-hour time for the rest of the current week, or None if none."""
    now = now or utcnow()
    today = now.astimezone(LOCAL_TZ).date()
    sunday = monday_of(today) + timedelta(days=6)
    slots = list_slots(
        session=session,
        expert_id=expert_id,
        start_day=today,
        end_day=sunday,
        duration_minutes=60,
        now=now,
    )
    apart: list[tuple[datetime, datetime]] = []
    for start, end in slots:
        if start.astimezone(LOCAL_TZ).date() > sunday:
            break
        if not apart or start >= apart[-1][1]:
            apart.append((start, end))
    if not apart:
        return None
    return FreeThisWeek(count=len(apart), first=apart[0][0].astimezone(LOCAL_TZ))


def free_this_week_reason(
    *, session: Session, expert_id: str, now: datetime | None = None
) -> str | None:
    """A search hit's reason 本周有空 (how many free hours, the earliest), or None."""
    free = free_this_week(session=session, expert_id=expert_id, now=now)
    if free is None:
        return None
    when = f"{messages.WEEKDAY_NAMES[free.first.weekday()]} {free.first:%H:%M}"
    return messages.REASON_FREE_THIS_WEEK.format(count=free.count, when=when)
