"""提交预约意向 in pages: the coordinator asks an expert without a suitable slot for a time, errors
stand next to their fields, and the expert answers with one click (a confirmed session) or a
reason."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

from sqlmodel import Session, select

from booking.schedule.models import AvailabilityUpdate
from booking.schedule.service import set_availability
from booking.sessions.models import Booking
from booking.time_requests.models import TimeRequest
from marketplace.clock import LOCAL_TZ, utcnow
from tests.matching.db_support import file_request
from tests.web.pages.conftest import form_token, logged_in


def _ask_link(client) -> str:
    profile = client.get("/experts/P1").text
    match = re.search(r'href="(/time-requests/new\?[^"]+)"', profile)
    assert match, "no 提交预约意向 link on the profile"
    return unescape(match.group(1))


def _form(page: str) -> dict[str, str]:
    hidden = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)"', page))
    today = utcnow().astimezone(LOCAL_TZ).date()
    return {
        **hidden,
        "kind": "supervision",
        "format": "online",
        "duration_minutes": "60",
        "earliest_day": (today + timedelta(days=3)).isoformat(),
        "latest_day": (today + timedelta(days=10)).isoformat(),
        "day_part": "afternoon",
        "title": "班主任个案督导",
    }


def _requests(session: Session) -> list[TimeRequest]:
    session.expire_all()
    return list(session.exec(select(TimeRequest)).all())


def test_an_expert_without_hours_offers_the_time_request_form(client, district_user, expert_user):
    logged_in(client, district_user)
    page = client.get(_ask_link(client))
    assert page.status_code == 200
    assert "向 林晓 提交预约意向" in page.text
    assert "novalidate" in page.text and 'aria-required="true"' in page.text


def test_dates_in_the_wrong_order_mark_both_fields_with_the_message(
    client, session, district_user, expert_user
):
    logged_in(client, district_user)
    page = client.get(_ask_link(client)).text
    data = _form(page)
    data["earliest_day"], data["latest_day"] = data["latest_day"], data["earliest_day"]
    response = client.post("/time-requests", data=data)
    assert response.status_code == 422
    html = response.text
    for name in ("earliest_day", "latest_day"):
        assert re.search(rf'id="f-{name}"[^>]*aria-invalid="true"', html), name
        assert f'<p class="field-error" id="err-{name}">最晚日期不能早于最早日期</p>' in html
    assert "请查看标红的字段" in html
    assert _requests(session) == []


def test_empty_choices_are_named_in_chinese_next_to_their_fields(
    client, session, district_user, expert_user
):
    logged_in(client, district_user)
    data = _form(client.get(_ask_link(client)).text) | {"kind": "", "day_part": "sometime"}
    html = client.post("/time-requests", data=data).text
    kind_error = re.search(r'id="err-kind">([^<]+)<', html).group(1)
    assert "督导" in kind_error and "supervision" not in kind_error
    part_error = re.search(r'id="err-day_part">([^<]+)<', html).group(1)
    assert "上午" in part_error and "morning" not in part_error


def test_the_expert_answers_with_one_click_and_the_session_is_confirmed(
    client, session, district_user, expert_user, staff_user
):
    weekly = [{"weekday": d, "start": "13:00", "end": "17:00"} for d in range(7)]
    logged_in(client, district_user)
    response = client.post(
        "/time-requests", data=_form(client.get(_ask_link(client)).text), follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/time-requests"
    listing = client.get("/time-requests").text
    assert "预约意向已提交" in listing and "等待专家答复" in listing and "撤回" in listing
    set_availability(
        session=session, expert_id="P1", data=AvailabilityUpdate(weekly=weekly), user=staff_user
    )
    session.commit()
    logged_in(client, expert_user)
    page = client.get("/time-requests").text
    assert "班主任个案督导" in page and "碑林区" in page
    [first] = re.findall(r'action="(/time-requests/\d+/offer)"', page)[:1]
    day, start = re.search(
        r'name="day" value="([\d-]+)">\s*<input type="hidden" name="start_time" value="([\d:]+)"',
        page,
    ).groups()
    answered = client.post(
        first,
        data={"csrf_token": form_token(page), "day": day, "start_time": start},
        follow_redirects=False,
    )
    assert answered.status_code == 303
    [time_request] = _requests(session)
    assert time_request.status == "offered"
    booking = session.get(Booking, time_request.booking_id)
    assert booking.status == "confirmed" and booking.district_id == district_user.district_id
    assert booking.start_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M") == f"{day} {start}"
    logged_in(client, district_user)
    assert "专家已提供时间" in client.get("/time-requests").text
    assert "预约已确认" in client.get("/notifications").text


def test_a_decline_without_a_reason_is_refused_next_to_the_reason_field(
    client, session, district_user, expert_user
):
    logged_in(client, district_user)
    client.post("/time-requests", data=_form(client.get(_ask_link(client)).text))
    [time_request] = _requests(session)
    logged_in(client, expert_user)
    page = client.get("/time-requests").text
    response = client.post(
        f"/time-requests/{time_request.id}/decline",
        data={"csrf_token": form_token(page), "reason": "  "},
    )
    assert response.status_code == 422
    assert f'id="reason-{time_request.id}"' in response.text
    assert '<p class="field-error" id="err-reason">请填写原因' in response.text
    assert _requests(session)[0].status == "open"
    response = client.post(
        f"/time-requests/{time_request.id}/decline",
        data={"csrf_token": form_token(page), "reason": "本月外出培训"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert _requests(session)[0].decline_reason == "本月外出培训"


LONG_NEED = "初三年级多名学生考前焦虑失眠，班主任希望专家到校做团体辅导并指导家长沟通"


def test_a_time_request_for_a_request_names_it_by_its_text_not_its_number(
    client, session, district_user, expert_user
):
    filed = file_request(
        session, text=LONG_NEED, district="西安市/碑林区", service_type="supervision"
    )
    session.commit()
    logged_in(client, district_user)
    name = "「初三年级多名学生考前焦虑失眠，班主任希…」 · 碑林区 · "
    page = client.get(f"/time-requests/new?expert_id=P1&request_id={filed.id}").text
    assert name in page and f"#{filed.id}" not in page
    client.post("/time-requests", data=_form(page))
    listing = client.get("/time-requests").text
    assert f'<a href="/requests/{filed.id}">{name}' in listing
    assert f">#{filed.id}<" not in listing
    logged_in(client, expert_user)  # the expert reads the name too, without the link
    assert name in client.get("/time-requests").text


def test_a_posted_request_of_another_district_is_not_named_on_the_form(
    client, session, district_user, expert_user
):
    other = file_request(
        session, text="雁塔区的需求文字不应出现在碑林区的表单上", district="西安市/雁塔区"
    )
    session.commit()
    logged_in(client, district_user)
    data = _form(client.get(_ask_link(client)).text) | {"request_id": str(other.id), "kind": ""}
    html = client.post("/time-requests", data=data).text
    assert "雁塔区的需求文字" not in html
