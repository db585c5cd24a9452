"""Times in the viewer's own zone (issue 16, point 10): each account has an IANA time zone
(Beijing time by default) that its owner or an admin sets; pages, in-app notices and mail show
session times in it, naming the zone when it is not Beijing time. Clocks are injected."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from booking.notifications.models import BookingNotification
from booking.sessions import service as sessions_service
from booking.sessions.models import BookingCreate
from marketplace.notifications.models import Notification
from tests.booking.conftest import WORKDAY, future_weekday, local
from tests.booking.test_api import body
from tests.web.pages.conftest import form_token, login

LONDON = ZoneInfo("Europe/London")
WEEKDAYS = "周一 周二 周三 周四 周五 周六 周日".split()
LONDON_NAME = "伦敦时间"  # the zone is named in Chinese only; Europe/London is what is stored
ALL_DAY = [{"weekday": d, "start": "00:00", "end": "23:59"} for d in range(7)]


def in_london(moment) -> str:
    return moment.astimezone(LONDON).strftime("%Y-%m-%d %H:%M")


def set_zone(session, user, zone: str) -> None:
    user.timezone = zone
    session.add(user)
    session.commit()


def mails(session, kind: str) -> dict[str, BookingNotification]:
    rows = session.exec(select(BookingNotification).where(BookingNotification.kind == kind)).all()
    return {r.recipient: r for r in rows}


# --- the account's zone: own API, own page, admin ---------------------------------------------


def test_an_account_reads_and_sets_its_own_zone_through_the_api(client, h):
    me = client.get("/api/me", headers=h["district_user"])
    assert me.status_code == 200 and me.json()["timezone"] == "Asia/Shanghai"
    changed = client.patch(
        "/api/me", json={"timezone": "Europe/London"}, headers=h["district_user"]
    )
    assert changed.status_code == 200 and changed.json()["timezone"] == "Europe/London"
    assert client.get("/api/me", headers=h["district_user"]).json()["timezone"] == ("Europe/London")


@pytest.mark.parametrize("bad", ["Mars/Olympus", "../etc/passwd", "", "europe/london"])
def test_a_zone_that_is_not_an_iana_name_is_refused_in_chinese(client, h, bad):
    refused = client.patch("/api/me", json={"timezone": bad}, headers=h["district_user"])
    assert refused.status_code == 422
    assert "IANA 时区" in refused.text
    assert client.get("/api/me", headers=h["district_user"]).json()["timezone"] == ("Asia/Shanghai")


def test_the_owner_sets_the_zone_on_the_account_page(client, world, session):
    assert login(client, world.district_user.username).status_code == 303
    page = client.get("/account")
    assert 'name="timezone"' in page.text and "Europe/London" in page.text  # offered choice
    bad = client.post(
        "/account",
        data={
            "csrf_token": form_token(page.text),
            "email": "beilin@example.org",
            "timezone": "X/Y",
        },
    )
    assert bad.status_code == 422 and "IANA 时区" in bad.text
    saved = client.post(
        "/account",
        data={
            "csrf_token": form_token(page.text),
            "email": "beilin@example.org",
            "timezone": "Europe/London",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    session.refresh(world.district_user)
    assert world.district_user.timezone == "Europe/London"


def test_an_admin_sets_another_accounts_zone(client, world, session, settings):
    from marketplace.vocabulary import Role
    from tests.booking.conftest import quick_user
    from tests.conftest import auth_headers

    admin = quick_user(session, Role.admin, "root@example.org")
    session.commit()
    changed = client.patch(
        f"/api/users/{world.expert_user.id}",
        json={"timezone": "America/New_York"},
        headers=auth_headers(admin, settings),
    )
    assert changed.status_code == 200, changed.json()
    assert changed.json()["timezone"] == "America/New_York"
    created = client.post(
        "/api/users",
        json={
            "username": "vancouver",
            "password": "Heart-Zone-2026!x",
            "role": "district",
            "district": "西安市/雁塔区",
            "timezone": "America/Vancouver",
        },
        headers=auth_headers(admin, settings),
    )
    assert created.status_code == 201, created.json()
    assert created.json()["timezone"] == "America/Vancouver"
    assert login(client, admin.username).status_code == 303
    page = client.get(f"/users/{world.expert_user.id}")
    assert 'value="America/New_York"' in page.text
    saved = client.post(
        f"/users/{world.expert_user.id}",
        data={
            "csrf_token": form_token(page.text),
            "display_name": world.expert_user.display_name,
            "role": "expert",
            "expert_id": "BK1",
            "email": "bk1@example.org",
            "timezone": "Europe/London",
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303
    session.refresh(world.expert_user)
    assert world.expert_user.timezone == "Europe/London"


# --- pages show the viewer's zone ---------------------------------------------------------------


def booked_at_18(client, h):
    day = future_weekday()
    client.put(
        "/api/experts/BK1/availability",
        json={**WORKDAY, "weekly": ALL_DAY},
        headers=h["expert_user"],
    )
    booked = client.post("/api/bookings", json=body(day, 18), headers=h["district_user"])
    assert booked.status_code == 201, booked.json()
    return day, booked.json()


def card_time(moment) -> str:
    """How a booking card writes a start: date, weekday, time (2026-12-14 周一 10:00)."""
    return f"{moment:%Y-%m-%d} {WEEKDAYS[moment.weekday()]} {moment:%H:%M}"


def test_a_london_viewer_reads_the_bookings_page_in_london_time_and_a_beijing_one_in_beijing(
    client, h, world, session
):
    day, _ = booked_at_18(client, h)
    set_zone(session, world.expert_user, "Europe/London")
    assert login(client, world.expert_user.username).status_code == 303
    page = client.get("/bookings").text
    assert card_time(local(day, 18).astimezone(LONDON)) in page and LONDON_NAME in page
    assert "Europe/London" not in page and "London" not in page
    assert card_time(local(day, 18)) not in page
    client.cookies.clear()
    assert login(client, world.district_user.username).status_code == 303
    page = client.get("/bookings").text
    assert card_time(local(day, 18)) in page and "北京时间" in page and "London" not in page


def test_the_reschedule_page_shows_and_reads_times_in_the_viewers_zone(client, h, world, session):
    day, booked = booked_at_18(client, h)
    set_zone(session, world.district_user, "Europe/London")
    assert login(client, world.district_user.username).status_code == 303
    page = client.get(f"/bookings/{booked['id']}/reschedule")
    eighteen_in_london = local(day, 18).astimezone(LONDON)
    assert in_london(local(day, 18)) in page.text and LONDON_NAME in page.text
    # The form is filled, and read back, in London time.
    assert f'value="{eighteen_in_london:%H:%M}"' in page.text
    moved_to = local(day, 20).astimezone(LONDON)
    moved = client.post(
        f"/bookings/{booked['id']}/reschedule",
        data={
            "csrf_token": form_token(page.text),
            "day": f"{moved_to:%Y-%m-%d}",
            "start_time": f"{moved_to:%H:%M}",
            "end_time": f"{moved_to + timedelta(hours=1):%H:%M}",
            "form_nonce": "n1",
        },
        follow_redirects=False,
    )
    assert moved.status_code == 303
    after = client.get(f"/api/bookings/{booked['id']}", headers=h["district_user"]).json()
    assert after["start"][11:16] == "20:00"  # 20:00 Beijing, typed as London time


def test_the_profiles_week_view_lists_slots_in_the_viewers_zone_and_names_the_experts(
    client, h, world, session
):
    client.put(
        "/api/experts/BK1/availability",
        json={
            **WORKDAY,
            "weekly": [{"weekday": d, "start": "09:00", "end": "10:00"} for d in range(7)],
        },
        headers=h["expert_user"],
    )
    set_zone(session, world.district_user, "Europe/London")
    assert login(client, world.district_user.username).status_code == 303
    day = future_weekday()
    page = client.get(f"/experts/BK1?week={day.isoformat()}").text
    nine = local(day, 9).astimezone(LONDON)
    assert f">{nine:%H:%M}–{nine + timedelta(hours=1):%H:%M}<" in page
    assert ">09:00–10:00<" not in page
    assert LONDON_NAME in page and "专家按北京时间安排时间" in page


def test_the_availability_page_names_the_experts_zone(client, h, world):
    client.put(
        "/api/experts/BK1/availability",
        json={**WORKDAY, "timezone": "Europe/London"},
        headers=h["expert_user"],
    )
    assert login(client, world.expert_user.username).status_code == 303
    page = client.get("/availability").text
    assert (
        f"时间按专家所在时区填写：{LONDON_NAME}" in page
        and "时间按专家所在时区填写：北京时间" not in page
    )


def test_trainings_are_listed_in_the_viewers_zone(client, h, world, session):
    day = future_weekday()
    client.put(
        "/api/experts/BK1/availability",
        json={**WORKDAY, "weekly": ALL_DAY},
        headers=h["expert_user"],
    )
    made = client.post(
        "/api/bookings",
        json=body(day, 18, kind="training", capacity=30, title="危机干预培训"),
        headers=h["district_user"],
    )
    assert made.status_code == 201, made.json()
    client.post(f"/api/bookings/{made.json()['id']}/confirm", headers=h["expert_user"])
    set_zone(session, world.other_district_user, "Europe/London")
    assert login(client, world.other_district_user.username).status_code == 303
    page = client.get("/trainings").text
    assert "危机干预培训" in page
    assert in_london(local(day, 18)) in page and LONDON_NAME in page


# --- mail and in-app notices in each recipient's zone -------------------------------------------


def test_mail_to_a_london_district_shows_london_time_and_the_expert_beijing_time(session, world):
    set_zone(session, world.district_user, "Europe/London")
    day = future_weekday()
    start = local(day, 10)
    booking = sessions_service.create_booking(
        session=session,
        data=BookingCreate(
            expert_id="BK1",
            start=start,
            end=start + timedelta(hours=1),
            kind="supervision",
            format="online",
            title="个案督导",
        ),
        user=world.district_user,
        now=start - timedelta(days=3),
    )
    sessions_service.confirm_booking(session=session, booking_id=booking.id, user=world.expert_user)
    rows = mails(session, "confirmation")
    district, expert = rows["beilin@example.org"].body, rows["bk1@example.org"].body
    assert in_london(start) in district and LONDON_NAME in district
    assert "Europe/London" not in district
    assert f"{day:%Y-%m-%d} 10:00" not in district
    assert f"{day:%Y-%m-%d} 10:00" in expert and "北京时间" in expert and "London" not in expert
    # The in-app notice names the time in the reader's zone too.
    notices = {
        n.user_id: n.title
        for n in session.exec(
            select(Notification).where(Notification.link == f"/bookings#booking-{booking.id}")
        ).all()
    }
    assert LONDON_NAME in notices[world.district_user.id]
    assert start.astimezone(LONDON).strftime("%m-%d %H:%M") in notices[world.district_user.id]
    assert start.strftime("%m-%d %H:%M") in notices[world.expert_user.id]


def test_a_proposal_mail_names_the_new_time_in_the_districts_zone(client, h, world, session):
    set_zone(session, world.district_user, "Europe/London")
    day = future_weekday()
    booked = client.post("/api/bookings", json=body(day, 10), headers=h["district_user"]).json()
    new = {"start": local(day, 14).isoformat(), "end": local(day, 15).isoformat()}
    proposed = client.post(
        f"/api/bookings/{booked['id']}/reschedule", json=new, headers=h["expert_user"]
    )
    assert proposed.status_code == 200, proposed.json()
    mail = mails(session, "proposal")["beilin@example.org"].body
    assert f"专家提议把会话改到：{in_london(local(day, 14))}" in mail
    assert LONDON_NAME in mail and "北京时间" not in mail


def test_the_home_pages_upcoming_sessions_are_in_the_viewers_zone(client, h, world, session):
    day, _ = booked_at_18(client, h)
    set_zone(session, world.district_user, "Europe/London")
    assert login(client, world.district_user.username).status_code == 303
    home = client.get("/").text
    eighteen = local(day, 18).astimezone(LONDON)
    assert f"{eighteen:%m-%d %H:%M}（{LONDON_NAME}）" in home
