"""Hostile busy calendars, as attacks from outside: a calendar that would make expansion run for
seconds never stalls the server, and a feed URL never reaches inside the network."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlmodel import select

from booking import sandbox
from booking.busy.models import BusyCalendar
from booking.fetching import fetch_ics, is_public
from booking.ical import IcsRejected
from booking.sandbox import read_busy_bounded
from marketplace import messages
from tests.booking.conftest import future_weekday, local
from tests.booking.test_api import slot_starts

# The 180-byte calendar of the probe: a daily rule on a date that never occurs.
FEBRUARY_30TH = (
    b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//\r\nBEGIN:VEVENT\r\nUID:never\r\n"
    b"DTSTART:20300101T010000Z\r\nDTEND:20300101T020000Z\r\n"
    b"RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def test_health_answers_within_a_second_while_a_never_occurring_rule_is_uploaded(client, h):
    assert 170 <= len(FEBRUARY_30TH) <= 190
    assert client.get("/api/health").status_code == 200  # warm: first-call costs aside
    calls: list[tuple[float, float]] = []  # (when it started, how long it took)
    stop = threading.Event()

    def poll_health() -> None:
        while not stop.is_set():
            began = time.monotonic()
            assert client.get("/api/health").status_code == 200
            calls.append((began, time.monotonic() - began))
            time.sleep(0.05)

    poller = threading.Thread(target=poll_health)
    poller.start()
    try:
        time.sleep(0.2)
        began = time.monotonic()
        refused = client.post(
            "/api/experts/BK1/busy-calendars/upload",
            files={"file": ("never.ics", FEBRUARY_30TH, "text/calendar")},
            headers=h["expert_user"],
        )
        took = time.monotonic() - began
        time.sleep(0.2)
    finally:
        stop.set()
        poller.join()
    assert refused.status_code == 422
    assert refused.json()["detail"] == messages.ICS_REJECTED["recurrence_never"]
    # Refused up front: well inside the sandbox's own budget (a loaded CI machine needs slack).
    assert took < sandbox.WALL_SECONDS
    during = [lasted for started, lasted in calls if started >= began - 0.1]
    assert len(during) >= 3 and max(during) < 1.0


def test_a_rule_too_costly_to_expand_is_killed_at_its_budget_and_refused():
    # January has no 366th day of the year: not caught by a static check, so expansion walks
    # every day up to the year 9999 unless the worker is stopped.
    never = FEBRUARY_30TH.replace(b"BYMONTH=2;BYMONTHDAY=30", b"BYMONTH=1;BYYEARDAY=366")
    began = time.monotonic()
    with pytest.raises(IcsRejected) as caught:
        read_busy_bounded(
            never,
            start=datetime(2027, 1, 1, tzinfo=UTC),
            end=datetime(2028, 1, 1, tzinfo=UTC),
            cpu_seconds=1,
            wall_seconds=2.0,
        )
    assert caught.value.reason == "too_complex"
    assert time.monotonic() - began < 4.0


def test_an_upload_refused_for_its_budget_says_so_in_chinese(client, h, monkeypatch):
    never = FEBRUARY_30TH.replace(b"BYMONTH=2;BYMONTHDAY=30", b"BYMONTH=1;BYYEARDAY=366")
    monkeypatch.setattr("booking.sandbox.WALL_SECONDS", 1.5)
    monkeypatch.setattr("booking.sandbox.CPU_SECONDS", 1)
    refused = client.post(
        "/api/experts/BK1/busy-calendars/upload",
        files={"file": ("never.ics", never, "text/calendar")},
        headers=h["expert_user"],
    )
    assert refused.status_code == 422
    assert refused.json()["detail"] == messages.ICS_REJECTED["too_complex"]


# --- feed URLs never reach inside ------------------------------------------------------------


class Listener:
    """A loopback TCP listener that records every connection it receives."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def listener():
    one = Listener()
    yield one
    one.close()


