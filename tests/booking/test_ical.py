"""iCalendar: invitations and feeds that a second parser (vobject) reads the same way, and
busy calendars read defensively (recurrences expanded, hostile files refused)."""

import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

import pytest
import vobject

from booking.fetching import fetch_ics
from booking.ical import (
    MAX_ICS_BYTES,
    IcsRejected,
    Party,
    SessionInfo,
    busy_intervals,
    feed_ics,
    read_busy,
    session_ics,
)

SH = ZoneInfo("Asia/Shanghai")
WINDOW = {"start": datetime(2027, 3, 1, tzinfo=SH), "end": datetime(2027, 4, 1, tzinfo=SH)}


def info(**overrides) -> SessionInfo:
    values = dict(
        uid="abc@heart-hub",
        sequence=3,
        title="督导：个案讨论",
        description="第一次督导",
        start=datetime(2027, 3, 2, 1, 0, tzinfo=UTC),
        end=datetime(2027, 3, 2, 2, 0, tzinfo=UTC),
        status="confirmed",
        location="线上",
        updated_at=datetime(2027, 2, 1, tzinfo=UTC),
    )
    values.update(overrides)
    return SessionInfo(**values)


def invitation(**kwargs) -> bytes:
    return session_ics(
        info(**kwargs.pop("info", {})),
        organizer=Party("王专家", "expert@example.org"),
        attendees=[Party("碑林区协调员", "coord@example.org")],
        **kwargs,
    )


def test_an_invitation_is_a_request_with_uid_sequence_timezone_organizer_and_attendee():
    parsed = vobject.readOne(invitation().decode("utf-8"))
    assert parsed.method.value == "REQUEST"
    assert parsed.vtimezone.tzid.value == "Asia/Shanghai"
    event = parsed.vevent
    assert event.uid.value == "abc@heart-hub"
    assert event.sequence.value == "3"
    assert event.dtstart.value == datetime(2027, 3, 2, 9, 0, tzinfo=SH)
    assert event.summary.value == "督导：个案讨论"
    assert event.organizer.value == "mailto:expert@example.org"
    assert event.attendee.value == "mailto:coord@example.org"


def test_a_cancellation_keeps_the_uid_and_says_cancel():
    parsed = vobject.readOne(invitation(cancelled=True, info={"sequence": 4}).decode("utf-8"))
    assert parsed.method.value == "CANCEL"
    assert parsed.vevent.uid.value == "abc@heart-hub"
    assert parsed.vevent.status.value == "CANCELLED"
    assert parsed.vevent.sequence.value == "4"


def test_a_feed_lists_every_session_and_parses_independently():
    sessions = [
        info(
            uid=f"s{i}@heart-hub",
            start=datetime(2027, 3, 2 + i, 1, tzinfo=UTC),
            end=datetime(2027, 3, 2 + i, 2, tzinfo=UTC),
        )
        for i in range(3)
    ]
    parsed = vobject.readOne(feed_ics("HEART · 王专家", sessions).decode("utf-8"))
    assert sorted(e.uid.value for e in parsed.vevent_list) == [
        "s0@heart-hub",
        "s1@heart-hub",
        "s2@heart-hub",
    ]


def ics(*events: str, extra: str = "") -> bytes:
    body = "".join(f"BEGIN:VEVENT\r\n{e.strip()}\r\nEND:VEVENT\r\n" for e in events)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//\r\n"
        + extra
        + body
        + "END:VCALENDAR\r\n"
    ).encode()


def test_recurring_busy_events_are_expanded_within_the_window():
    weekly = (
        "UID:w\r\nDTSTART;TZID=Asia/Shanghai:20270301T140000\r\n"
        "DTEND;TZID=Asia/Shanghai:20270301T150000\r\nRRULE:FREQ=WEEKLY;COUNT=10"
    )
    once = "UID:o\r\nDTSTART:20270310T010000Z\r\nDTEND:20270310T020000Z"
    free = "UID:f\r\nDTSTART:20270311T010000Z\r\nDTEND:20270311T020000Z\r\nTRANSP:TRANSPARENT"
    result = busy_intervals(ics(weekly, once, free), **WINDOW)
    local = [s.astimezone(SH).strftime("%m-%d %H:%M") for s, _ in result]
    assert local == [
        "03-01 14:00",
        "03-08 14:00",
        "03-10 09:00",
        "03-15 14:00",
        "03-22 14:00",
        "03-29 14:00",
    ]


