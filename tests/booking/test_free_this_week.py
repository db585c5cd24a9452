"""A search hit's reason 本周有空: the expert's free hours for the rest of the current week."""

from __future__ import annotations

from datetime import timedelta

from booking.schedule.week import free_this_week, free_this_week_reason, monday_of
from booking.sessions.models import Booking
from tests.booking.conftest import local


def _monday_next_week():
    from marketplace.clock import LOCAL_TZ, utcnow

    return monday_of(utcnow().astimezone(LOCAL_TZ).date()) + timedelta(days=7)


def test_free_hours_this_week_are_counted_apart_with_the_earliest(session, world):
    # Wednesday 08:00: Wednesday to Friday 09:00-17:00 remain, 8 one-hour slots a day.
    wednesday = _monday_next_week() + timedelta(days=2)
    now = local(wednesday, 8)
    free = free_this_week(session=session, expert_id=world.expert_id, now=now)
    assert free is not None
    assert free.count == 3 * 8
    assert free.first == local(wednesday, 9)
    reason = free_this_week_reason(session=session, expert_id=world.expert_id, now=now)
    assert reason == "本周有空：24 个时段，最早 周三 09:00"


def test_a_weekend_left_without_hours_gives_no_reason(session, world):
    saturday = _monday_next_week() + timedelta(days=5)
    now = local(saturday, 8)
    assert free_this_week(session=session, expert_id=world.expert_id, now=now) is None
    assert free_this_week_reason(session=session, expert_id=world.expert_id, now=now) is None


def test_booked_hours_are_not_free(session, world):
    friday = _monday_next_week() + timedelta(days=4)
    session.add(
        Booking(
            uid="free-week@t",
            expert_id=world.expert_id,
            district_id=world.district_user.district_id,
            kind="supervision",
            format="online",
            title="t",
            start_at=local(friday, 9),
            end_at=local(friday, 16),
            status="confirmed",
        )
    )
    session.flush()
    free = free_this_week(session=session, expert_id=world.expert_id, now=local(friday, 7))
    assert free is not None and free.count == 1 and free.first == local(friday, 16)


def test_an_expert_without_hours_is_not_free(session, world):
    monday = _monday_next_week()
    assert free_this_week(session=session, expert_id="BK2", now=local(monday, 8)) is None
