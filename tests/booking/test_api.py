"""The booking API at its public surface, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import vobject
from sqlmodel import select

from booking.busy.models import BusyCalendar
from booking.sessions.models import BookingCreate
from booking.sessions.service import create_booking
from tests.booking.conftest import WORKDAY, future_weekday, local
from tests.matching.db_support import file_request


def body(day, start_hour=10, hours=1, **overrides):
    data = {
        "expert_id": "BK1",
        "start": local(day, start_hour).isoformat(),
        "end": (local(day, start_hour) + timedelta(hours=hours)).isoformat(),
        "kind": "supervision",
        "format": "online",
        "title": "个案督导",
    }
    data.update(overrides)
    return data


def book(client, h, day, who="district_user", **overrides):
    return client.post("/api/bookings", json=body(day, **overrides), headers=h[who])


# --- availability and slots ---------------------------------------------------------------


def test_slots_follow_the_weekly_rules_and_carry_the_shanghai_offset(client, h):
    day = future_weekday()
    response = client.get(
        "/api/experts/BK1/slots",
        params={"start": day.isoformat(), "end": day.isoformat(), "duration": 60},
        headers=h["district_user"],
    )
    assert response.status_code == 200
    slots = response.json()
    assert slots[0] == {"start": local(day, 9).isoformat(), "end": local(day, 10).isoformat()}
    assert slots[-1]["start"].endswith("16:00:00+08:00")
    assert len(slots) == 15


def test_a_booked_slot_disappears_from_the_free_slots(client, h):
    day = future_weekday()
    assert book(client, h, day, start_hour=10).status_code == 201
    params = {"start": day.isoformat(), "end": day.isoformat(), "duration": 60}
    starts = [
        s["start"]
        for s in client.get("/api/experts/BK1/slots", params=params, headers=h["staff"]).json()
    ]
    assert local(day, 10).isoformat() not in starts
    assert local(day, 9, 30).isoformat() not in starts
    assert local(day, 11).isoformat() in starts


def test_only_the_expert_themself_or_staff_may_set_availability(client, h):
    assert (
        client.put(
            "/api/experts/BK1/availability", json=WORKDAY, headers=h["expert_user"]
        ).status_code
        == 200
    )
    for who in ("other_expert_user", "district_user"):
        assert (
            client.put("/api/experts/BK1/availability", json=WORKDAY, headers=h[who]).status_code
            == 403
        )
    assert client.put("/api/experts/BK1/availability", json=WORKDAY).status_code == 401


def test_availability_round_trips_with_overrides_and_out_of_office(client, h):
    day = future_weekday()
    payload = {
        **WORKDAY,
        "buffer_before_minutes": 15,
        "exceptions": [
            {
                "kind": "override",
                "date": day.isoformat(),
                "ranges": [{"start": "18:00", "end": "20:00"}],
            },
            {
                "kind": "out_of_office",
                "start": local(day + timedelta(days=1), 0).isoformat(),
                "end": local(day + timedelta(days=2), 0).isoformat(),
                "note": "出差",
            },
        ],
    }
    response = client.put("/api/experts/BK1/availability", json=payload, headers=h["expert_user"])
    assert response.status_code == 200, response.json()
    stored = client.get("/api/experts/BK1/availability", headers=h["staff"]).json()
    assert stored["exceptions"][0]["ranges"] == [{"start": "18:00", "end": "20:00"}]
    assert stored["exceptions"][1]["note"] == "出差"
    params = {
        "start": day.isoformat(),
        "end": (day + timedelta(days=1)).isoformat(),
        "duration": 60,
    }
    slots = client.get("/api/experts/BK1/slots", params=params, headers=h["staff"]).json()
    assert [s["start"][11:16] for s in slots] == ["18:00", "18:30", "19:00"]


@pytest.mark.parametrize(
    "change",
    [
        {"timezone": "Mars/Olympus"},
        {"weekly": [{"weekday": 7, "start": "09:00", "end": "10:00"}]},
        {"weekly": [{"weekday": 1, "start": "10:00", "end": "09:00"}]},
        {"weekly": [{"weekday": 1, "start": "9am", "end": "10:00"}]},
        {
            "exceptions": [
                {
                    "kind": "out_of_office",
                    "start": "2027-03-02T10:00:00",
                    "end": "2027-03-03T10:00:00",
                }
            ]
        },
    ],
    ids=["zone", "weekday", "reversed", "clock", "naive"],
)
def test_bad_availability_is_422_in_chinese_and_changes_nothing(client, h, change):
    before = client.get("/api/experts/BK1/availability", headers=h["staff"]).json()
    response = client.put(
        "/api/experts/BK1/availability", json={**WORKDAY, **change}, headers=h["staff"]
    )
    assert response.status_code == 422
    assert "字段" in response.json()["detail"] or "时区" in response.json()["detail"]
    assert client.get("/api/experts/BK1/availability", headers=h["staff"]).json() == before


@pytest.mark.parametrize(
    "params",
    [
        {"duration": 0},
        {"duration": 720},
        {"end_offset": -1},
        {"end_offset": 400},
        {"start": "2027-13-01"},
    ],
    ids=["zero", "twelve-hours", "end-before-start", "too-long", "bad-date"],
)
def test_bad_slot_queries_are_422(client, h, params):
    day = future_weekday()
    params = dict(params)
    query = {
        "start": day.isoformat(),
        "end": (day + timedelta(days=params.pop("end_offset", 0))).isoformat(),
        "duration": 60,
        **params,
    }
    response = client.get("/api/experts/BK1/slots", params=query, headers=h["staff"])
    assert response.status_code == 422


# --- booking --------------------------------------------------------------------------------


def test_booking_returns_201_with_id_start_and_requested_status(client, h, world, session):
    day = future_weekday()
    filed = file_request(session, user=world.district_user, district=None)
    session.commit()
    response = book(client, h, day, request_id=filed.id)
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["status"] == "requested" and data["id"] > 0 and data["request_id"] == filed.id
    assert datetime.fromisoformat(data["start"]) == local(day, 10)
    assert data["district_id"] == world.district_user.district_id


def test_a_booking_cannot_name_an_unknown_or_another_districts_request(client, h, world, session):
    other = file_request(session, user=world.other_district_user, district=None)
    session.commit()
    for request_id in (4242, other.id):
        response = book(client, h, future_weekday(), request_id=request_id)
        assert response.status_code == 422
        assert response.json()["detail"] == "关联的需求不存在或不属于该区县"


def test_a_taken_slot_is_409_with_a_chinese_message_and_a_requested_session_holds_it(client, h):
    day = future_weekday()
    assert book(client, h, day).status_code == 201
    overlapping = book(client, h, day, who="other_district_user", start_hour=10, hours=2)
    assert overlapping.status_code == 409
    assert "已被预约" in overlapping.json()["detail"]


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"hours": -1}, 422),
        ({"hours": 0}, 422),
        ({"start_hour": 8, "hours": 12}, 422),
        ({"start_hour": 18}, 422),
        ({"kind": "assessment"}, 422),
        ({"format": "onsite", "expert_id": "BK2", "kind": "consultation"}, 422),
        ({"expert_id": "NOPE"}, 404),
        ({"title": ""}, 422),
    ],
    ids=[
        "end-before-start",
        "zero",
        "twelve-hours",
        "outside-hours",
        "unknown-kind",
        "format",
        "unknown-expert",
        "no-title",
    ],
)
def test_bad_bookings_are_refused_and_nothing_is_stored(client, h, overrides, status):
    day = future_weekday()
    response = book(client, h, day, **overrides)
    assert response.status_code == status, response.json()
    assert isinstance(response.json()["detail"], str)
    assert client.get("/api/bookings", headers=h["staff"]).json() == []


def test_past_times_naive_times_and_short_notice_are_refused(client, h):
    yesterday = future_weekday(0) - timedelta(days=7)
    assert book(client, h, yesterday).json()["detail"] == "不能预约过去的时间"
    naive = body(future_weekday()) | {"start": "2031-03-03T10:00:00", "end": "2031-03-03T11:00:00"}
    assert client.post("/api/bookings", json=naive, headers=h["district_user"]).status_code == 422
    beyond = book(client, h, future_weekday(200))
    assert beyond.status_code == 422 and "天以内" in beyond.json()["detail"]
    assert client.get("/api/bookings", headers=h["staff"]).json() == []


def test_districts_book_only_for_themselves_and_experts_cannot_book(client, h, world):
    day = future_weekday()
    foreign = book(client, h, day, district_id=world.other_district_user.district_id)
    assert foreign.status_code == 403
    assert book(client, h, day, who="expert_user").status_code == 403
    on_behalf = book(client, h, day, who="staff", district_id=world.other_district_user.district_id)
    assert on_behalf.status_code == 201
    assert (
        book(client, h, day + timedelta(days=1), who="staff").status_code == 422
    )  # no district given


def test_listing_is_by_role(client, h):
    day = future_weekday()
    mine = book(client, h, day).json()
    theirs = book(client, h, day, who="other_district_user", start_hour=14).json()

    def ids(who):
        return [b["id"] for b in client.get("/api/bookings", headers=h[who]).json()]

    assert ids("district_user") == [mine["id"]]
    assert ids("other_district_user") == [theirs["id"]]
    assert ids("expert_user") == [mine["id"], theirs["id"]]
    assert ids("other_expert_user") == []
    assert ids("staff") == [mine["id"], theirs["id"]]
    assert (
        client.get(f"/api/bookings/{mine['id']}", headers=h["other_district_user"]).status_code
        == 404  # a booking the user may not see is not disclosed
    )


# --- lifecycle ------------------------------------------------------------------------------


def test_the_expert_confirms_and_only_their_own_sessions(client, h):
    booking = book(client, h, future_weekday()).json()
    assert (
        client.post(
            f"/api/bookings/{booking['id']}/confirm", headers=h["other_expert_user"]
        ).status_code
        == 404  # not theirs to see; the booking district sees it but may not confirm: 403
    )
    assert (
        client.post(
            f"/api/bookings/{booking['id']}/confirm", headers=h["district_user"]
        ).status_code
        == 403
    )
    confirmed = client.post(f"/api/bookings/{booking['id']}/confirm", headers=h["expert_user"])
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "confirmed"
    assert confirmed.json()["sequence"] == booking["sequence"] + 1
    again = client.post(f"/api/bookings/{booking['id']}/confirm", headers=h["expert_user"])
    assert again.status_code == 409 and "已确认" in again.json()["detail"]


def test_declining_needs_a_reason_and_frees_the_slot(client, h):
    day = future_weekday()
    booking = book(client, h, day).json()
    url = f"/api/bookings/{booking['id']}/decline"
    assert client.post(url, json={}, headers=h["expert_user"]).status_code == 422
    declined = client.post(url, json={"reason": "当天有外出任务"}, headers=h["expert_user"]).json()
    assert (declined["status"], declined["decline_reason"]) == ("declined", "当天有外出任务")
    assert book(client, h, day, who="other_district_user").status_code == 201


def test_cancelling_records_reason_and_who_and_frees_the_slot(client, h):
    day = future_weekday()
    booking = book(client, h, day).json()
    cancelled = client.post(
        f"/api/bookings/{booking['id']}/cancel",
        json={"reason": "学校临时停课"},
        headers=h["district_user"],
    ).json()
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancel_reason"] == "学校临时停课"
    assert cancelled["cancelled_by"] == "district:beilin@example.org"
    assert book(client, h, day).status_code == 201


def test_reschedule_keeps_identity_bumps_sequence_and_the_ics_follows(client, h):
    day = future_weekday()
    booking = book(client, h, day).json()
    client.post(f"/api/bookings/{booking['id']}/confirm", headers=h["expert_user"])
    new = {"start": local(day, 14).isoformat(), "end": local(day, 15).isoformat()}
    moved = client.post(
        f"/api/bookings/{booking['id']}/reschedule", json=new, headers=h["district_user"]
    )
    assert moved.status_code == 200, moved.json()
    moved = moved.json()
    assert (moved["id"], moved["uid"]) == (booking["id"], booking["uid"])
    assert moved["sequence"] == booking["sequence"] + 2
    assert moved["status"] == "requested"  # a district's move needs the expert again
    ics = client.get(f"/api/bookings/{booking['id']}.ics", headers=h["district_user"])
    assert ics.headers["content-type"].startswith("text/calendar")
    event = vobject.readOne(ics.text)
    # a downloaded file is a copy for the user's own calendar, not an invitation to answer
    assert event.method.value == "PUBLISH"
    assert event.vevent.uid.value == booking["uid"]
    assert event.vevent.sequence.value == str(moved["sequence"])
    assert event.vevent.dtstart.value == local(day, 14)
    assert book(client, h, day, start_hour=10).status_code == 201  # the old time is free


def test_rescheduling_onto_a_taken_slot_is_409_and_keeps_the_old_time(client, h):
    day = future_weekday()
    first = book(client, h, day, start_hour=10).json()
    book(client, h, day, start_hour=14)
    new = {"start": local(day, 14).isoformat(), "end": local(day, 15).isoformat()}
    response = client.post(
        f"/api/bookings/{first['id']}/reschedule", json=new, headers=h["district_user"]
    )
    assert response.status_code == 409
    again = client.get(f"/api/bookings/{first['id']}", headers=h["district_user"]).json()
    assert again["start"] == first["start"] and again["sequence"] == first["sequence"]


def test_a_cancelled_sessions_downloaded_ics_is_cancelled_with_the_same_uid(client, h):
    booking = book(client, h, future_weekday()).json()
    client.post(
        f"/api/bookings/{booking['id']}/cancel", json={"reason": "改期"}, headers=h["expert_user"]
    )
    event = vobject.readOne(
        client.get(f"/api/bookings/{booking['id']}.ics", headers=h["staff"]).text
    )
    # the downloaded copy of a cancelled session: the same event, published as cancelled
    assert event.method.value == "PUBLISH"
    assert event.vevent.uid.value == booking["uid"]
    assert event.vevent.status.value == "CANCELLED"


def test_completion_rating_and_feedback(client, h, session, world):
    day = future_weekday(0) - timedelta(days=7)
    earlier = local(day, 0) - timedelta(days=1)
    past = create_booking(
        session=session,
        user=world.district_user,
        now=earlier,
        data=BookingCreate(**body(day, kind="consultation")),
    )
    session.commit()
    url = f"/api/bookings/{past.id}"
    assert (
        client.post(f"{url}/rating", json={"score": 5}, headers=h["district_user"]).status_code
        == 422
    )
    client.post(f"{url}/confirm", headers=h["expert_user"])
    assert client.post(f"{url}/complete", headers=h["district_user"]).status_code == 403
    assert client.post(f"{url}/complete", headers=h["expert_user"]).json()["status"] == "completed"
    assert (
        client.post(f"{url}/rating", json={"score": 6}, headers=h["district_user"]).status_code
        == 422
    )
    assert (
        client.post(
            f"{url}/rating", json={"score": 4}, headers=h["other_district_user"]
        ).status_code
        == 404
    )
    rated = client.post(
        f"{url}/rating", json={"score": 4, "feedback": "很有帮助"}, headers=h["district_user"]
    )
    assert rated.status_code == 201 and rated.json()["feedback"] == "很有帮助"
    assert (
        client.post(f"{url}/rating", json={"score": 3}, headers=h["district_user"]).status_code
        == 409
    )


def test_a_future_session_cannot_be_completed_yet(client, h):
    booking = book(client, h, future_weekday()).json()
    client.post(f"/api/bookings/{booking['id']}/confirm", headers=h["expert_user"])
    response = client.post(f"/api/bookings/{booking['id']}/complete", headers=h["expert_user"])
    assert response.status_code == 422


# --- trainings ------------------------------------------------------------------------------


def test_training_registrations_never_exceed_capacity(client, h):
    training = book(client, h, future_weekday(), kind="training", capacity=50, hours=3).json()
    url = f"/api/bookings/{training['id']}/registrations"
    first = client.post(
        url, json={"school": "碑林区实验小学", "participants": 30}, headers=h["district_user"]
    )
    assert first.status_code == 201
    other = client.post(
        url, json={"school": "雁塔区第二中学", "participants": 20}, headers=h["other_district_user"]
    )
    assert other.status_code == 201
    full = client.post(
        url, json={"school": "碑林区第三中学", "participants": 1}, headers=h["district_user"]
    )
    assert full.status_code == 409 and "名额" in full.json()["detail"]
    assert (
        client.get(f"/api/bookings/{training['id']}", headers=h["staff"]).json()["seats_taken"]
        == 50
    )
    assert len(client.get(url, headers=h["district_user"]).json()) == 2
    assert len(client.get(url, headers=h["other_district_user"]).json()) == 1


def test_training_needs_a_capacity_and_only_trainings_take_registrations(client, h):
    day = future_weekday()
    assert book(client, h, day, kind="training").status_code == 422
    booking = book(client, h, day).json()
    response = client.post(
        f"/api/bookings/{booking['id']}/registrations",
        json={"school": "某校", "participants": 3},
        headers=h["district_user"],
    )
    assert response.status_code == 422


# --- feeds ----------------------------------------------------------------------------------


def test_a_secret_feed_url_serves_the_experts_sessions_and_dies_when_rotated_or_revoked(client, h):
    booking = book(client, h, future_weekday()).json()
    issued = client.post("/api/experts/BK1/feed-token", headers=h["expert_user"])
    assert issued.status_code == 201
    url = issued.json()["url"]
    feed = client.get(url)  # no login: the URL is the secret
    assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
    assert [e.uid.value for e in vobject.readOne(feed.text).vevent_list] == [booking["uid"]]
    rotated = client.post("/api/experts/BK1/feed-token", headers=h["expert_user"]).json()["url"]
    assert client.get(url).status_code == 404
    assert client.get(rotated).status_code == 200
    assert client.delete("/api/experts/BK1/feed-token", headers=h["expert_user"]).status_code == 204
    assert client.get(rotated).status_code == 404
    assert client.post("/api/experts/BK1/feed-token", headers=h["district_user"]).status_code == 403


def test_a_district_feed_lists_only_that_districts_sessions(client, h, world):
    mine = book(client, h, future_weekday()).json()
    book(client, h, future_weekday(), who="other_district_user", start_hour=14)
    district_id = world.district_user.district_id
    assert (
        client.post(
            f"/api/districts/{district_id}/feed-token", headers=h["other_district_user"]
        ).status_code
        == 403
    )
    url = client.post(
        f"/api/districts/{district_id}/feed-token", headers=h["district_user"]
    ).json()["url"]
    assert [e.uid.value for e in vobject.readOne(client.get(url).text).vevent_list] == [mine["uid"]]


# --- busy calendars -------------------------------------------------------------------------


def busy_ics(day, hour=10) -> bytes:
    start = local(day, hour).strftime("%Y%m%dT%H%M%S")
    end = local(day, hour + 2).strftime("%Y%m%dT%H%M%S")
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//\r\nBEGIN:VEVENT\r\nUID:x\r\n"
        f"DTSTART;TZID=Asia/Shanghai:{start}\r\nDTEND;TZID=Asia/Shanghai:{end}\r\n"
        "RRULE:FREQ=WEEKLY;COUNT=4\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def slot_starts(client, h, day):
    params = {"start": day.isoformat(), "end": day.isoformat(), "duration": 60}
    return [
        s["start"][11:16]
        for s in client.get("/api/experts/BK1/slots", params=params, headers=h["staff"]).json()
    ]


def test_an_uploaded_busy_calendar_blocks_slots_and_bookings(client, h):
    day = future_weekday()
    files = {"file": ("mine.ics", busy_ics(day), "text/calendar")}
    uploaded = client.post(
        "/api/experts/BK1/busy-calendars/upload", files=files, headers=h["expert_user"]
    )
    assert uploaded.status_code == 201, uploaded.json()
    assert uploaded.json()["event_count"] == 4
    assert "10:00" not in slot_starts(client, h, day) and "12:00" in slot_starts(client, h, day)
    assert "10:00" not in slot_starts(client, h, day + timedelta(days=7))  # the weekly repeat
    assert book(client, h, day, start_hour=11).status_code == 409


@pytest.mark.parametrize(
    "data",
    [
        b"not a calendar",
        b"BEGIN:VCALENDAR\r\n" + b"BEGIN:VEVENT\r\n" * 40,
        b"x" * (2 * 1024 * 1024 + 5),
    ],
    ids=["garbage", "nested", "huge"],
)
def test_hostile_uploads_are_422_and_store_nothing(client, h, session, data):
    files = {"file": ("evil.ics", data, "text/calendar")}
    response = client.post(
        "/api/experts/BK1/busy-calendars/upload", files=files, headers=h["expert_user"]
    )
    assert response.status_code == 422
    assert "日历" in response.json()["detail"]
    assert session.exec(select(BusyCalendar)).all() == []
    assert client.get("/api/health").status_code in (200, 503)


def test_only_the_expert_or_staff_manage_busy_calendars(client, h):
    files = {"file": ("mine.ics", busy_ics(future_weekday()), "text/calendar")}
    response = client.post(
        "/api/experts/BK1/busy-calendars/upload", files=files, headers=h["district_user"]
    )
    assert response.status_code == 403


class _Feed(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/calendar")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def feed_url(app):
    # The test feed lives on loopback: allowed here as a named internal host would be.
    app.state.settings.calendar_allowed_hosts = "127.0.0.1"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Feed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/busy.ics"
    server.shutdown()
    server.server_close()


def test_a_registered_feed_is_polled_and_refreshed(client, h, feed_url):
    day = future_weekday()
    _Feed.body = busy_ics(day, hour=10)
    registered = client.post(
        "/api/experts/BK1/busy-calendars",
        json={"url": feed_url, "name": "工作日历"},
        headers=h["expert_user"],
    )
    assert registered.status_code == 201, registered.json()
    assert "10:00" not in slot_starts(client, h, day)
    _Feed.body = busy_ics(day, hour=14)
    calendar_id = registered.json()["id"]
    refreshed = client.post(
        f"/api/experts/BK1/busy-calendars/{calendar_id}/refresh", headers=h["expert_user"]
    )
    assert refreshed.status_code == 200
    assert "10:00" in slot_starts(client, h, day) and "14:00" not in slot_starts(client, h, day)
    assert (
        client.delete(
            f"/api/experts/BK1/busy-calendars/{calendar_id}", headers=h["expert_user"]
        ).status_code
        == 204
    )
    assert "14:00" in slot_starts(client, h, day)


def test_an_unreachable_or_hostile_feed_is_not_registered(client, h, feed_url, session):
    dead = client.post(
        "/api/experts/BK1/busy-calendars",
        json={"url": "http://127.0.0.1:9/none.ics"},
        headers=h["expert_user"],
    )
    assert dead.status_code == 422 and "无法获取" in dead.json()["detail"]
    _Feed.body = b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nRRULE:FREQ=SECONDLY\r\nDTSTART:20270101T000000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    hostile = client.post(
        "/api/experts/BK1/busy-calendars", json={"url": feed_url}, headers=h["expert_user"]
    )
    assert hostile.status_code == 422
    assert (
        client.post(
            "/api/experts/BK1/busy-calendars",
            json={"url": "file:///etc/passwd"},
            headers=h["expert_user"],
        ).status_code
        == 422
    )
    assert session.exec(select(BusyCalendar)).all() == []
