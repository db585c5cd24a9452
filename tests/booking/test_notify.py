"""The notification outbox delivered to a real local SMTP server (aiosmtpd): .ics attached,
nothing sent twice, nothing sent when SMTP is not configured."""

from __future__ import annotations

import socket
import threading
from email import message_from_bytes, policy
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import Session, select

from booking import locking
from booking.notifications import outbox
from booking.notifications.models import BookingNotification
from booking.schedule import service as schedule_service
from booking.schedule.models import AvailabilityUpdate
from booking.sessions import service as sessions_service
from marketplace.accounts.models import User
from marketplace.db import make_engine, run_migrations, session_scope
from marketplace.vocabulary import Role
from tests.booking.conftest import (
    ALL_KINDS,
    WORKDAY,
    add_experts,
    book,
    future_weekday,
    local,
    quick_user,
)
from tests.conftest import expert_record, make_settings, seed_reference


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Message]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(
            (list(envelope.rcpt_tos), message_from_bytes(envelope.content, policy=policy.default))
        )
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


@pytest.fixture
def engine(fresh_database_url, tmp_path):
    engine = make_engine(make_settings(tmp_path, fresh_database_url))
    run_migrations(engine)
    seed_reference(engine)
    yield engine
    engine.dispose()


def test_a_confirmed_booking_mails_both_sides_once_with_the_invitation(engine, smtp, tmp_path):
    inbox, port = smtp
    settings = make_settings(tmp_path, str(engine.url), smtp_host="127.0.0.1", smtp_port=port)
    with session_scope(engine) as session:
        add_experts(session, expert_record(id="BK1", service_types=ALL_KINDS))
        staff = quick_user(session, Role.staff, "staff@example.org")
        quick_user(session, Role.expert, "bk1@example.org", expert_id="BK1")
        coordinator = quick_user(session, Role.district, "beilin@example.org")
        schedule_service.set_availability(
            session=session, expert_id="BK1", data=AvailabilityUpdate(**WORKDAY), user=staff
        )
    start = local(future_weekday(), 10)
    with locking.serialized_session(engine) as session:
        booking = book(session, session.get(User, coordinator.id), "BK1", start, title="个案督导")
        sessions_service.confirm_booking(
            session=session, booking_id=booking.id, user=session.get(User, staff.id)
        )

    first = outbox.deliver_pending(engine=engine, settings=settings)
    again = outbox.deliver_pending(engine=engine, settings=settings)
    assert (first.sent, again.sent) == (4, 0)  # request + confirmation, to each side
    confirmations = [m for _, m in inbox.messages if m["Subject"].startswith("预约已确认")]
    assert sorted(m["To"] for m in confirmations) == ["beilin@example.org", "bk1@example.org"]
    to_district = next(m for m in confirmations if m["To"] == "beilin@example.org")
    invite = next(p for p in to_district.walk() if p.get_content_type() == "text/calendar")
    assert invite.get_param("method") == "REQUEST"
    text = invite.get_payload(decode=True).decode("utf-8")
    assert booking.uid in text and "SEQUENCE:1" in text
    with Session(engine) as session:
        assert all(r.sent_at for r in session.exec(select(BookingNotification)).all())


def test_parallel_deliveries_never_send_a_message_twice(engine, smtp, tmp_path):
    inbox, port = smtp
    settings = make_settings(tmp_path, str(engine.url), smtp_host="127.0.0.1", smtp_port=port)
    with session_scope(engine) as session:
        for i in range(20):
            outbox.enqueue(
                session=session,
                kind="reminder",
                recipient=f"u{i}@example.org",
                subject="提醒",
                body="明天见",
                dedupe_key=f"k{i}",
            )
        assert not outbox.enqueue(
            session=session,
            kind="reminder",
            recipient="u0@example.org",
            subject="提醒",
            body="明天见",
            dedupe_key="k0",
        )
    reports = []
    threads = [
        threading.Thread(
            target=lambda: reports.append(outbox.deliver_pending(engine=engine, settings=settings))
        )
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(r.sent for r in reports) == 20
    assert sorted(rcpt[0] for rcpt, _ in inbox.messages) == sorted(
        f"u{i}@example.org" for i in range(20)
    )


def test_without_an_smtp_host_messages_stay_queued(engine, tmp_path):
    settings = make_settings(tmp_path, str(engine.url))
    with session_scope(engine) as session:
        outbox.enqueue(
            session=session,
            kind="reminder",
            recipient="a@example.org",
            subject="提醒",
            body="x",
            dedupe_key="only",
        )
    assert outbox.deliver_pending(engine=engine, settings=settings).sent == 0
    with Session(engine) as session:
        assert session.exec(select(BookingNotification)).one().sent_at is None
