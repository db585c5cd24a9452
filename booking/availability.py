"""Free time of an expert, computed by interval arithmetic (pure: no database, no clock).

free = opening hours (weekly rules, replaced per date by overrides) − out-of-office
       − (busy calendar events ∪ booked sessions, each widened by the buffers)
clipped to [now + minimum notice, now + horizon]. Intervals are half-open [start, end) in UTC.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Interval = tuple[datetime, datetime]

MINUTES_PER_DAY = 24 * 60
MIN_DURATION_MINUTES = 15
MAX_DURATION_MINUTES = 8 * 60
MAX_WINDOW_DAYS = 120


class SlotRejected(ValueError):
    """A requested time cannot be booked; `reason` is one of REASONS."""

    REASONS = (
        "past",
        "notice",
        "horizon",
        "outside_availability",
        "taken",
        "daily_limit",
        "monthly_limit",
        "off_grid",
    )

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class WeeklyRule:
    """Open from `start_minute` to `end_minute` (minutes after local midnight, end ≤ 1440)."""

    weekday: int  # 0 = Monday … 6 = Sunday
    start_minute: int
    end_minute: int


@dataclass(frozen=True)
class DateOverride:
    """On `day` the weekly rules are replaced by `ranges`; no ranges means closed all day."""

    day: date
    ranges: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class Policy:
    timezone: str = "Asia/Shanghai"
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    min_notice_minutes: int = 0
    horizon_days: int = 90
    daily_limit_minutes: int | None = None
    monthly_limit_minutes: int | None = None
    slot_step_minutes: int = 30


@dataclass(frozen=True)
class Schedule:
    """Everything the expert declared: policy, weekly rules, date overrides, out-of-office."""

    policy: Policy = field(default_factory=Policy)
    weekly: tuple[WeeklyRule, ...] = ()
    overrides: tuple[DateOverride, ...] = ()
    out_of_office: tuple[Interval, ...] = ()


def parse_timezone(name: str) -> ZoneInfo:
    """The zone called `name`; ValueError for unknown names."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown time zone: {name!r}") from exc


def parse_clock(text: str) -> int:
    """'HH:MM' (or '24:00') as minutes after midnight; ValueError otherwise."""
    if len(text) != 5 or text[2] != ":" or not (text[:2] + text[3:]).isdigit():
        raise ValueError(f"not HH:MM: {text!r}")
    hours, minutes = int(text[:2]), int(text[3:])
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"not a clock time: {text!r}")
    return hours * 60 + minutes


def format_clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


