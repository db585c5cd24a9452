"""Requests for a time (提交预约意向) at the API, on SQLite and PostgreSQL: a district asks an
expert for a session in a window; the expert offers a time (a confirmed session booked through
the booking services) or declines with a reason; the other side is told in the inbox."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from booking.sessions.models import Booking
from marketplace.requests.models import DistrictRequest
from tests.booking.conftest import future_weekday, local
from tests.matching.db_support import file_request


def ask(client, h, day, who="district_user", **overrides):
    data = {
        "expert_id": "BK1",
        "kind": "supervision",
        "format": "online",
        "duration_minutes": 60,
        "earliest_day": day.isoformat(),
        "latest_day": (day + timedelta(days=4)).isoformat(),
        "day_part": "afternoon",
        "title": "七年级个案督导",
        "note": "班主任希望下午放学前",
    }
    data.update(overrides)
    return client.post("/api/time-requests", json=data, headers=h[who])


def inbox(client, h, who):
    return client.get("/api/notifications?unread=true", headers=h[who]).json()


def test_a_district_asks_for_a_time_and_the_expert_is_told(client, h):
    day = future_weekday()
    response = ask(client, h, day)
    assert response.status_code == 201, response.text
    filed = response.json()
    assert filed["status"] == "open" and filed["expert_name"] == "测试专家"
    assert filed["district_name"] == "碑林区" and filed["day_part"] == "afternoon"
    entries = [n for n in inbox(client, h, "expert_user") if n["kind"] == "time_request"]
    assert len(entries) == 1
    assert "七年级个案督导" in entries[0]["title"]
    assert entries[0]["link"] == f"/time-requests#time-request-{filed['id']}"
    mine = client.get("/api/time-requests", headers=h["expert_user"]).json()
    assert [t["id"] for t in mine] == [filed["id"]]
    assert client.get("/api/time-requests", headers=h["other_expert_user"]).json() == []
    assert client.get("/api/time-requests", headers=h["other_district_user"]).json() == []
    other = client.get(f"/api/time-requests/{filed['id']}", headers=h["other_district_user"])
    assert other.status_code == 403


def test_the_expert_offers_a_time_which_is_a_confirmed_session_for_the_district(
    client, h, session, world
):
    day = future_weekday()
    filed = ask(client, h, day).json()
    offer = {"start": local(day, 14).isoformat(), "end": local(day, 15).isoformat()}
    response = client.post(
        f"/api/time-requests/{filed['id']}/offer", json=offer, headers=h["expert_user"]
    )
    assert response.status_code == 200, response.text
    answered = response.json()
    assert answered["status"] == "offered" and answered["answered_at"]
    booking = client.get(f"/api/bookings/{answered['booking_id']}", headers=h["district_user"])
    assert booking.status_code == 200
    held = booking.json()
    assert held["status"] == "confirmed" and held["title"] == "七年级个案督导"
    assert held["start"] == local(day, 14).isoformat()
    # The coordinator who asked is the one the session is for, and is told it is confirmed.
    row = session.get(Booking, answered["booking_id"])
    assert row.created_by_user_id == world.district_user.id
    assert any(n["kind"] == "booking_confirmed" for n in inbox(client, h, "district_user"))
    # The time is taken now: the same slot cannot be booked again.
    again = client.post(
        "/api/bookings",
        json={**offer, "expert_id": "BK1", "kind": "supervision", "format": "online", "title": "x"},
        headers=h["other_district_user"],
    )
    assert again.status_code == 409


def test_an_offer_outside_the_window_or_of_another_length_is_refused_in_chinese(client, h):
    day = future_weekday()
    filed = ask(client, h, day).json()
    url = f"/api/time-requests/{filed['id']}/offer"
    morning = {"start": local(day, 9).isoformat(), "end": local(day, 10).isoformat()}
    response = client.post(url, json=morning, headers=h["expert_user"])
    assert response.status_code == 422
    assert "下午（12:00–18:00）" in response.json()["detail"]
    too_long = {"start": local(day, 14).isoformat(), "end": local(day, 16).isoformat()}
    response = client.post(url, json=too_long, headers=h["expert_user"])
    assert response.status_code == 422 and "60 分钟" in response.json()["detail"]
    late = day + timedelta(days=7)
    after = {"start": local(late, 14).isoformat(), "end": local(late, 15).isoformat()}
    assert client.post(url, json=after, headers=h["expert_user"]).status_code == 422
    assert (
        client.get(f"/api/time-requests/{filed['id']}", headers=h["expert_user"]).json()["status"]
        == "open"
    )


def test_only_the_expert_side_answers(client, h):
    day = future_weekday()
    filed = ask(client, h, day).json()
    offer = {"start": local(day, 14).isoformat(), "end": local(day, 15).isoformat()}
    url = f"/api/time-requests/{filed['id']}/offer"
    assert client.post(url, json=offer, headers=h["district_user"]).status_code == 403
    assert client.post(url, json=offer, headers=h["other_expert_user"]).status_code == 404
    assert client.post(url, json=offer, headers=h["staff"]).status_code == 200


def test_the_expert_declines_with_a_reason_and_the_district_reads_it(client, h):
    day = future_weekday()
    filed = ask(client, h, day).json()
    url = f"/api/time-requests/{filed['id']}/decline"
    assert client.post(url, json={"reason": ""}, headers=h["expert_user"]).status_code == 422
    response = client.post(url, json={"reason": "这两周外出培训"}, headers=h["expert_user"])
    assert response.status_code == 200
    assert response.json()["status"] == "declined"
    assert response.json()["decline_reason"] == "这两周外出培训"
    told = [n for n in inbox(client, h, "district_user") if n["kind"] == "time_request_answered"]
    assert len(told) == 1 and "这两周外出培训" in told[0]["title"]
    offer = {"start": local(day, 14).isoformat(), "end": local(day, 15).isoformat()}
    late = client.post(
        f"/api/time-requests/{filed['id']}/offer", json=offer, headers=h["expert_user"]
    )
    assert late.status_code == 409 and "专家未能接受" in late.json()["detail"]


def test_the_district_withdraws_and_the_expert_is_told(client, h):
    day = future_weekday()
    filed = ask(client, h, day).json()
    url = f"/api/time-requests/{filed['id']}/withdraw"
    assert client.post(url, headers=h["expert_user"]).status_code == 403
    response = client.post(url, headers=h["district_user"])
    assert response.status_code == 200 and response.json()["status"] == "withdrawn"
    assert any("已撤回" in n["title"] for n in inbox(client, h, "expert_user"))


def test_a_window_that_ends_before_it_starts_names_both_dates(client, h):
    day = future_weekday()
    response = ask(client, h, day, latest_day=(day - timedelta(days=1)).isoformat())
    assert response.status_code == 422
    assert "最晚日期不能早于最早日期" in response.json()["detail"]
    too_wide = ask(client, h, day, latest_day=(day + timedelta(days=61)).isoformat())
    assert too_wide.status_code == 422 and "60 天" in too_wide.json()["detail"]
    past = ask(client, h, day, earliest_day="2020-01-01", latest_day="2020-01-05")
    assert past.status_code == 422 and "不能早于今天" in past.json()["detail"]


def test_a_training_or_a_service_the_expert_does_not_offer_cannot_be_asked_for(client, h):
    day = future_weekday()
    training = ask(client, h, day, kind="training")
    assert training.status_code == 422
    assert "请选择其中之一：督导、咨询、危机支持" in training.json()["detail"]
    no_format = ask(client, h, day, expert_id="BK2", kind="consultation", format="onsite")
    assert no_format.status_code == 422 and "到校/线下" in no_format.json()["detail"]


def test_a_time_for_a_request_books_the_request(client, h, session, world):
    today = future_weekday(0)
    request = file_request(
        session,
        user=world.district_user,
        district=None,
        text="教师团体督导",
        service_type="supervision",
        format="online",
        window_start=today,
        window_end=today + timedelta(days=30),
    )
    session.commit()
    day = future_weekday()
    filed = ask(client, h, day, request_id=request.id).json()
    assert filed["request_id"] == request.id
    offer = {"start": local(day, 14).isoformat(), "end": local(day, 15).isoformat()}
    client.post(f"/api/time-requests/{filed['id']}/offer", json=offer, headers=h["expert_user"])
    booked = session.exec(select(Booking).where(Booking.request_id == request.id)).all()
    assert len(booked) == 1
    session.refresh(session.get(DistrictRequest, request.id))
    assert session.get(DistrictRequest, request.id).status == "scheduled"


def test_the_expert_and_then_the_district_are_mailed_where_they_have_an_address(client, h, session):
    from booking.notifications.models import BookingNotification

    day = future_weekday()
    filed = ask(client, h, day).json()
    client.post(
        f"/api/time-requests/{filed['id']}/decline",
        json={"reason": "外出培训"},
        headers=h["expert_user"],
    )
    mails = session.exec(
        select(BookingNotification).where(BookingNotification.kind == "time_request")
    ).all()
    assert sorted(m.recipient for m in mails) == ["beilin@example.org", "bk1@example.org"]
    to_district = next(m for m in mails if m.recipient == "beilin@example.org")
    assert "外出培训" in to_district.subject and "预约意向" in to_district.body
