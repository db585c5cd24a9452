"""Booking services on both databases: the database's own overlap guarantee, crisis bypass and
escalation, reminders, and charging the district's supervision package on completion."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from booking.jobs import ESCALATION
from booking.notifications import service as notifications_service
from booking.notifications.models import BookingNotification
from booking.schedule import service as schedule_service
from booking.sessions import service as sessions_service
from booking.sessions.models import Booking, BookingCreate
from marketplace.audit.models import AuditEntry
from marketplace.errors import Forbidden, InvalidInput
from tests.booking.conftest import future_weekday, local


def raw_booking(world, start, end, status="requested", uid=None):
    return Booking(
        uid=uid or f"{start.isoformat()}-{status}@t",
        expert_id=world.expert_id,
        district_id=world.district_user.district_id,
        kind="supervision",
        format="online",
        title="t",
        start_at=start,
        end_at=end,
        status=status,
    )


def test_the_database_itself_refuses_overlapping_live_sessions(session, world):
    day = future_weekday()
    session.add(raw_booking(world, local(day, 10), local(day, 11)))
    session.flush()
    with pytest.raises(IntegrityError):
        with session.begin_nested():
            session.add(raw_booking(world, local(day, 10, 30), local(day, 11, 30)))
            session.flush()
    # Touching, cancelled and declined sessions do not conflict.
    with session.begin_nested():
        session.add(raw_booking(world, local(day, 11), local(day, 12)))
        session.add(raw_booking(world, local(day, 10), local(day, 11), status="cancelled"))
        session.flush()


def test_the_database_refuses_moving_a_session_onto_another(session, world):
    day = future_weekday()
    first = raw_booking(world, local(day, 10), local(day, 11))
    second = raw_booking(world, local(day, 14), local(day, 15))
    session.add_all([first, second])
    session.flush()
    with pytest.raises(IntegrityError):
        with session.begin_nested():
            second.start_at, second.end_at = local(day, 10, 30), local(day, 11, 30)
            session.flush()


def crisis(day, hour, minute=0, kind="crisis_support"):
    start = local(day, hour, minute)
    return BookingCreate(
        expert_id="BK1",
        start=start,
        end=start + timedelta(hours=1),
        kind=kind,
        format="online",
        title="学生危机事件",
    )


def test_crisis_sessions_bypass_the_minimum_notice_and_others_do_not(session, world):
    day = future_weekday()
    now = local(day, 9)
    with pytest.raises(InvalidInput, match="提前"):
        sessions_service.create_booking(
            session=session,
            data=crisis(day, 9, 30, kind="consultation"),
            user=world.district_user,
            now=now,
        )
    urgent = sessions_service.create_booking(
        session=session, data=crisis(day, 9, 30), user=world.district_user, now=now
    )
    assert urgent.status == "requested"
    slots = schedule_service.list_slots(
        session=session,
        expert_id="BK1",
        start_day=day,
        end_day=day,
        duration_minutes=60,
        now=now,
        kind="crisis_support",
    )
    assert slots[0][0] == local(day, 10, 30)  # right after the crisis session, no notice


def test_unanswered_crisis_requests_escalate_to_staff_once(session, world):
    day = future_weekday()
    now = local(day, 9)
    urgent = sessions_service.create_booking(
        session=session, data=crisis(day, 9, 30), user=world.district_user, now=now
    )
    assert (
        notifications_service.escalate_unanswered_crisis(
            session=session, user=ESCALATION, now=now + timedelta(minutes=10)
        )
        == []
    )
    escalated = notifications_service.escalate_unanswered_crisis(
        session=session, user=ESCALATION, now=now + timedelta(minutes=31)
    )
    assert [b.id for b in escalated] == [urgent.id]
    assert (
        notifications_service.escalate_unanswered_crisis(
            session=session, user=ESCALATION, now=now + timedelta(minutes=60)
        )
        == []
    )
    mails = session.exec(
        select(BookingNotification).where(BookingNotification.kind == "escalation")
    ).all()
    assert [m.recipient for m in mails] == ["staff@example.org"]
    audited = session.exec(
        select(AuditEntry.actor, AuditEntry.actor_id).where(
            AuditEntry.action == "booking.escalate", AuditEntry.entity_id == str(urgent.id)
        )
    ).all()
    assert audited == [("booking.escalation", None)]


def test_only_the_system_principal_escalates_people_are_who_it_alerts(session, world):
    day = future_weekday()
    now = local(day, 9)
    sessions_service.create_booking(
        session=session, data=crisis(day, 9, 30), user=world.district_user, now=now
    )
    for person in (world.staff, world.district_user, world.expert_user):
        with pytest.raises(Forbidden):
            notifications_service.escalate_unanswered_crisis(
                session=session, user=person, now=now + timedelta(minutes=31)
            )


def test_reminders_are_queued_once_the_day_before(session, world):
    day = future_weekday()
    booking = sessions_service.create_booking(
        session=session, data=crisis(day, 10, kind="supervision"), user=world.district_user
    )
    sessions_service.confirm_booking(session=session, booking_id=booking.id, user=world.expert_user)
    assert (
        notifications_service.enqueue_reminders(
            session=session, now=local(day, 10) - timedelta(hours=30)
        )
        == 0
    )
    eve = local(day, 10) - timedelta(hours=20)
    assert notifications_service.enqueue_reminders(session=session, now=eve) == 2
    assert (
        notifications_service.enqueue_reminders(session=session, now=eve + timedelta(hours=1)) == 0
    )
    reminders = session.exec(
        select(BookingNotification).where(BookingNotification.kind == "reminder")
    ).all()
    assert sorted(r.recipient for r in reminders) == ["beilin@example.org", "bk1@example.org"]
    # The district is invited; the expert organizes the session and gets a PUBLISH copy.
    methods = {r.recipient: (r.ics_method, "METHOD:" + r.ics_method in r.ics) for r in reminders}
    assert methods == {
        "beilin@example.org": ("REQUEST", True),
        "bk1@example.org": ("PUBLISH", True),
    }


def test_every_change_queues_mail_with_the_matching_ics_method(session, world):
    booking = sessions_service.create_booking(
        session=session,
        data=crisis(future_weekday(), 10, kind="supervision"),
        user=world.district_user,
    )
    sessions_service.confirm_booking(session=session, booking_id=booking.id, user=world.expert_user)
    sessions_service.cancel_booking(
        session=session, booking_id=booking.id, reason="停课", user=world.district_user
    )
    rows = session.exec(select(BookingNotification).order_by(BookingNotification.id)).all()
    assert [(r.kind, r.ics_method) for r in rows if r.recipient == "beilin@example.org"] == [
        ("request", "REQUEST"),
        ("confirmation", "REQUEST"),
        ("cancellation", "CANCEL"),
    ]


def test_completing_supervision_charges_the_districts_package(session, world, monkeypatch):
    import marketplace.allocation.service as allocation

    calls = []

    def consume(*, session, district_id, hours, reference, user):
        calls.append((district_id, hours, reference))
        return True

    monkeypatch.setattr(allocation, "consume_supervision_hours", consume)
    day = future_weekday(0) - timedelta(days=7)
    earlier = local(day, 0) - timedelta(days=1)
    supervision = sessions_service.create_booking(
        session=session,
        data=crisis(day, 10, kind="supervision"),
        user=world.district_user,
        now=earlier,
    )
    consultation = sessions_service.create_booking(
        session=session,
        data=crisis(day, 14, kind="consultation"),
        user=world.district_user,
        now=earlier,
    )
    for booking in (supervision, consultation):
        sessions_service.confirm_booking(
            session=session, booking_id=booking.id, user=world.expert_user
        )
        sessions_service.complete_booking(
            session=session, booking_id=booking.id, user=world.expert_user
        )
    assert calls == [
        (world.district_user.district_id, 1.0, f"booking:{supervision.id}:{supervision.uid}")
    ]
    assert supervision.charged and not consultation.charged


def test_monthly_capacity_limits_bookings(session, world):
    from marketplace.experts.models import Expert

    session.get(Expert, "BK1").monthly_capacity_hours = 1
    day = future_weekday()
    sessions_service.create_booking(
        session=session, data=crisis(day, 10, kind="supervision"), user=world.district_user
    )
    with pytest.raises(InvalidInput, match="本月"):
        sessions_service.create_booking(
            session=session, data=crisis(day, 14, kind="supervision"), user=world.district_user
        )


def test_the_booking_tick_command_runs_the_periodic_jobs(fresh_database_url, tmp_path):
    from typer.testing import CliRunner

    from tests.conftest import TEST_SECRET
    from web.cli import app

    env = {
        "HEART_ENVIRONMENT": "production",
        "HEART_SECRET_KEY": TEST_SECRET,
        "HEART_DATABASE_URL": fresh_database_url,
        "HEART_DATA_DIR": str(tmp_path / "data"),
    }
    runner = CliRunner()
    assert runner.invoke(app, ["init"], env=env).exit_code == 0
    result = runner.invoke(app, ["booking", "tick"], env=env)
    assert result.exit_code == 0, result.output
    assert "危机升级 0" in result.output
