"""A slow feed or a hostile calendar file never holds the write lock, as attacks over HTTP.

On a real, committed database (no test-transaction override, the app's own write queue): while
an expert's feed server stalls for 3 s (registration, the page form and the manual refresh) or
the sandbox spends its budget on an uploaded calendar, another user's unrelated write (a
district coordinator's change of their contact details) is answered within a second.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from booking.busy.models import BusyCalendar
from marketplace.db import make_engine, run_migrations, session_scope
from marketplace.vocabulary import Role
from tests.booking.conftest import add_experts, future_weekday, local, quick_user
from tests.booking.test_hostile_calendars import FEBRUARY_30TH
from tests.conftest import TEST_PASSWORD, expert_record, make_settings, seed_reference
from tests.web.pages.conftest import form_token, login
from web.app import create_app

STALL_SECONDS = 3.0


def _feed_body() -> bytes:
    day = future_weekday()
    start = local(day, 10).strftime("%Y%m%dT%H%M%S")
    end = local(day, 12).strftime("%Y%m%dT%H%M%S")
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//\r\nBEGIN:VEVENT\r\nUID:x\r\n"
        f"DTSTART;TZID=Asia/Shanghai:{start}\r\nDTEND;TZID=Asia/Shanghai:{end}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


class SlowFeed:
    """A calendar server on loopback that answers after `stall` seconds (0: at once)."""

    def __init__(self) -> None:
        self.stall = 0.0
        feed = self
        body = _feed_body()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                time.sleep(feed.stall)
                self.send_response(200)
                self.send_header("Content-Type", "text/calendar")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/busy.ics"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Live:
    client: TestClient
    expert: dict[str, str]
    district: dict[str, str]
    feed: SlowFeed
    engine: object


@pytest.fixture
def live(fresh_database_url, tmp_path) -> Iterator[Live]:
    # The feed server is on loopback: allowed by name, as an on-premise calendar host.
    settings = make_settings(tmp_path, fresh_database_url, calendar_allowed_hosts="127.0.0.1")
    engine = make_engine(settings)
    run_migrations(engine)
    seed_reference(engine)
    with session_scope(engine) as session:
        add_experts(session, expert_record(id="BK1"))
        quick_user(session, Role.expert, "bk1@example.org", expert_id="BK1")
        quick_user(session, Role.district, "beilin@example.org")
    app = create_app(settings)
    app.state.engine = engine
    feed = SlowFeed()
    try:
        with TestClient(app) as client:
            yield Live(
                client,
                bearer(client, "bk1@example.org"),
                bearer(client, "beilin@example.org"),
                feed,
                engine,
            )
    finally:
        feed.close()
        engine.dispose()


def bearer(client: TestClient, username: str) -> dict[str, str]:
    response = client.post(
        "/api/auth/token", data={"username": username, "password": TEST_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def while_slow(
    live: Live, slow: Callable[[], httpx.Response]
) -> tuple[httpx.Response, float, float]:
    """Start `slow` and, once it is under way, let a district coordinator change their e-mail
    again and again (writes through the same write queue) until it ends; returns the slow
    answer, how long it took and the median time of the district's writes meanwhile.

    Held behind the write lock, no write could finish before the slow request does; the
    median (not one sample) keeps a busy test machine's hiccups from deciding the outcome."""
    answers: list[httpx.Response] = []

    def run() -> None:
        answers.append(slow())

    began = time.monotonic()
    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.8)  # the slow request is fetching or parsing by now
    writes: list[float] = []
    while worker.is_alive():
        write_began = time.monotonic()
        changed = live.client.patch(
            "/api/me", json={"email": f"beilin-{len(writes)}@example.org"}, headers=live.district
        )
        assert changed.status_code == 200, changed.text
        if worker.is_alive():  # finished while the slow request was still running
            writes.append(time.monotonic() - write_began)
    worker.join()
    slow_took = time.monotonic() - began
    assert len(writes) >= 2, writes
    return answers[0], slow_took, statistics.median(writes)


@pytest.mark.parametrize("how", ["api", "page"])
def test_a_stalling_feed_registration_does_not_hold_up_another_users_write(live, how):
    live.feed.stall = STALL_SECONDS
    if how == "api":

        def register() -> httpx.Response:
            return live.client.post(
                "/api/experts/BK1/busy-calendars",
                json={"url": live.feed.url, "name": "单位日历"},
                headers=live.expert,
            )
    else:
        assert login(live.client, "bk1@example.org").status_code == 303
        token = form_token(live.client.get("/availability").text)

        def register() -> httpx.Response:
            return live.client.post(
                "/availability/calendars/feed",
                data={"csrf_token": token, "url": live.feed.url, "name": "单位日历"},
                follow_redirects=False,
            )

    answer, slow_took, write_took = while_slow(live, register)
    assert answer.status_code == (201 if how == "api" else 303), answer.text
    assert slow_took >= STALL_SECONDS
    assert write_took < 1.0
    with session_scope(live.engine) as session:  # type: ignore[arg-type]
        [calendar] = session.exec(select(BusyCalendar)).all()
        assert calendar.source == "feed" and calendar.event_count == 1


def test_a_stalling_manual_refresh_does_not_hold_up_another_users_write(live):
    registered = live.client.post(
        "/api/experts/BK1/busy-calendars", json={"url": live.feed.url}, headers=live.expert
    )
    assert registered.status_code == 201, registered.text
    calendar_id = registered.json()["id"]
    live.feed.stall = STALL_SECONDS

    def refresh() -> httpx.Response:
        return live.client.post(
            f"/api/experts/BK1/busy-calendars/{calendar_id}/refresh", headers=live.expert
        )

    answer, slow_took, write_took = while_slow(live, refresh)
    assert answer.status_code == 200, answer.text
    assert answer.json()["last_error"] is None
    assert slow_took >= STALL_SECONDS
    assert write_took < 1.0


def test_a_hostile_upload_parse_does_not_hold_up_another_users_write(live):
    # January has no 366th day: not caught statically, so the sandbox works until its budget.
    costly = FEBRUARY_30TH.replace(b"BYMONTH=2;BYMONTHDAY=30", b"BYMONTH=1;BYYEARDAY=366")

    def upload() -> httpx.Response:
        return live.client.post(
            "/api/experts/BK1/busy-calendars/upload",
            files={"file": ("costly.ics", costly, "text/calendar")},
            headers=live.expert,
        )

    answer, slow_took, write_took = while_slow(live, upload)
    assert answer.status_code == 422, answer.text
    assert slow_took >= 1.5  # the sandbox spent its budget (2 s CPU) before refusing
    assert write_took < 1.0
