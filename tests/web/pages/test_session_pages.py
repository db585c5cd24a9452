"""Pages: reschedule, complete / no-show, rating and feedback, training registrations."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from booking.schedule.models import AvailabilityUpdate
from booking.schedule.service import set_availability
from booking.sessions.models import Booking, BookingRating
from marketplace.clock import LOCAL_TZ, utcnow
from marketplace.vocabulary import Role
from tests.booking.conftest import ALL_KINDS, book, future_weekday, local
from tests.conftest import expert_record, make_user
from tests.web.pages.conftest import form_token, import_records, logged_in
from tests.web.pages.forms import form_fields


@pytest.fixture
def expert_user(session: Session):
    """Expert P1, offering every kind of session (trainings too)."""
    import_records(session, expert_record(id="P1", name="林晓", service_types=ALL_KINDS))
    return make_user(session, Role.expert, username="expert-p1", expert_id="P1")


@pytest.fixture
def open_expert(session: Session, expert_user, staff_user):
    """Expert P1 working 09:00-17:00 every day."""
    weekly = [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(7)]
    set_availability(
        session=session, expert_id="P1", data=AvailabilityUpdate(weekly=weekly), user=staff_user
    )
    return expert_user


@pytest.fixture
def booked(session: Session, open_expert, district_user) -> Booking:
    return book(
        session,
        district_user,
        "P1",
        local(future_weekday(10), 10),
        title="个案咨询甲",
        kind="consultation",
    )


@pytest.fixture
def other_district(session: Session):
    return make_user(session, Role.district, username="coord-yanta", district="西安市/雁塔区")


def _reload(session: Session, booking_id: int) -> Booking:
    session.expire_all()
    return session.get(Booking, booking_id)


def _held(session: Session, booking: Booking, status: str = "confirmed") -> Booking:
    """Move the session into the past (as if it had taken place) for the after-session steps."""
    booking.start_at = utcnow() - timedelta(hours=3)
    booking.end_at = utcnow() - timedelta(hours=2)
    booking.status = status
    session.add(booking)
    session.flush()
    return booking


def test_a_coordinator_reschedules_a_session_to_a_free_slot_and_it_keeps_its_identity(
    client, session, district_user, booked
):
    uid = booked.uid
    logged_in(client, district_user)
    page = client.get(f"/bookings/{booked.id}/reschedule")
    assert page.status_code == 200 and "专家近期空闲时段" in page.text
    new_day = future_weekday(11)
    data = dict(form_fields(page.text, action=f"/bookings/{booked.id}/reschedule"))
    data |= {"day": new_day.isoformat(), "start_time": "14:00", "end_time": "15:00"}
    response = client.post(f"/bookings/{booked.id}/reschedule", data=data)
    assert response.status_code == 200 and "等待专家重新确认" in response.text
    moved = _reload(session, booked.id)
    assert moved.uid == uid and moved.sequence > 0
    assert moved.start_at.astimezone(LOCAL_TZ) == local(new_day, 14)
    assert moved.status == "requested"


def test_a_reschedule_ending_before_it_starts_is_refused_next_to_the_end_time(
    client, session, district_user, booked
):
    logged_in(client, district_user)
    page = client.get(f"/bookings/{booked.id}/reschedule").text
    data = dict(form_fields(page, action=f"/bookings/{booked.id}/reschedule"))
    data |= {"start_time": "15:00", "end_time": "14:00"}
    response = client.post(f"/bookings/{booked.id}/reschedule", data=data)
    assert response.status_code == 422 and 'id="err-end_time"' in response.text
    assert _reload(session, booked.id).start_at == booked.start_at


def test_a_reschedule_into_closed_hours_shows_the_services_reason(
    client, session, district_user, booked
):
    logged_in(client, district_user)
    page = client.get(f"/bookings/{booked.id}/reschedule").text
    data = dict(form_fields(page, action=f"/bookings/{booked.id}/reschedule"))
    data |= {"start_time": "20:00", "end_time": "21:00"}
    response = client.post(f"/bookings/{booked.id}/reschedule", data=data)
    assert response.status_code in (409, 422) and 'role="alert"' in response.text
    assert _reload(session, booked.id).start_at == booked.start_at


def test_another_district_cannot_open_or_move_a_districts_session(
    client, session, booked, other_district
):
    logged_in(client, other_district)
    assert client.get(f"/bookings/{booked.id}/reschedule").status_code == 404
    token = form_token(client.get("/bookings").text)
    response = client.post(
        f"/bookings/{booked.id}/reschedule",
        data={
            "csrf_token": token,
            "day": future_weekday(11).isoformat(),
            "start_time": "14:00",
            "end_time": "15:00",
        },
    )
    assert response.status_code == 404
    assert _reload(session, booked.id).start_at == booked.start_at


def test_the_expert_completes_a_held_session_the_district_rates_it_and_the_expert_sees_it(
    client, session, district_user, open_expert, booked
):
    _held(session, booked)
    logged_in(client, open_expert)
    page = client.get("/bookings").text
    assert "标记为已完成" in page
    done = client.post(f"/bookings/{booked.id}/complete", data={"csrf_token": form_token(page)})
    assert done.status_code == 200 and "已标记为完成" in done.text
    assert _reload(session, booked.id).status == "completed"

    logged_in(client, district_user)
    page = client.get("/bookings").text
    assert "评价本次服务" in page
    data = dict(form_fields(page, action=f"/bookings/{booked.id}/rating"))
    data |= {"score": "4", "feedback": "讲解清楚，案例贴近学校实际"}
    rated = client.post(f"/bookings/{booked.id}/rating", data=data)
    assert rated.status_code == 200 and "感谢您的评价" in rated.text
    assert "讲解清楚" in rated.text and "评价本次服务" not in rated.text
    again = client.post(f"/bookings/{booked.id}/rating", data={**data, "form_nonce": "other"})
    assert again.status_code == 409 and "该预约已评价" in again.text

    logged_in(client, open_expert)
    feedback = client.get("/bookings").text
    assert "收到的反馈" in feedback and "讲解清楚，案例贴近学校实际" in feedback


def test_a_district_cannot_rate_another_districts_session(client, session, booked, other_district):
    _held(session, booked, status="completed")
    logged_in(client, other_district)
    token = form_token(client.get("/bookings").text)
    response = client.post(
        f"/bookings/{booked.id}/rating", data={"csrf_token": token, "score": "1"}
    )
    assert response.status_code == 404  # not theirs to see
    assert session.exec(select(BookingRating)).all() == []


def test_a_rating_out_of_range_is_refused_with_a_friendly_message(
    client, session, district_user, booked
):
    _held(session, booked, status="completed")
    logged_in(client, district_user)
    token = form_token(client.get("/bookings").text)
    response = client.post(
        f"/bookings/{booked.id}/rating", data={"csrf_token": token, "score": "9"}
    )
    assert response.status_code == 422 and "评分" in response.text
    assert session.exec(select(BookingRating)).all() == []


def test_the_expert_records_a_no_show_and_a_coordinator_cannot(
    client, session, district_user, open_expert, booked
):
    _held(session, booked)
    logged_in(client, district_user)
    token = form_token(client.get("/bookings").text)
    assert (
        client.post(f"/bookings/{booked.id}/no-show", data={"csrf_token": token}).status_code == 403
    )
    logged_in(client, open_expert)
    token = form_token(client.get("/bookings").text)
    response = client.post(f"/bookings/{booked.id}/no-show", data={"csrf_token": token})
    assert response.status_code == 200 and "已记录为未出席" in response.text
    assert _reload(session, booked.id).status == "no_show"


def test_a_session_not_yet_held_cannot_be_completed(client, session, open_expert, booked):
    logged_in(client, open_expert)
    token = form_token(client.get("/bookings").text)
    client.post(f"/bookings/{booked.id}/confirm", data={"csrf_token": token})
    response = client.post(f"/bookings/{booked.id}/complete", data={"csrf_token": token})
    assert response.status_code == 422 and "尚未开始" in response.text
    assert _reload(session, booked.id).status == "confirmed"


# --- trainings -------------------------------------------------------------------------------


@pytest.fixture
def training(session: Session, open_expert, staff_user, district_user) -> Booking:
    return book(
        session,
        staff_user,
        "P1",
        local(future_weekday(12), 9),
        title="班主任心理危机识别培训",
        kind="training",
        hours=2,
        capacity=5,
        district_id=district_user.district_id,
    )


def _register(client, training_id: int, school: str, participants: str, page: str | None = None):
    page = page or client.get("/trainings").text
    data = dict(form_fields(page, action=f"/trainings/{training_id}/registrations"))
    data |= {"school": school, "participants": participants}
    return client.post(f"/trainings/{training_id}/registrations", data=data), data


def test_districts_register_schools_and_never_over_capacity(
    client, session, training, other_district
):
    logged_in(client, other_district)
    page = client.get("/trainings").text
    assert "班主任心理危机识别培训" in page and "剩余名额 5 / 5" in page
    ok, _ = _register(client, training.id, "雁塔区第一中学", "3", page)
    assert ok.status_code == 200 and "报名成功" in ok.text
    assert "剩余名额 2 / 5" in ok.text and "雁塔区第一中学 · 3 人" in ok.text
    full, _ = _register(client, training.id, "雁塔区第二中学", "3")
    assert full.status_code == 409 or full.status_code == 422
    assert f'id="err-participants-{training.id}"' in full.text and "剩余 2" in full.text
    assert 'value="雁塔区第二中学"' in full.text


def test_a_double_submitted_registration_counts_once(client, session, training, district_user):
    logged_in(client, district_user)
    first, data = _register(client, training.id, "碑林区实验小学", "2")
    assert first.status_code == 200
    again = client.post(f"/trainings/{training.id}/registrations", data=data)
    assert "该表单已经提交过" in again.text
    assert "剩余名额 3 / 5" in again.text


def test_a_registration_without_a_school_shows_the_error_next_to_it(
    client, training, district_user
):
    logged_in(client, district_user)
    response, _ = _register(client, training.id, "", "2")
    assert response.status_code == 422 and f'id="err-school-{training.id}"' in response.text


def test_experts_do_not_open_trainings_and_staff_cannot_register(
    client, training, open_expert, staff_user
):
    logged_in(client, open_expert)
    assert client.get("/trainings").status_code == 403
    logged_in(client, staff_user)
    page = client.get("/trainings")
    assert page.status_code == 200 and "班主任心理危机识别培训" in page.text
    token = form_token(page.text)
    response = client.post(
        f"/trainings/{training.id}/registrations",
        data={"csrf_token": token, "school": "某校", "participants": "1"},
    )
    assert response.status_code == 403


def test_navigation_shows_trainings_to_coordinators_and_matching_to_staff(
    client, district_user, staff_user, expert_user
):
    def nav(user):
        logged_in(client, user)
        html = client.get("/").text
        menu = re.search(r'<nav class="main-nav".*?</nav>', html, re.S).group(0)
        return set(re.findall(r'href="(/[a-z]*)"', menu))

    assert {"/trainings", "/bookings"} <= nav(district_user) and "/matching" not in nav(
        district_user
    )
    assert {"/matching", "/trainings"} <= nav(staff_user)
    expert_nav = nav(expert_user)
    assert "/availability" in expert_nav and not {"/matching", "/trainings"} & expert_nav


def test_a_coordinator_books_a_training_with_seats_from_the_booking_form(
    client, session, district_user, open_expert
):
    logged_in(client, district_user)
    profile = client.get("/experts/P1").text
    link = re.search(r'href="(/bookings/new\?[^"]+)"', profile).group(1).replace("&amp;", "&")
    page = client.get(link).text
    assert "培训名额" in page
    data = dict(form_fields(page, action="/bookings"))
    data |= {"kind": "training", "format": "online", "title": "全区班主任培训"}
    missing = client.post("/bookings", data=data)
    assert missing.status_code == 422 and "名额" in missing.text
    booked = client.post("/bookings", data={**data, "capacity": "20", "form_nonce": "t-2"})
    assert booked.status_code == 200 and "等待专家确认" in booked.text
    [training] = session.exec(select(Booking).where(Booking.kind == "training")).all()
    assert training.capacity == 20
