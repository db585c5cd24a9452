"""Polling busy calendars (the scheduled job and `heart booking tick`): feeds are fetched and
parsed outside any write transaction, uploads are re-read for the moved window, and a feed that
turns hostile keeps its previous busy times without reaching inside the network."""

from __future__ import annotations

import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import Session, select

from booking import locking
from booking.busy import service as busy_service
from booking.busy.models import BusyCalendar, BusyTime
from booking.fetching import fetch_ics
from booking.schedule import service as schedule_service
from booking.schedule.models import AvailabilityUpdate
from marketplace.accounts.models import User
from marketplace.db import make_engine, run_migrations, session_scope
from marketplace.vocabulary import Role
from tests.booking.conftest import (
    ALL_KINDS,
    WORKDAY,
    add_experts,
    future_weekday,
    local,
    quick_user,
)
from tests.booking.test_hostile_calendars import Listener
from tests.conftest import expert_record, make_settings, seed_reference


@pytest.fixture
def engine(fresh_database_url, tmp_path):
    engine = make_engine(make_settings(tmp_path, fresh_database_url))
    run_migrations(engine)
    seed_reference(engine)
    yield engine
    engine.dispose()


def one_event(day, hour) -> bytes:
    start = local(day, hour).strftime("%Y%m%dT%H%M%S")
    end = local(day, hour + 1).strftime("%Y%m%dT%H%M%S")
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//\r\nBEGIN:VEVENT\r\nUID:e\r\n"
        f"DTSTART;TZID=Asia/Shanghai:{start}\r\nDTEND;TZID=Asia/Shanghai:{end}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


class Feed(BaseHTTPRequestHandler):
    body = b""
    redirect = ""

    def do_GET(self):  # noqa: N802
        if self.redirect:
            self.send_response(302)
            self.send_header("Location", self.redirect)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/calendar")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def feed():
    Feed.redirect = ""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/cal.ics"
    server.shutdown()
    server.server_close()


def busy_hours(engine, calendar_id) -> list[int]:
    with Session(engine) as session:
        rows = session.exec(select(BusyTime).where(BusyTime.calendar_id == calendar_id)).all()
        return sorted(r.start_at.astimezone(local(future_weekday(), 0).tzinfo).hour for r in rows)


def test_polling_fetches_outside_the_write_lock_and_a_feed_turned_hostile_keeps_its_times(
    engine, feed
):
    day = future_weekday()
    with session_scope(engine) as session:
        add_experts(session, expert_record(id="BK1", service_types=ALL_KINDS))
        staff = quick_user(session, Role.staff, "staff@example.org")
        expert = quick_user(session, Role.expert, "bk1@example.org", expert_id="BK1")
        schedule_service.set_availability(
            session=session, expert_id="BK1", data=AvailabilityUpdate(**WORKDAY), user=staff
        )
    allowed = lambda url: fetch_ics(url, allowed=["127.0.0.1"])  # noqa: E731
    Feed.body = one_event(day, 10)
    with locking.serialized_session(engine) as session:
        calendar_id = busy_service.register_busy_feed(
            session=session,
            expert_id="BK1",
            url=feed,
            name="工作",
            user=session.get(User, expert.id),
            fetch=allowed,
        ).id
    assert busy_hours(engine, calendar_id) == [10]

    # While a feed is being fetched, another writer gets the write lock at once.
    writes: list[str] = []

    def fetch_while_someone_writes(url: str) -> bytes:
        with locking.serialized_session(engine) as other:
            other.add(User(username="writer", password_hash="x", role=Role.staff.value))
            writes.append("ok")
        return allowed(url)

    Feed.body = one_event(day, 14)
    report = busy_service.poll_busy_feeds(engine=engine, fetch=fetch_while_someone_writes)
    assert (report.refreshed, report.failed, writes) == (1, [], ["ok"])
    assert busy_hours(engine, calendar_id) == [14]

    # The feed now redirects inside the network: refused at the hop, old busy times stay.
    listener = Listener()
    try:
        Feed.redirect = f"http://2130706433:{listener.port}/x.ics"
        report = busy_service.poll_busy_feeds(engine=engine, fetch=allowed)
    finally:
        listener.close()
    assert report.refreshed == 0 and len(report.failed) == 1
    assert listener.connections == 0
    assert busy_hours(engine, calendar_id) == [14]
    with Session(engine) as session:
        assert "无法获取" in (session.get(BusyCalendar, calendar_id).last_error or "")


def test_polling_re_reads_an_upload_for_the_window_that_moved_on(engine):
    day = future_weekday()
    monday = day - timedelta(days=day.weekday()) + timedelta(weeks=1)
    start = local(monday, 10).strftime("%Y%m%dT%H%M%S")
    end = local(monday, 11).strftime("%Y%m%dT%H%M%S")
    weekly = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//\r\nBEGIN:VEVENT\r\nUID:w\r\n"
        f"DTSTART;TZID=Asia/Shanghai:{start}\r\nDTEND;TZID=Asia/Shanghai:{end}\r\n"
        "RRULE:FREQ=WEEKLY\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()
    uploaded_at = local(monday, 9) - timedelta(days=1)
    with session_scope(engine) as session:
        add_experts(session, expert_record(id="BK1", service_types=ALL_KINDS))
        expert = quick_user(session, Role.expert, "bk1@example.org", expert_id="BK1")
        calendar = busy_service.upload_busy_calendar(
            session=session,
            expert_id="BK1",
            data=weekly,
            name="例会",
            user=expert,
            now=uploaded_at,
        )
        calendar_id, first_until = calendar.id, calendar.expanded_until
    later = uploaded_at + timedelta(days=100)
    report = busy_service.poll_busy_feeds(engine=engine, now=later)
    assert report.refreshed == 1
    with Session(engine) as session:
        refreshed = session.get(BusyCalendar, calendar_id)
        assert refreshed.expanded_until == first_until + timedelta(days=100)
        last = session.exec(
            select(BusyTime)
            .where(BusyTime.calendar_id == calendar_id)
            .order_by(BusyTime.start_at.desc())
        ).first()
        assert last.start_at > first_until - timedelta(days=7)
