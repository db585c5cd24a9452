"""Request → match → session: the coordinator sees the assigned experts on the request page and
books them from there (form prefilled, booking linked, request 已排期); profiles show a week
view with navigation and a reason when a week is empty."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from sqlmodel import Session, select

from booking.schedule.models import AvailabilityUpdate
from booking.schedule.service import set_availability
from booking.sessions.models import Booking
from marketplace.accounts.models import UserCreate
from marketplace.accounts.principal import system_principal
from marketplace.accounts.service import create_user
from marketplace.clock import LOCAL_TZ, utcnow
from marketplace.requests.models import DistrictRequest
from marketplace.vocabulary import Role
from matching.service import confirm_run, run_batch
from tests.conftest import TEST_PASSWORD, auth_headers, expert_record, make_user
from tests.matching.db_support import fake_relevance, file_request
from tests.web.pages.conftest import import_records, logged_in

EVERY_DAY = [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(7)]


@pytest.fixture
def matched(session: Session, district_user, staff_user):
    """A supervision request of 碑林区 that a confirmed batch match assigned to expert 林晓."""
    import_records(
        session,
        expert_record(
            id="P1",
            name="林晓",
            specialties=["心理危机干预"],
            service_types=["supervision", "crisis_support"],
            formats=["online", "onsite"],
            monthly_capacity_hours=40,
        ),
    )
    set_availability(
        session=session,
        expert_id="P1",
        data=AvailabilityUpdate(weekly=EVERY_DAY),
        user=staff_user,
    )
    today = utcnow().astimezone(LOCAL_TZ).date()
    request = file_request(
        session,
        user=district_user,
        district=None,
        text="七年级学生自伤，需要心理危机干预督导",
        service_type="supervision",
        format="online",
        window_start=today,
        window_end=today + timedelta(days=30),
    )
    run = run_batch(
        session=session,
        user=staff_user,
        relevance_factory=fake_relevance,
        request_ids=[request.id],
    )
    confirm_run(session=session, run_id=run.id, user=staff_user)
    session.commit()
    return request


def _links(html: str, prefix: str) -> list[str]:
    return [unescape(h) for h in re.findall(rf'href="({re.escape(prefix)}[^"]*)"', html)]


def test_the_api_returns_the_assigned_experts_once_a_match_is_confirmed(
    client, session, settings, matched, district_user
):
    body = client.get(
        f"/api/requests/{matched.id}", headers=auth_headers(district_user, settings)
    ).json()
    assert body["status"] == "matched"
    [assigned] = body["assigned_experts"]
    assert {k: assigned[k] for k in ("expert_id", "name", "organization", "city")} == {
        "expert_id": "P1",
        "name": "林晓",
        "organization": "西安市测试心理中心",
        "city": "西安市",
    }
    unmatched = file_request(session, user=district_user, district=None)
    session.commit()
    other = client.get(
        f"/api/requests/{unmatched.id}", headers=auth_headers(district_user, settings)
    ).json()
    assert other["assigned_experts"] == []


def test_the_coordinator_books_the_assigned_expert_from_the_request_page(
    client, session, matched, district_user
):
    logged_in(client, district_user)
    page = client.get(f"/requests/{matched.id}").text
    assert "已分配专家" in page and "林晓" in page and "西安市测试心理中心" in page
    slot_link = _links(page, "/bookings/new?")[0]
    assert f"request_id={matched.id}" in slot_link

    form_page = client.get(slot_link).text
    assert f'name="request_id" value="{matched.id}"' in form_page
    # the form names the request by its text, district and day, not by its number
    assert f'href="/requests/{matched.id}">「七年级学生自伤' in form_page
    assert f">#{matched.id}<" not in form_page
    assert re.search(r'<option value="supervision" selected>', form_page)
    assert re.search(r'<option value="online" selected>', form_page)
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', form_page))
    title = re.search(r'name="title" type="text" value="([^"]*)"', form_page).group(1)
    assert title.startswith("七年级学生自伤")
    sent = client.post(
        "/bookings",
        data={**fields, "kind": "supervision", "format": "online", "title": unescape(title)},
        follow_redirects=False,
    )
    assert sent.status_code == 303 and sent.headers["location"] == f"/requests/{matched.id}"

    session.expire_all()
    [booking] = session.exec(select(Booking).where(Booking.request_id == matched.id)).all()
    assert booking.expert_id == "P1"
    assert session.get(DistrictRequest, matched.id).status == "scheduled"
    after = client.get(f"/requests/{matched.id}").text
    assert "已预约的会谈" in after and f"/bookings#booking-{booking.id}" in after
    assert "已排期" in after
    bookings_page = client.get("/bookings").text
    assert f'id="booking-{booking.id}"' in bookings_page
    assert f'href="/requests/{matched.id}"' in bookings_page

    # an observer of the city reads the request and its sessions, with no link to a page
    # (/bookings) that would refuse them
    observer = create_user(
        session=session,
        data=UserCreate(
            username="xa-observer", password=TEST_PASSWORD, role=Role.observer, center="西安市"
        ),
        user=system_principal("test"),
    )
    session.commit()
    client.cookies.clear()
    logged_in(client, observer)
    read = client.get(f"/requests/{matched.id}")
    assert read.status_code == 200 and "已预约的会谈" in read.text
    assert "/bookings" not in read.text
    assert client.get("/bookings").status_code == 403


def test_the_expert_sees_who_asked_and_why_before_confirming(
    client, session, matched, district_user
):
    logged_in(client, district_user)
    page = client.get(f"/requests/{matched.id}").text
    form_page = client.get(_links(page, "/bookings/new?")[0]).text
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', form_page))
    client.post(
        "/bookings",
        data={**fields, "kind": "supervision", "format": "online", "title": "危机督导"},
    )
    expert = make_user(session, Role.expert, username="expert-p1", expert_id="P1")
    session.commit()
    logged_in(client, expert)
    card = client.get("/bookings").text
    assert "碑林区" in card  # the district
    assert district_user.display_name in card  # who asked
    assert "七年级学生自伤" in card  # what for
    assert "督导" in card and "下载 .ics" in card
    assert "专家 P1" not in card


def test_the_week_view_moves_by_week_and_keeps_the_request_context(
    client, session, matched, district_user
):
    logged_in(client, district_user)
    page = client.get(f"/experts/P1?request_id={matched.id}").text
    assert "跳到日期" in page
    forward = unescape(re.search(r'href="([^"]+)">下一周', page).group(1))
    assert f"request_id={matched.id}" in forward
    later = client.get(forward).text
    shown = re.search(r"可预约时间 · (\d\d-\d\d) 至 (\d\d-\d\d)", later).groups()
    slot_links = _links(later, "/bookings/new?")
    assert len(slot_links) >= 7 * 8  # 09:00-17:00 every day, hourly sessions on the grid
    assert all(f"request_id={matched.id}" in link for link in slot_links)
    days = {re.search(r"start=\d{4}-(\d\d-\d\d)", link).group(1) for link in slot_links}
    assert min(days) == shown[0] and max(days) == shown[1]
    back = unescape(re.search(r'href="([^"]+)">← 上一周', later).group(1))
    assert "可预约时间" in client.get(back).text


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("none", "还没有设置每周可预约时间"),
        ("weekend_only_past_horizon", "尚未开放预约"),
    ],
)
def test_an_empty_week_says_why(client, session, district_user, staff_user, setup, reason):
    import_records(session, expert_record(id="P2", name="周末专家"))
    week = ""
    if setup != "none":
        set_availability(
            session=session,
            expert_id="P2",
            data=AvailabilityUpdate(weekly=EVERY_DAY, horizon_days=14),
            user=staff_user,
        )
        week = (utcnow().astimezone(LOCAL_TZ).date() + timedelta(days=60)).isoformat()
    session.commit()
    logged_in(client, district_user)
    page = client.get(f"/experts/P2?week={week}").text
    assert reason in page


def test_a_fully_booked_week_says_so(client, session, district_user, staff_user):
    import_records(session, expert_record(id="P3", name="满档专家"))
    today = utcnow().astimezone(LOCAL_TZ).date()
    monday = today - timedelta(days=today.weekday()) + timedelta(days=14)
    # Open one hour on that Monday only, then book it.
    set_availability(
        session=session,
        expert_id="P3",
        data=AvailabilityUpdate(weekly=[{"weekday": 0, "start": "09:00", "end": "10:00"}]),
        user=staff_user,
    )
    session.commit()
    logged_in(client, district_user)
    page = client.get(f"/experts/P3?week={monday.isoformat()}").text
    [link] = _links(page, "/bookings/new?")
    fields = dict(
        re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', client.get(link).text)
    )
    sent = client.post(
        "/bookings",
        data={**fields, "kind": "supervision", "format": "online", "title": "督导"},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    full = client.get(f"/experts/P3?week={monday.isoformat()}").text
    assert "已经约满" in full
    assert _links(full, "/bookings/new?") == []


def test_a_week_without_hours_left_opens_on_the_next_week_with_free_time(
    client, session, district_user, staff_user
):
    import_records(session, expert_record(id="P4", name="工作日专家"))
    today = utcnow().astimezone(LOCAL_TZ).date()
    sunday = today + timedelta(days=6 - today.weekday())
    closed = [
        {"kind": "override", "date": (today + timedelta(days=n)).isoformat(), "ranges": []}
        for n in range((sunday - today).days + 1)
    ]
    set_availability(
        session=session,
        expert_id="P4",
        data=AvailabilityUpdate(weekly=EVERY_DAY, exceptions=closed),
        user=staff_user,
    )
    session.commit()
    logged_in(client, district_user)
    page = client.get("/experts/P4").text
    monday = sunday + timedelta(days=1)
    assert f"可预约时间 · {monday:%m-%d}" in page
    assert _links(page, "/bookings/new?")
    assert "本周没有安排可预约时间" not in page
    # Asked for this week explicitly, the reason is given, with the request for a time.
    this_week = client.get(f"/experts/P4?week={today.isoformat()}").text
    assert "本周没有安排可预约时间" in this_week and "提交预约意向" in this_week


def _expert_for_requests(session: Session, staff_user, expert_id: str = "P5", **schedule) -> None:
    import_records(
        session,
        expert_record(
            id=expert_id,
            name="窗口专家",
            service_types=["supervision"],
            formats=["online"],
        ),
    )
    set_availability(
        session=session,
        expert_id=expert_id,
        data=AvailabilityUpdate(weekly=EVERY_DAY, horizon_days=120, **schedule),
        user=staff_user,
    )


def test_booking_from_a_request_opens_the_first_week_of_its_window_with_free_slots(
    client, session, district_user, staff_user
):
    today = utcnow().astimezone(LOCAL_TZ).date()
    window_start = today + timedelta(days=35)
    # The window's first week is closed (a holiday): the profile opens the week after it.
    first_monday = window_start - timedelta(days=window_start.weekday())
    closed = [
        {"kind": "override", "date": (first_monday + timedelta(days=n)).isoformat(), "ranges": []}
        for n in range(7)
    ]
    _expert_for_requests(session, staff_user, exceptions=closed)
    filed = file_request(
        session,
        user=district_user,
        district=None,
        service_type="supervision",
        format="online",
        window_start=window_start,
        window_end=window_start + timedelta(days=30),
    )
    session.commit()
    logged_in(client, district_user)
    page = client.get(f"/experts/P5?request_id={filed.id}").text
    second_monday = first_monday + timedelta(days=7)
    assert f"可预约时间 · {second_monday:%m-%d}" in page
    days = {
        re.search(r"start=(\d{4}-\d\d-\d\d)", link).group(1)
        for link in _links(page, "/bookings/new?")
    }
    assert days and min(days) >= max(window_start, second_monday).isoformat()
    assert all(f"request_id={filed.id}" in link for link in _links(page, "/bookings/new?"))
    assert f"需求时间范围（{filed.window_start} 至 {filed.window_end}）" in page
    assert 'href="/requests/new' not in page  # booking for a request: no second request offered
    # Without a request the profile opens on the weeks ahead, not on the window.
    plain = client.get("/experts/P5").text
    assert f"可预约时间 · {second_monday:%m-%d}" not in plain


def test_a_request_window_without_free_slots_says_so_on_the_profile(
    client, session, district_user, staff_user
):
    today = utcnow().astimezone(LOCAL_TZ).date()
    window_start = today + timedelta(days=21)
    window_end = window_start + timedelta(days=3)
    closed = [
        {"kind": "override", "date": (window_start + timedelta(days=n)).isoformat(), "ranges": []}
        for n in range(-7, 14)
    ]
    _expert_for_requests(session, staff_user, exceptions=closed)
    filed = file_request(
        session,
        user=district_user,
        district=None,
        service_type="supervision",
        format="online",
        window_start=window_start,
        window_end=window_end,
    )
    session.commit()
    logged_in(client, district_user)
    page = client.get(f"/experts/P5?request_id={filed.id}").text
    assert f"需求的时间范围（{window_start} 至 {window_end}）内这位专家没有空闲时段" in page
    assert f"可预约时间 · {window_start - timedelta(days=window_start.weekday()):%m-%d}" in page


def test_the_assigned_experts_slots_on_the_request_page_lie_in_its_window(
    client, session, matched, district_user
):
    later = utcnow().astimezone(LOCAL_TZ).date() + timedelta(days=20)
    filed = session.get(DistrictRequest, matched.id)
    filed.window_start = later
    session.add(filed)
    session.commit()
    logged_in(client, district_user)
    page = client.get(f"/requests/{matched.id}").text
    days = {
        re.search(r"start=(\d{4}-\d\d-\d\d)", link).group(1)
        for link in _links(page, "/bookings/new?")
    }
    assert days and min(days) >= later.isoformat()


def test_a_booking_for_a_request_is_titled_by_its_need_not_its_greeting(
    client, session, district_user, staff_user
):
    _expert_for_requests(session, staff_user)
    today = utcnow().astimezone(LOCAL_TZ).date()
    filed = file_request(
        session,
        user=district_user,
        district=None,
        text="王老师您好！我是碑林区一所初中的心理老师。初二学生厌学情绪严重，需要个案督导。非常感谢！",
        service_type="supervision",
        format="online",
        window_start=today + timedelta(days=7),
        window_end=today + timedelta(days=40),
    )
    session.commit()
    logged_in(client, district_user)
    profile = client.get(f"/experts/P5?request_id={filed.id}").text
    form_page = client.get(_links(profile, "/bookings/new?")[0]).text
    title = unescape(re.search(r'name="title" type="text" value="([^"]*)"', form_page).group(1))
    assert title == "初二学生厌学情绪严重，需要个案督导"
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', form_page))
    sent = client.post(
        "/bookings",
        data={**fields, "kind": "supervision", "format": "online", "title": title},
        follow_redirects=False,
    )
    assert sent.status_code == 303, sent.text
    session.expire_all()
    [booking] = session.exec(select(Booking).where(Booking.request_id == filed.id)).all()
    ics = client.get(f"/api/bookings/{booking.id}.ics").text.replace("\r\n ", "")
    summary = next(line for line in ics.splitlines() if line.startswith("SUMMARY"))
    assert "初二学生厌学" in summary
    assert "您好" not in summary and "感谢" not in summary
