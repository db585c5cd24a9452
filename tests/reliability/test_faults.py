"""Faults, nothing lost: SMTP down, a crash after a booking's commit, a dropped database
connection. (The search engine killed mid-drain is in test_search_engine_fault.py.)"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from fastapi import APIRouter
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, select
from typer.testing import CliRunner

from booking import locking
from booking.notifications import outbox
from booking.notifications.models import BookingNotification
from booking.schedule import service as schedule_service
from booking.schedule.models import AvailabilityUpdate
from booking.sessions import service as sessions_service
from booking.sessions.models import BookingCreate
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
from tests.booking.test_notify import Inbox, free_port
from tests.conftest import (
    BACKENDS,
    TEST_SECRET,
    auth_headers,
    expert_record,
    make_settings,
    seed_reference,
)
from web.app import create_app
from web.cli import app as cli
from web.deps import SessionDep


@pytest.fixture
def engine(fresh_database_url, tmp_path):
    engine = make_engine(make_settings(tmp_path, fresh_database_url))
    run_migrations(engine)
    seed_reference(engine)
    yield engine
    engine.dispose()


def bookable_world(engine) -> dict:
    """An expert with working hours, a district coordinator and staff, committed."""
    with session_scope(engine) as session:
        add_experts(
            session, expert_record(id="F1", service_types=ALL_KINDS, monthly_capacity_hours=40)
        )
        district = quick_user(session, Role.district, "fault-beilin@example.org")
        expert = quick_user(session, Role.expert, "fault-f1@example.org", expert_id="F1")
        staff = quick_user(session, Role.staff, "fault-staff@example.org")
        schedule_service.set_availability(
            session=session, expert_id="F1", data=AvailabilityUpdate(**WORKDAY), user=staff
        )
        return {"district": district, "expert": expert, "staff": staff}


def book(engine, user, hour: int = 10) -> int:
    day = future_weekday(8)
    with locking.serialized_session(engine) as session:
        booking = sessions_service.create_booking(
            session=session,
            data=BookingCreate(
                expert_id="F1",
                start=local(day, hour),
                end=local(day, hour) + timedelta(hours=1),
                kind="supervision",
                format="online",
                title="个案督导",
            ),
            user=session.merge(user),
        )
        return booking.id


def pending(engine) -> list[BookingNotification]:
    with Session(engine) as session:
        return list(
            session.exec(
                select(BookingNotification).where(BookingNotification.sent_at.is_(None))
            ).all()
        )


def test_with_smtp_down_mail_stays_queued_and_goes_out_once_when_it_returns(engine, tmp_path):
    users = bookable_world(engine)
    book(engine, users["district"], hour=10)
    book(engine, users["district"], hour=14)
    queued = len(pending(engine))
    assert queued >= 2
    port = free_port()
    settings = make_settings(
        tmp_path,
        engine.url.render_as_string(hide_password=False),
        smtp_host="127.0.0.1",
        smtp_port=port,
    )

    down = outbox.deliver_pending(engine=engine, settings=settings)
    assert down.sent == 0 and down.errors  # reported, not raised
    assert len(pending(engine)) == queued
    assert all(row.claimed_at is None for row in pending(engine))

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        first = outbox.deliver_pending(engine=engine, settings=settings)
        again = outbox.deliver_pending(engine=engine, settings=settings)
    finally:
        controller.stop()
    assert first.sent == queued and again.sent == 0
    assert len(inbox.messages) == queued
    assert pending(engine) == []


def test_a_crash_after_the_booking_commit_still_sends_its_notification(engine, tmp_path):
    users = bookable_world(engine)
    url = engine.url.render_as_string(hide_password=False)
    settings = make_settings(tmp_path, url)  # no SMTP host: the web process only queues
    day = future_weekday(8)
    body = {
        "expert_id": "F1",
        "start": local(day, 10).isoformat(),
        "end": local(day, 11).isoformat(),
        "kind": "supervision",
        "format": "online",
        "title": "崩溃前的预约",
    }
    with Session(engine) as session:
        headers = auth_headers(users["district"], settings, session)
    with TestClient(create_app(settings)) as client:
        response = client.post("/api/bookings", json=body, headers=headers)
        assert response.status_code == 201
    # The process dies here: the response was sent, no mail went out.
    queued = [
        (row.recipient, row.subject) for row in pending(engine) if "崩溃前的预约" in row.subject
    ]
    assert queued

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        env = {
            "HEART_ENVIRONMENT": "production",
            "HEART_SECRET_KEY": TEST_SECRET,
            "HEART_DATABASE_URL": url,
            "HEART_DATA_DIR": str(tmp_path / "tick"),
            "HEART_SMTP_HOST": "127.0.0.1",
            "HEART_SMTP_PORT": str(controller.port),
        }
        result = CliRunner().invoke(cli, ["booking", "tick"], env=env)
        assert result.exit_code == 0, result.output
        CliRunner().invoke(cli, ["booking", "tick"], env=env)  # a second run sends nothing more
    finally:
        controller.stop()
    received = [(to[0], message["Subject"]) for to, message in inbox.messages]
    assert sorted(r for r in received if "崩溃前的预约" in r[1]) == sorted(queued)  # each once
    assert pending(engine) == []


# --- the database connection dropped mid-request (PostgreSQL) -----------------------------

slow_router = APIRouter()


@slow_router.get("/api/test-only/slow")
def slow_query(session: SessionDep) -> dict:
    session.exec(text("SELECT pg_sleep(5)"))  # type: ignore[call-overload]
    return {"done": True}


def terminate_backends(url: str) -> int:
    """Kill every client connection to the app's database from an admin connection (not the
    server's own workers on it, such as autovacuum: only a superuser may stop those)."""
    database = make_url(url).database
    admin = create_engine(
        url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as connection:
            return len(
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :db AND pid <> pg_backend_pid() "
                        "AND backend_type = 'client backend'"
                    ),
                    {"db": database},
                ).all()
            )
    finally:
        admin.dispose()


@pytest.mark.pg
@pytest.mark.parametrize(
    "fresh_database_url", [p for p in BACKENDS if p != "sqlite"], indirect=True
)
def test_a_dropped_database_connection_gives_a_clean_503_and_the_next_request_succeeds(
    engine, fresh_database_url, tmp_path
):
    users = bookable_world(engine)
    settings = make_settings(tmp_path, fresh_database_url)
    app = create_app(settings)
    app.include_router(slow_router)
    with Session(engine) as session:
        headers = auth_headers(users["staff"], settings, session)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/api/me", headers=headers).status_code == 200  # pool warmed up
        killer = threading.Timer(1.0, terminate_backends, args=(fresh_database_url,))
        killer.start()
        started = time.monotonic()
        dropped = client.get("/api/test-only/slow", headers=headers)
        killer.join()
        assert time.monotonic() - started < 5
        assert dropped.status_code == 503
        assert dropped.json() == {"detail": "数据库暂时不可用，请稍后重试"}
        # Every pooled connection is dead now; pool_pre_ping replaces them without a restart.
        terminate_backends(fresh_database_url)
        assert client.get("/api/me", headers=headers).status_code == 200
        assert client.get("/api/experts/F1", headers=headers).status_code == 200
