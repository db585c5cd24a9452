import re

import pytest
from sqlmodel import Session, select

from booking.schedule.models import AvailabilityUpdate
from booking.schedule.service import set_availability
from booking.sessions.models import Booking
from tests.web.pages.conftest import form_token, logged_in


@pytest.fixture
def open_expert(session: Session, expert_user, staff_user):
    """Expert P1 working 09:00-17:00 every day."""
    weekly = [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(7)]
    set_availability(
        session=session, expert_id="P1", data=AvailabilityUpdate(weekly=weekly), user=staff_user
    )
    session.flush()
    return expert_user


def _bookings(session: Session) -> list[Booking]:
    session.expire_all()
    return list(session.exec(select(Booking).where(Booking.expert_id == "P1")).all())


def _book(client, title="七年级班主任个案督导"):
    profile = client.get("/experts/P1").text
    link = re.search(r'href="(/bookings/new\?[^"]+)"', profile).group(1).replace("&amp;", "&")
    page = client.get(link).text
    fields = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', page))
    data = {**fields, "kind": "supervision", "format": "online", "title": title}
    return client.post("/bookings", data=data, follow_redirects=False), data


def test_a_coordinator_books_a_free_slot_from_the_profile_and_the_expert_confirms(
    client, session, district_user, open_expert
):
    logged_in(client, district_user)
    assert "可预约时间" in client.get("/experts/P1").text
    response, _ = _book(client)
    assert response.status_code == 303
    own = client.get("/bookings").text
    assert "等待专家确认" in own
    assert "<dt>区县</dt>" not in own  # the coordinator's own district goes without saying
    [booking] = _bookings(session)
    assert booking.status == "requested"
    logged_in(client, open_expert)
    page = client.get("/bookings").text
    assert "七年级班主任个案督导" in page
    assert "<dt>区县</dt><dd>碑林区</dd>" in page  # the expert is told who asks
    confirmed = client.post(
        f"/bookings/{booking.id}/confirm", data={"csrf_token": form_token(page)}
    )
    assert confirmed.status_code == 200 and "已确认该预约" in confirmed.text
    assert _bookings(session)[0].status == "confirmed"


def test_a_double_submitted_booking_form_books_once(client, session, district_user, open_expert):
    logged_in(client, district_user)
    _, data = _book(client)
    again = client.post("/bookings", data=data, follow_redirects=False)
    assert again.status_code == 303
    assert len(_bookings(session)) == 1


def test_a_booking_form_without_a_title_shows_the_error_next_to_it(
    client, session, district_user, open_expert
):
    logged_in(client, district_user)
    response, _ = _book(client, title="")
    assert response.status_code == 422
    assert 'id="err-title"' in response.text
    assert _bookings(session) == []


def test_declining_needs_a_reason_and_a_coordinator_cannot_confirm(
    client, session, district_user, open_expert
):
    logged_in(client, district_user)
    _book(client)
    [booking] = _bookings(session)
    token = form_token(client.get("/bookings").text)
    assert (
        client.post(f"/bookings/{booking.id}/confirm", data={"csrf_token": token}).status_code
        == 403
    )
    logged_in(client, open_expert)
    token = form_token(client.get("/bookings").text)
    empty = client.post(f"/bookings/{booking.id}/decline", data={"csrf_token": token, "reason": ""})
    assert empty.status_code == 422 and "请填写原因" in empty.text
    assert _bookings(session)[0].status == "requested"


def test_the_bookings_page_lists_what_is_ahead_first_then_what_ended_latest_first(
    client, session, district_user, expert_user
):
    from datetime import timedelta

    from marketplace.clock import utcnow

    now = utcnow().replace(microsecond=0)
    for title, days, status in (
        ("很久以前的督导", -60, "completed"),
        ("下周的督导", 7, "requested"),
        ("上周的督导", -7, "completed"),
        ("明天的督导", 1, "confirmed"),
    ):
        start = now + timedelta(days=days)
        session.add(
            Booking(
                uid=f"order-{days}@test",
                expert_id="P1",
                district_id=district_user.district_id,
                kind="supervision",
                format="online",
                title=title,
                start_at=start,
                end_at=start + timedelta(hours=1),
                status=status,
            )
        )
    session.flush()
    logged_in(client, district_user)
    page = client.get("/bookings").text
    order = [
        page.index(text)
        for text in (
            "即将进行",
            "明天的督导",
            "下周的督导",
            "已结束",
            "上周的督导",
            "很久以前的督导",
        )
    ]
    assert order == sorted(order)


@pytest.fixture
def hub_site(app):
    """The hub published at https://heart.example.edu.cn (its UIDs use that host)."""
    app.state.settings = app.state.settings.model_copy(
        update={"public_url": "https://heart.example.edu.cn"}
    )
    return app


def test_a_downloaded_ics_is_a_publish_copy_with_uids_at_the_sites_domain(
    hub_site, client, session, district_user, open_expert
):
    import icalendar

    logged_in(client, district_user)
    response, _ = _book(client)
    assert response.status_code == 303
    [booking] = _bookings(session)
    assert booking.uid.endswith("@heart.example.edu.cn")
    page = client.get("/bookings").text
    assert f'href="/api/bookings/{booking.id}.ics"' in page
    download = client.get(f"/api/bookings/{booking.id}.ics")
    assert download.status_code == 200
    calendar = icalendar.Calendar.from_ical(download.content)
    assert calendar["METHOD"] == "PUBLISH"
    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]) == booking.uid
    assert "heart-hub@localhost" not in download.text
    assert "RSVP" not in download.text


def test_the_home_pages_upcoming_bookings_link_to_each_booking(
    client, session, district_user, open_expert
):
    logged_in(client, district_user)
    response, _ = _book(client)
    assert response.status_code == 303
    [booking] = _bookings(session)
    home = client.get("/").text
    assert f'href="/bookings#booking-{booking.id}">七年级班主任个案督导</a>' in home
    logged_in(client, open_expert)
    assert f'href="/bookings#booking-{booking.id}"' in client.get("/").text


@pytest.mark.parametrize("view", ["week", "month"])
def test_the_bookings_calendar_shows_each_session_on_its_day_and_links_to_it(
    client, session, district_user, open_expert, view
):
    from datetime import timedelta

    from marketplace.clock import LOCAL_TZ

    logged_in(client, district_user)
    response, data = _book(client)
    assert response.status_code == 303
    [booking] = _bookings(session)
    day = booking.start_at.astimezone(LOCAL_TZ).date()
    page = client.get("/bookings", params={"view": view, "day": day.isoformat()}).text
    assert 'aria-current="page">{}</a>'.format("周视图" if view == "week" else "月视图") in page
    entry = re.search(
        rf'<li class="cal-day[^"]*">\s*<h3><span>周.</span> {day:%m-%d}.*?</li>\s*</ul>', page, re.S
    )
    assert entry, "the session's day is not in the calendar"
    assert f"#booking-{booking.id}" in entry.group(0) and "七年级班主任个案督导" in entry.group(0)
    assert f"{booking.start_at.astimezone(LOCAL_TZ):%H:%M}–" in entry.group(0)
    # The next week (month) does not have it, and says what to do.
    later = day + timedelta(days=7 if view == "week" else 32)
    empty = client.get("/bookings", params={"view": view, "day": later.isoformat()}).text
    assert f"#booking-{booking.id}" not in empty and "没有预约" in empty
    # The list is the other view, a tab away, with the card the entry points at.
    listed = client.get("/bookings").text
    assert f'id="booking-{booking.id}"' in listed and 'href="/bookings?view=week' in listed