# --- interval arithmetic ------------------------------------------------------------------


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping union of `intervals` (touching intervals are joined)."""
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[0] < i[1]):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def subtract(base: Sequence[Interval], cuts: Sequence[Interval]) -> list[Interval]:
    """`base` minus `cuts`; both must be merged (sorted, disjoint). Linear sweep."""
    result: list[Interval] = []
    j = 0
    for start, end in base:
        while j < len(cuts) and cuts[j][1] <= start:
            j += 1
        k = j
        cursor = start
        while k < len(cuts) and cuts[k][0] < end:
            if cuts[k][0] > cursor:
                result.append((cursor, cuts[k][0]))
            cursor = max(cursor, cuts[k][1])
            k += 1
        if cursor < end:
            result.append((cursor, end))
    return result


def clip(intervals: Sequence[Interval], lower: datetime, upper: datetime) -> list[Interval]:
    return [(max(s, lower), min(e, upper)) for s, e in intervals if s < upper and e > lower]


def widen(intervals: Iterable[Interval], before: timedelta, after: timedelta) -> list[Interval]:
    """Each interval extended by `before` at its start and `after` at its end."""
    return [(s - before, e + after) for s, e in intervals]


# --- the schedule ---------------------------------------------------------------------------


def _local_ranges(schedule: Schedule) -> tuple[dict[int, list[tuple[int, int]]], dict[date, tuple]]:
    weekly: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for rule in schedule.weekly:
        weekly[rule.weekday].append((rule.start_minute, rule.end_minute))
    overrides = {o.day: o.ranges for o in schedule.overrides}
    return weekly, overrides


def opening_hours(schedule: Schedule, start: datetime, end: datetime) -> list[Interval]:
    """Open intervals (UTC, merged) between `start` and `end` from rules and date overrides."""
    tz = parse_timezone(schedule.policy.timezone)
    weekly, overrides = _local_ranges(schedule)
    day = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    opened: list[Interval] = []
    while day <= last:
        ranges = overrides.get(day, weekly.get(day.weekday(), ()))
        midnight = datetime.combine(day, time(0))
        for first_minute, end_minute in ranges:
            local_start = (midnight + timedelta(minutes=first_minute)).replace(tzinfo=tz)
            local_end = (midnight + timedelta(minutes=end_minute)).replace(tzinfo=tz)
            opened.append((local_start.astimezone(UTC), local_end.astimezone(UTC)))
        day += timedelta(days=1)
    return clip(merge(opened), start, end)


def _blocked(
    schedule: Schedule, busy: Iterable[Interval], booked: Iterable[Interval]
) -> list[Interval]:
    # A new session [s, e) needs `before` minutes clear before it and `after` minutes after it.
    # Against a calendar event that means s >= event end + before and e <= event start - after.
    # Booked sessions carry the same buffers themselves, so the larger one applies on each side.
    policy = schedule.policy
    before = timedelta(minutes=policy.buffer_before_minutes)
    after = timedelta(minutes=policy.buffer_after_minutes)
    widest = max(before, after)
    return merge(
        [
            *schedule.out_of_office,
            *widen(busy, after, before),
            *widen(booked, widest, widest),
        ]
    )


def _bookable_window(
    schedule: Schedule, start: datetime, end: datetime, now: datetime, bypass_notice: bool
) -> tuple[datetime, datetime]:
    notice = 0 if bypass_notice else schedule.policy.min_notice_minutes
    lower = max(start, now + timedelta(minutes=notice))
    upper = min(end, now + timedelta(days=schedule.policy.horizon_days))
    return lower, upper


def free_intervals(
    schedule: Schedule,
    *,
    busy: Iterable[Interval],
    booked: Iterable[Interval],
    start: datetime,
    end: datetime,
    now: datetime,
    bypass_notice: bool = False,
) -> list[Interval]:
    """Free time between `start` and `end`: opening hours minus everything that blocks."""
    lower, upper = _bookable_window(schedule, start, end, now, bypass_notice)
    if lower >= upper:
        return []
    base = opening_hours(schedule, lower, upper)
    return subtract(base, _blocked(schedule, busy, booked))


class _Usage:
    """Booked minutes per local day and per local month, for the hour limits."""

    def __init__(self, schedule: Schedule, booked: Iterable[Interval]) -> None:
        self.tz = parse_timezone(schedule.policy.timezone)
        self.policy = schedule.policy
        self.day: dict[date, float] = defaultdict(float)
        self.month: dict[tuple[int, int], float] = defaultdict(float)
        for s, e in booked:
            local = s.astimezone(self.tz).date()
            minutes = (e - s).total_seconds() / 60
            self.day[local] += minutes
            self.month[(local.year, local.month)] += minutes

    def refusal(self, start: datetime, minutes: float) -> str | None:
        local = start.astimezone(self.tz).date()
        daily, monthly = self.policy.daily_limit_minutes, self.policy.monthly_limit_minutes
        if daily is not None and self.day[local] + minutes > daily:
            return "daily_limit"
        if monthly is not None and self.month[(local.year, local.month)] + minutes > monthly:
            return "monthly_limit"
        return None


def free_slots(
    schedule: Schedule,
    *,
    busy: Iterable[Interval],
    booked: Sequence[Interval],
    start: datetime,
    end: datetime,
    duration_minutes: int,
    now: datetime,
    bypass_notice: bool = False,
) -> list[Interval]:
    """Bookable slots of `duration_minutes`, starting on the local slot grid (e.g. :00 and :30)."""
    tz = parse_timezone(schedule.policy.timezone)
    step = timedelta(minutes=schedule.policy.slot_step_minutes)
    duration = timedelta(minutes=duration_minutes)
    usage = _Usage(schedule, booked)
    slots: list[Interval] = []
    for free_start, free_end in free_intervals(
        schedule,
        busy=busy,
        booked=booked,
        start=start,
        end=end,
        now=now,
        bypass_notice=bypass_notice,
    ):
        local = free_start.astimezone(tz)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        offset = local - midnight
        steps = -(-offset // step)  # ceiling division of timedeltas
        cursor = (midnight + steps * step).astimezone(UTC)
        while cursor + duration <= free_end:
            if usage.refusal(cursor, duration_minutes) is None:
                slots.append((cursor, cursor + duration))
            cursor += step
    return slots


SLOT_STEPS = (15, 30, 60)


def on_grid(policy: Policy, start: datetime) -> bool:
    """True when `start` lies on the policy's slot grid (local minutes past midnight)."""
    local = start.astimezone(parse_timezone(policy.timezone))
    minutes = local.hour * 60 + local.minute
    return local.second == 0 and local.microsecond == 0 and minutes % policy.slot_step_minutes == 0


def check_slot(
    schedule: Schedule,
    *,
    busy: Iterable[Interval],
    booked: Sequence[Interval],
    start: datetime,
    end: datetime,
    now: datetime,
    bypass_notice: bool = False,
) -> None:
    """Raise SlotRejected unless [start, end) can be booked now."""
    if start < now:
        raise SlotRejected("past")
    if not bypass_notice and start < now + timedelta(minutes=schedule.policy.min_notice_minutes):
        raise SlotRejected("notice")
    if end > now + timedelta(days=schedule.policy.horizon_days):
        raise SlotRejected("horizon")
    if not on_grid(schedule.policy, start):
        raise SlotRejected("off_grid")
    opened = subtract(
        opening_hours(schedule, start - timedelta(days=1), end + timedelta(days=1)),
        merge(schedule.out_of_office),
    )
    if not _covers(opened, start, end):
        raise SlotRejected("outside_availability")
    if not _covers(subtract(opened, _blocked(schedule, busy, booked)), start, end):
        raise SlotRejected("taken")
    refusal = _Usage(schedule, booked).refusal(start, (end - start).total_seconds() / 60)
    if refusal:
        raise SlotRejected(refusal)


def _covers(intervals: Sequence[Interval], start: datetime, end: datetime) -> bool:
    index = bisect.bisect_right(intervals, (start, datetime.max.replace(tzinfo=UTC))) - 1
    return index >= 0 and intervals[index][0] <= start and intervals[index][1] >= end
