"""The pure slot computation: rules, overrides, out-of-office, busy times, buffers, notice,
horizon and hour limits, all in Asia/Shanghai."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from booking.availability import (
    DateOverride,
    Policy,
    Schedule,
    SlotRejected,
    WeeklyRule,
    check_slot,
    free_intervals,
    free_slots,
    merge,
    parse_clock,
    parse_timezone,
    subtract,
)

SH = ZoneInfo("Asia/Shanghai")
NOW = datetime(2027, 3, 1, 0, 0, tzinfo=SH)  # a Monday
WEEKDAYS_9_TO_12 = tuple(WeeklyRule(d, 9 * 60, 12 * 60) for d in range(5))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2027, 3, day, hour, minute, tzinfo=SH)


def schedule(**policy) -> Schedule:
    return Schedule(policy=Policy(min_notice_minutes=0, **policy), weekly=WEEKDAYS_9_TO_12)


def slots(sched: Schedule, *, busy=(), booked=(), duration=60, day_from=1, day_to=2, now=NOW, **kw):
    return free_slots(
        sched,
        busy=list(busy),
        booked=list(booked),
        start=at(day_from, 0),
        end=at(day_to, 0),
        duration_minutes=duration,
        now=now,
        **kw,
    )


def starts(result) -> list[str]:
    return [s.astimezone(SH).strftime("%d %H:%M") for s, _ in result]


def test_weekly_rules_give_slots_on_the_half_hour_grid_in_local_time():
    assert starts(slots(schedule())) == ["01 09:00", "01 09:30", "01 10:00", "01 10:30", "01 11:00"]


def test_several_ranges_on_one_day_are_all_open():
    sched = Schedule(
        policy=Policy(min_notice_minutes=0),
        weekly=(WeeklyRule(0, 9 * 60, 10 * 60), WeeklyRule(0, 14 * 60, 15 * 60)),
    )
    assert starts(slots(sched)) == ["01 09:00", "01 14:00"]


def test_weekends_without_rules_have_no_slots():
    assert slots(schedule(), day_from=6, day_to=8) == []


def test_a_date_override_replaces_that_days_rules_and_an_empty_one_closes_the_day():
    sched = Schedule(
        policy=Policy(min_notice_minutes=0),
        weekly=WEEKDAYS_9_TO_12,
        overrides=(
            DateOverride(date(2027, 3, 1), ((18 * 60, 19 * 60),)),
            DateOverride(date(2027, 3, 2), ()),
        ),
    )
    assert starts(slots(sched, day_to=3)) == ["01 18:00"]


def test_out_of_office_removes_time():
    sched = Schedule(
        policy=Policy(min_notice_minutes=0),
        weekly=WEEKDAYS_9_TO_12,
        out_of_office=((at(1, 10), at(5, 0)),),
    )
    assert starts(slots(sched, day_to=5)) == ["01 09:00"]


def test_sessions_keep_the_larger_buffer_on_both_sides():
    sched = schedule(buffer_after_minutes=30)
    # 10:00-10:30 keeps 30 minutes clear around it: a new hour ends by 9:30 or starts at 11:00.
    assert starts(slots(sched, booked=[(at(1, 10), at(1, 10, 30))])) == ["01 11:00"]


def test_calendar_events_block_the_new_sessions_own_buffers():
    busy = [(at(1, 10), at(1, 10, 30))]
    assert starts(slots(schedule(buffer_before_minutes=30), busy=busy)) == ["01 09:00", "01 11:00"]
    assert starts(slots(schedule(buffer_after_minutes=30), busy=busy)) == ["01 10:30", "01 11:00"]
    assert starts(slots(schedule(), busy=[(at(1, 9, 30), at(1, 11))])) == ["01 11:00"]


def test_minimum_notice_hides_near_slots_unless_bypassed_for_crisis():
    sched = Schedule(policy=Policy(min_notice_minutes=24 * 60), weekly=WEEKDAYS_9_TO_12)
    now = at(1, 8)
    assert starts(slots(sched, now=now, day_to=3)) == [
        "02 09:00",
        "02 09:30",
        "02 10:00",
        "02 10:30",
        "02 11:00",
    ]
    bypassed = slots(sched, now=now, day_to=2, bypass_notice=True)
    assert starts(bypassed)[0] == "01 09:00"


def test_nothing_past_or_beyond_the_horizon_is_offered():
    sched = schedule(horizon_days=2)
    result = slots(sched, now=at(1, 10, 10), day_to=12)
    assert starts(result)[0] == "01 10:30"
    assert max(e for _, e in result) <= at(3, 10, 10)


def test_daily_and_monthly_hour_limits_close_full_days_and_months():
    daily = schedule(daily_limit_minutes=90)
    assert starts(slots(daily, booked=[(at(1, 9), at(1, 10))])) == []
    assert starts(slots(daily, booked=[(at(1, 9), at(1, 9, 30))])) == [
        "01 09:30",
        "01 10:00",
        "01 10:30",
        "01 11:00",
    ]
    monthly = schedule(monthly_limit_minutes=120)
    assert slots(monthly, booked=[(at(2, 9), at(2, 10)), (at(3, 9), at(3, 10))], day_to=10) == []


def test_check_slot_names_why_a_time_cannot_be_booked():
    sched = schedule(buffer_before_minutes=15, slot_step_minutes=15)
    cases = {
        "past": (at(1, 9), at(1, 10), at(1, 9, 30)),
        "off_grid": (at(1, 10, 20), at(1, 11), NOW),
        "outside_availability": (at(1, 12), at(1, 13), NOW),
        "taken": (at(1, 10), at(1, 11), NOW),
        "horizon": (NOW + timedelta(days=200), NOW + timedelta(days=200, hours=1), NOW),
    }
    for reason, (start, end, now) in cases.items():
        with pytest.raises(SlotRejected) as caught:
            check_slot(
                sched, busy=[(at(1, 9), at(1, 10))], booked=[], start=start, end=end, now=now
            )
        assert caught.value.reason == reason
    check_slot(
        sched, busy=[(at(1, 9), at(1, 10))], booked=[], start=at(1, 10, 15), end=at(1, 11), now=NOW
    )


def test_starts_off_the_grid_are_refused_for_each_step():
    for step, on, off in (
        (15, (10, 45), (10, 50)),
        (30, (10, 30), (10, 45)),
        (60, (10, 0), (10, 30)),
    ):
        sched = schedule(slot_step_minutes=step)
        check_slot(sched, busy=[], booked=[], start=at(1, *on), end=at(1, 11, 50), now=NOW)
        with pytest.raises(SlotRejected) as caught:
            check_slot(sched, busy=[], booked=[], start=at(1, *off), end=at(1, 11, 50), now=NOW)
        assert caught.value.reason == "off_grid"


def test_unknown_time_zones_and_bad_clock_times_are_refused():
    with pytest.raises(ValueError):
        parse_timezone("Mars/Olympus")
    for text in ("9:00", "25:00", "12:60", "24:01", "ab:cd"):
        with pytest.raises(ValueError):
            parse_clock(text)
    assert parse_clock("24:00") == 1440


def test_other_time_zones_use_their_own_local_clock():
    sched = Schedule(
        policy=Policy(timezone="Europe/Berlin", min_notice_minutes=0), weekly=WEEKDAYS_9_TO_12
    )
    result = free_intervals(sched, busy=[], booked=[], start=at(1, 0), end=at(3, 0), now=NOW)
    assert result[0][0].astimezone(ZoneInfo("Europe/Berlin")).hour == 9


# --- interval arithmetic agrees with a minute-by-minute model ----------------------------

BASE = datetime(2027, 1, 1, tzinfo=UTC)
spans = st.lists(st.tuples(st.integers(0, 300), st.integers(1, 60)), max_size=8)


def to_intervals(raw):
    return [(BASE + timedelta(minutes=s), BASE + timedelta(minutes=s + d)) for s, d in raw]


def minutes_of(intervals):
    return {
        int((s - BASE).total_seconds() // 60) + i
        for s, e in intervals
        for i in range(int((e - s).total_seconds() // 60))
    }


@settings(max_examples=200, deadline=None)
@given(spans, spans)
def test_subtract_matches_set_difference_of_minutes(a, b):
    left, right = merge(to_intervals(a)), merge(to_intervals(b))
    result = subtract(left, right)
    assert minutes_of(result) == minutes_of(left) - minutes_of(right)
    assert all(x[1] < y[0] for x, y in zip(result, result[1:], strict=False))
