"""The scheduler inside the app (no CLI call), /api/health, /metrics, the admin jobs page and the
request log lines, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Callable
from datetime import datetime

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from booking.notifications.models import BookingNotification
from booking.schedule import service as schedule_service
from booking.schedule.models import AvailabilityUpdate
from booking.sessions.models import Booking
from marketplace.accounts.models import User
from marketplace.jobs.models import JobState
from marketplace.notifications.models import Notification
from marketplace.vocabulary import Role
from tests.booking.conftest import WORKDAY, add_experts, book, future_weekday, local, quick_user
from tests.conftest import TEST_PASSWORD, expert_record
from tests.ops.conftest import FakeClock, OpsDb
from tests.web.pages.conftest import form_token, login
from web.app import create_app
from web.observability import JsonFormatter


def wait_for(condition: Callable[[], object], timeout: float = 15.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: connections are refused


@pytest.fixture
def crisis(ops_db: OpsDb, clock: FakeClock) -> Booking:
    """A bookable expert, a district, staff and an admin; a crisis request made at clock.now."""
    day = future_weekday()
    clock.now = local(day, 9)
    with Session(ops_db.engine, expire_on_commit=False) as session:
        add_experts(session, expert_record(id="OP1", service_types=["crisis_support"]))
        quick_user(session, Role.expert, "op1@example.org", expert_id="OP1")
        district = quick_user(session, Role.district, "beilin@example.org")
        staff = quick_user(session, Role.staff, "staff@example.org")
        quick_user(session, Role.admin, "admin@example.org")
        schedule_service.set_availability(
            session=session, expert_id="OP1", data=AvailabilityUpdate(**WORKDAY), user=staff
        )
        booking = book(
            session,
            district,
            "OP1",
            local(day, 9, 30),
            title="学生危机事件",
            kind="crisis_support",
            now=clock.now,
        )
        session.commit()
    return booking


def served(
    ops_db: OpsDb,
    clock: FakeClock,
    *,
    address: tuple[str, int] = ("127.0.0.1", 50000),
    **overrides: object,
) -> TestClient:
    options: dict[str, object] = {
        "scheduler_enabled": True,
        "scheduler_poll_seconds": 0.05,
        "scheduler_lease_seconds": 2,
    }
    settings = ops_db.settings_with(**(options | overrides))
    app = create_app(settings)
    app.state.clock = clock
    # By default from loopback, as a monitoring probe on the host (/api/health reports details).
    return TestClient(app, client=address)


def job_state(ops_db: OpsDb, name: str) -> JobState | None:
    with Session(ops_db.engine) as session:
        return session.get(JobState, name)


def test_an_unanswered_crisis_request_is_escalated_by_the_running_app_and_staff_are_told(
    ops_db, clock, crisis
):
    with served(ops_db, clock) as client:
        first = wait_for(
            lambda: (s := job_state(ops_db, "crisis_escalation")) and s.last_success_at
        )
        assert first == clock.now
        clock.advance(minutes=31)
        wait_for(
            lambda: (s := job_state(ops_db, "crisis_escalation")) and s.last_success_at == clock.now
        )
        with Session(ops_db.engine) as session:
            booking = session.get(Booking, crisis.id)
            assert booking is not None and booking.escalated_at == clock.now
            mails = session.exec(
                select(BookingNotification).where(BookingNotification.kind == "escalation")
            ).all()
            assert sorted(m.recipient for m in mails) == ["admin@example.org", "staff@example.org"]
            inbox = session.exec(
                select(User.username)
                .join(Notification, col(Notification.user_id) == User.id)
                .where(Notification.kind == "crisis_escalation")
            ).all()
            assert sorted(inbox) == ["admin@example.org", "staff@example.org"]
        health = client.get("/api/health").json()
        [job] = [j for j in health["jobs"] if j["name"] == "crisis_escalation"]
        assert datetime.fromisoformat(job["last_success_at"]) == clock.now
        assert not job["overdue"]
        assert health["scheduler"]["held_here"] is True


def test_a_failing_job_shows_on_the_admin_page_and_in_health_and_requests_carry_on(
    ops_db, clock, crisis
):
    # The crisis request queued mail; the SMTP server refuses connections.
    with served(ops_db, clock, smtp_host="127.0.0.1", smtp_port=closed_port()) as client:
        state = wait_for(lambda: (s := job_state(ops_db, "mail_delivery")) and s.last_error and s)
        assert "ConnectionRefusedError" in state.last_error  # type: ignore[attr-defined]
        health = client.get("/api/health")
        assert health.status_code == 200 and health.json()["status"] == "degraded"
        [job] = [j for j in health.json()["jobs"] if j["name"] == "mail_delivery"]
        assert "邮件发送失败" in job["last_error"] and job["overdue"] is False
        assert login(client, "admin@example.org", TEST_PASSWORD).status_code == 303
        assert client.get("/experts").status_code == 200
        page = client.get("/admin/jobs")
        assert page.status_code == 200
        assert "邮件发送" in page.text and "ConnectionRefusedError" in page.text
        # Past the grace the job is overdue: health answers 503, everything else still works.
        clock.advance(minutes=15)
        # (the other jobs catch up with the jump of the clock at their next round)
        wait_for(lambda: client.get("/api/health").json()["overdue_jobs"] == ["mail_delivery"])
        assert client.get("/api/health").status_code == 503
        assert client.get("/experts").status_code == 200
        assert client.get("/admin/jobs").status_code == 200


def test_run_now_on_the_admin_page_runs_the_job_at_the_next_round(ops_db, clock, crisis):
    with served(ops_db, clock) as client:
        wait_for(lambda: (s := job_state(ops_db, "service_expiry")) and s.last_success_at)
        login(client, "admin@example.org", TEST_PASSWORD)
        page = client.get("/admin/jobs")
        clock.advance(minutes=5)
        response = client.post(
            "/admin/jobs/service_expiry/run",
            data={"csrf_token": form_token(page.text)},
            follow_redirects=False,
        )
        assert response.status_code == 303
        wait_for(
            lambda: (s := job_state(ops_db, "service_expiry")) and s.last_success_at == clock.now
        )
        unknown = client.post(
            "/admin/jobs/no_such_job/run", data={"csrf_token": form_token(page.text)}
        )
        assert unknown.status_code == 404


def test_health_reports_database_search_and_outbox_depths(ops_db, clock, crisis):
    with served(ops_db, clock, scheduler_enabled=False) as client:
        body = client.get("/api/health").json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["search"] == {"backend": "embedded", "ok": True}
    assert body["outbox"]["mail"] >= 1  # the crisis request's mail, no SMTP configured
    assert body["outbox"]["search"] >= 1  # the imported expert, not drained (no scheduler)
    assert body["jobs"] == [] and body["scheduler"]["enabled_here"] is False


def test_health_tells_anyone_else_the_verdict_but_no_job_errors_hosts_or_queues(
    ops_db, clock, crisis
):
    settings = ops_db.settings_with(
        scheduler_enabled=True,
        scheduler_poll_seconds=0.05,
        smtp_host="127.0.0.1",
        smtp_port=closed_port(),
        metrics_token="monitoring-token-for-the-test",
    )
    app = create_app(settings)
    app.state.clock = clock
    with TestClient(app, client=("203.0.113.9", 40000)) as outsider:  # not a metrics network
        wait_for(lambda: (s := job_state(ops_db, "mail_delivery")) and s.last_error)
        body = outsider.get("/api/health").json()
        assert body == {"status": "degraded", "database": "ok"}
        assert "ConnectionRefused" not in outsider.get("/api/health").text
        monitored = outsider.get(
            "/api/health", headers={"Authorization": "Bearer monitoring-token-for-the-test"}
        ).json()
        assert monitored["scheduler"]["holder"] and monitored["jobs"]


def test_metrics_are_open_to_allowed_networks_or_the_token_only(ops_db, clock, crisis):
    outside = ("203.0.113.9", 40000)
    with served(ops_db, clock, address=outside, scheduler_enabled=False) as client:
        assert client.get("/metrics").status_code == 403  # not an allowed address
    with served(
        ops_db, clock, address=outside, scheduler_enabled=False, metrics_token="m" * 32
    ) as client:
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
        token = client.post(
            "/api/auth/token", data={"username": "staff@example.org", "password": TEST_PASSWORD}
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert client.get("/api/experts", headers=auth).status_code == 200
        # this hub never built its search index: the search runs (and is timed), then says so
        searched = client.get("/api/search", params={"q": "焦虑"}, headers=auth)
        assert searched.json()["code"] in ("search_index_missing", "search_index_no_experts")
        response = client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 32})
    assert response.status_code == 200
    text = response.text
    assert 'heart_http_requests_total{method="GET",route="/api/experts",status="200"} 1.0' in text
    assert "heart_http_request_duration_seconds_bucket" in text
    assert "heart_search_duration_seconds_count 1.0" in text
    assert 'heart_outbox_depth{outbox="mail"}' in text
    assert "heart_active_login_sessions" in text


def test_metrics_count_job_runs_and_their_durations(ops_db, clock, crisis):
    with served(ops_db, clock, metrics_networks="0.0.0.0/0", metrics_token="t" * 32) as client:
        wait_for(lambda: (s := job_state(ops_db, "crisis_escalation")) and s.last_success_at)
        wait_for(
            lambda: (
                'heart_job_runs_total{job="crisis_escalation",status="ok"}'
                in client.get("/metrics", headers={"Authorization": "Bearer " + "t" * 32}).text
            )
        )
        text = client.get("/metrics", headers={"Authorization": "Bearer " + "t" * 32}).text
    assert 'heart_job_duration_seconds_count{job="crisis_escalation"}' in text


def test_json_request_logs_carry_id_route_status_user_and_no_query_text(
    ops_db, clock, crisis, caplog
):
    caplog.set_level(logging.INFO, logger="heart.http")
    with served(ops_db, clock, scheduler_enabled=False, log_format="json") as client:
        token = client.post(
            "/api/auth/token", data={"username": "staff@example.org", "password": TEST_PASSWORD}
        ).json()["access_token"]
        response = client.get(
            f"/api/bookings/{crisis.id}",
            params={"note": "学生张三"},
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-abcdef12"},
        )
    assert response.headers["X-Request-ID"] == "req-abcdef12"
    lines = [
        json.loads(JsonFormatter().format(r)) for r in caplog.records if r.name == "heart.http"
    ]
    [line] = [entry for entry in lines if entry.get("request_id") == "req-abcdef12"]
    assert line["route"] == "/api/bookings/{booking_id}" and line["status"] == 200
    assert line["method"] == "GET" and line["duration_ms"] >= 0
    staff_id = next(e["user_id"] for e in lines if e["route"] == "/api/bookings/{booking_id}")
    assert isinstance(staff_id, int)
    assert all("张三" not in json.dumps(e, ensure_ascii=False) for e in lines)
    generated = [e for e in lines if e["route"] == "/api/auth/token"]
    assert generated and len(generated[0]["request_id"]) == 16
