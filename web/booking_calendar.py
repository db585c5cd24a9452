"""The bookings page's calendar: a week (or a month) of sessions, day by day, in the viewer's
time zone. Pure over the sessions it is given; the route loads them for the range."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from marketplace.clock import zone

VIEWS = ("list", "week", "month")


@dataclass
class CalendarDay:
    day: date
    in_range: bool  # a month grid's leading and trailing days of the next/previous month: False
    entries: list[Any] = field(default_factory=list)  # the sessions starting that day


@dataclass
class CalendarRange:
    view: str  # "week" or "month"
    first: date  # the week's Monday, or the month's first day
    days: list[CalendarDay]  # whole weeks, Monday first
    previous: date
    next: date

    @property
    def last(self) -> date:
        return next(d.day for d in reversed(self.days) if d.in_range)

    @property
    def count(self) -> int:
        return sum(len(d.entries) for d in self.days if d.in_range)

    def bounds(self, timezone: str) -> tuple[datetime, datetime]:
        """The range's start and end as aware moments of the viewer's zone."""
        tz = zone(timezone)
        start = datetime.combine(self.days[0].day, time.min, tzinfo=tz)
        return start, datetime.combine(self.days[-1].day + timedelta(days=1), time.min, tzinfo=tz)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def calendar_range(view: str, around: date) -> CalendarRange:
    """The week (Monday to Sunday) or the month (as whole weeks) that contains `around`."""
    if view == "month":
        first = around.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        start = monday_of(first)
        end = monday_of(following - timedelta(days=1)) + timedelta(days=7)
        days = [
            CalendarDay(start + timedelta(days=i), first <= start + timedelta(days=i) < following)
            for i in range((end - start).days)
        ]
        previous = (first - timedelta(days=1)).replace(day=1)
        return CalendarRange("month", first, days, previous, following)
    start = monday_of(around)
    days = [CalendarDay(start + timedelta(days=i), True) for i in range(7)]
    return CalendarRange("week", start, days, start - timedelta(days=7), start + timedelta(days=7))


def place(calendar: CalendarRange, sessions: list[Any], timezone: str) -> CalendarRange:
    """Put each session (anything with an aware `start`) on the day it starts in the viewer's
    zone, soonest first within a day (a month grid's days of other months stay empty)."""
    tz = zone(timezone)
    by_day = {d.day: d for d in calendar.days if d.in_range}
    for item in sorted(sessions, key=lambda s: s.start):
        day = by_day.get(item.start.astimezone(tz).date())
        if day is not None:
            day.entries.append(item)
    return calendar