def inside_urls(port: int) -> list[str]:
    return [
        f"http://127.0.0.1:{port}/cal.ics",
        f"http://localhost:{port}/cal.ics",
        f"http://LOCALHOST.:{port}/cal.ics",
        f"http://2130706433:{port}/cal.ics",
        f"http://0x7f000001:{port}/cal.ics",
        f"http://0177.0.0.1:{port}/cal.ics",
        f"http://127.1:{port}/cal.ics",
        f"http://0.0.0.0:{port}/cal.ics",
        f"http://[::1]:{port}/cal.ics",
        f"http://[::ffff:127.0.0.1]:{port}/cal.ics",
        f"http://[::ffff:7f00:1]:{port}/cal.ics",
        f"http://user:pw@127.0.0.1:{port}/cal.ics",
        f"https://127.0.0.1:{port}/cal.ics",
        f"webcal://127.0.0.1:{port}/cal.ics",
    ]


def test_no_feed_url_form_reaches_a_loopback_listener(client, h, listener, session):
    answers = set()
    for url in inside_urls(listener.port):
        refused = client.post(
            "/api/experts/BK1/busy-calendars", json={"url": url}, headers=h["expert_user"]
        )
        assert refused.status_code == 422, url
        answers.add(refused.json()["detail"])
    assert answers == {messages.ICS_REJECTED["unreachable"]}
    assert listener.connections == 0
    assert session.exec(select(BusyCalendar)).all() == []


class _Redirect(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self):  # noqa: N802
        self.send_response(302)
        self.send_header("Location", self.target)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def redirector(app):
    # The redirector is a named internal calendar host the deployment allows; where it points
    # is checked again, so it cannot lead the hub to anything else inside.
    app.state.settings.calendar_allowed_hosts = "127.0.0.1"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/cal.ics"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "target",
    [
        "http://2130706433:{port}/x.ics",
        "http://localhost:{port}/x.ics",
        "http://[::ffff:127.0.0.1]:{port}/x.ics",
        "/relative-{port}.ics#same-host-is-allowed-but-then-a-second-hop",
    ],
)
def test_a_redirect_to_an_inside_address_is_refused_at_the_hop(
    client, h, listener, redirector, target
):
    if target.startswith("/"):
        # A relative redirect stays on the allowed host; it then redirects to itself until the
        # hop limit, and nothing reaches the listener either.
        _Redirect.target = target
    else:
        _Redirect.target = target.format(port=listener.port)
    refused = client.post(
        "/api/experts/BK1/busy-calendars", json={"url": redirector}, headers=h["expert_user"]
    )
    assert refused.status_code == 422
    assert refused.json()["detail"] == messages.ICS_REJECTED["unreachable"]
    assert listener.connections == 0


def test_open_and_closed_inside_ports_give_the_same_answer(client, h, listener):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    answers = [
        client.post(
            "/api/experts/BK1/busy-calendars",
            json={"url": f"http://127.0.0.1:{port}/cal.ics"},
            headers=h["expert_user"],
        ).json()["detail"]
        for port in (listener.port, closed_port)
    ]
    assert answers[0] == answers[1] == messages.ICS_REJECTED["unreachable"]


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),
        ("169.254.169.254", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fc00::1", False),
        ("ff02::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("2002:7f00:1::", False),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),
    ],
)
def test_only_globally_routable_unicast_addresses_are_public(address, public):
    assert is_public(address) is public


def test_a_feed_that_redirects_inside_is_refused_by_the_fetcher_too(listener):
    # A name that resolves inside (as DNS rebinding would answer) is refused before any connect.
    with pytest.raises(IcsRejected) as caught:
        fetch_ics("http://calendar.example.org/cal.ics", resolve=lambda host, port: ["127.0.0.1"])
    assert caught.value.reason == "unreachable"
    assert listener.connections == 0


def test_a_named_internal_host_in_the_setting_is_fetched(client, h, app):
    day = future_weekday()
    start = local(day, 10).strftime("%Y%m%dT%H%M%S")
    end = local(day, 12).strftime("%Y%m%dT%H%M%S")
    body = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//\r\nBEGIN:VEVENT\r\nUID:x\r\n"
        f"DTSTART;TZID=Asia/Shanghai:{start}\r\nDTEND;TZID=Asia/Shanghai:{end}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()

    class Feed(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            assert self.headers["Host"].startswith("localhost:")
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://localhost:{server.server_address[1]}/cal.ics"
        app.state.settings.calendar_allowed_hosts = "calendar.intranet, LOCALHOST"
        registered = client.post(
            "/api/experts/BK1/busy-calendars", json={"url": url}, headers=h["expert_user"]
        )
    finally:
        server.shutdown()
        server.server_close()
    assert registered.status_code == 201, registered.json()
    assert "10:00" not in slot_starts(client, h, day)