def test_all_day_and_floating_events_are_read_in_the_experts_zone():
    allday = "UID:a\r\nDTSTART;VALUE=DATE:20270305\r\nDTEND;VALUE=DATE:20270306"
    floating = "UID:b\r\nDTSTART:20270306T100000\r\nDTEND:20270306T110000"
    result = busy_intervals(ics(allday, floating), **WINDOW)
    assert result == [
        (datetime(2027, 3, 5, tzinfo=SH), datetime(2027, 3, 6, tzinfo=SH)),
        (datetime(2027, 3, 6, 10, tzinfo=SH), datetime(2027, 3, 6, 11, tzinfo=SH)),
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"x" * (MAX_ICS_BYTES + 1), "too_large"),
        (
            b"BEGIN:VCALENDAR\r\n"
            + b"BEGIN:VEVENT\r\n" * 50
            + b"END:VEVENT\r\n" * 50
            + b"END:VCALENDAR\r\n",
            "too_deep",
        ),
        (
            ics(*[f"UID:{i}\r\nDTSTART:20270301T010000Z" for i in range(5001)]),
            "too_many_components",
        ),
        (
            ics(
                "UID:r\r\nDTSTART:20270301T010000Z\r\nDTEND:20270301T010100Z\r\nRRULE:FREQ=SECONDLY"
            ),
            "recurrence_too_frequent",
        ),
        (
            ics("UID:f\r\nDTSTART:20300101T010000Z\r\nRRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"),
            "recurrence_never",
        ),
        (
            ics(
                "UID:x\r\nDTSTART:20270301T010000Z\r\nRRULE:FREQ=DAILY;BYHOUR="
                + ",".join(map(str, range(24)))
                + ";BYMINUTE="
                + ",".join(map(str, range(60)))
            ),
            "recurrence_too_frequent",
        ),
        (
            ics(*[f"UID:{i}\r\nDTSTART:19800101T010000Z\r\nRRULE:FREQ=DAILY" for i in range(10)]),
            "too_many_occurrences",
        ),
        (b"\xff\xfe not text", "malformed"),
        (b"hello world", "malformed"),
        (
            b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:garbage\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            "malformed",
        ),
    ],
    ids=[
        "huge",
        "nested",
        "components",
        "secondly",
        "february-30th",
        "by-minute",
        "old-dailies",
        "binary",
        "text",
        "bad-date",
    ],
)
def test_hostile_or_malformed_files_are_refused_with_a_reason(data, reason):
    with pytest.raises(IcsRejected) as caught:
        busy_intervals(data, **WINDOW)
    assert caught.value.reason == reason


def test_an_unbounded_daily_rule_yields_only_the_windows_occurrences():
    daily = "UID:d\r\nDTSTART:19800101T010000Z\r\nDTEND:19800101T020000Z\r\nRRULE:FREQ=DAILY"
    assert len(busy_intervals(ics(daily), **WINDOW)) == 31


class _Feed(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):  # noqa: N802
        if self.path != "/cal.ics":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/calendar")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def feed_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Feed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_feed_is_fetched_over_http_and_missing_ones_are_unreachable(feed_server):
    _Feed.body = ics("UID:1\r\nDTSTART:20270302T010000Z\r\nDTEND:20270302T020000Z")
    data = fetch_ics(f"{feed_server}/cal.ics", allowed=["127.0.0.1"])
    assert len(busy_intervals(data, **WINDOW)) == 1
    with pytest.raises(IcsRejected) as caught:
        fetch_ics(f"{feed_server}/missing.ics", allowed=["127.0.0.1"])
    assert caught.value.reason == "unreachable"


def test_an_oversized_feed_is_cut_off_while_downloading(feed_server):
    _Feed.body = b"A" * (MAX_ICS_BYTES + 10)
    with pytest.raises(IcsRejected) as caught:
        fetch_ics(f"{feed_server}/cal.ics", allowed=["127.0.0.1"])
    assert caught.value.reason == "too_large"


def test_events_before_1900_or_after_2200_are_skipped_one_by_one_with_a_note():
    ancient = "UID:a\r\nSUMMARY:古老\r\nDTSTART:00010101T000000Z\r\nDTEND:00010101T010000Z\r\nRRULE:FREQ=DAILY"
    far = "UID:z\r\nSUMMARY:遥远\r\nDTSTART:99991230T000000Z\r\nDTEND:99991230T010000Z"
    kept = "UID:k\r\nDTSTART:20270302T010000Z\r\nDTEND:20270302T020000Z"
    read = read_busy(ics(ancient, far, kept), **WINDOW)
    assert read.intervals == [
        (datetime(2027, 3, 2, 1, tzinfo=UTC), datetime(2027, 3, 2, 2, tzinfo=UTC))
    ]
    assert len(read.skipped) == 2 and "古老" in read.skipped[0] and "9999" in read.skipped[1]


def test_a_yearly_event_from_1965_blocks_its_day_in_the_window():
    birthday = "UID:b\r\nDTSTART:19650305T010000Z\r\nDTEND:19650305T020000Z\r\nRRULE:FREQ=YEARLY"
    birthdays = [birthday.replace("UID:b", f"UID:b{i}") for i in range(20)]
    read = read_busy(ics(*birthdays), **WINDOW)
    assert read.intervals == [
        (datetime(2027, 3, 5, 1, tzinfo=UTC), datetime(2027, 3, 5, 2, tzinfo=UTC))
    ]
    assert read.skipped == []


def test_an_invitation_the_owner_declined_is_free_and_one_they_accepted_is_busy():
    def invited(partstat: str) -> str:
        return (
            f"UID:{partstat}\r\nDTSTART:20270302T010000Z\r\nDTEND:20270302T020000Z\r\n"
            "ORGANIZER:mailto:boss@example.org\r\n"
            f"ATTENDEE;PARTSTAT={partstat}:mailto:Expert@Example.org"
        )

    owners = frozenset({"expert@example.org"})
    assert read_busy(ics(invited("DECLINED")), owner_addresses=owners, **WINDOW).intervals == []
    assert len(read_busy(ics(invited("ACCEPTED")), owner_addresses=owners, **WINDOW).intervals) == 1
    assert len(read_busy(ics(invited("DECLINED")), **WINDOW).intervals) == 1
