"""Pages: the expert's availability editor, busy calendars and the calendar feed link."""

from __future__ import annotations

import re

import pytest
from sqlmodel import Session, select

from booking.busy.service import list_busy_calendars
from booking.schedule.service import get_availability
from marketplace.audit.models import AuditEntry
from marketplace.vocabulary import Role
from tests.conftest import expert_record, make_user
from tests.security.world import BUSY_ICS
from tests.web.pages.conftest import form_token, import_records, logged_in
from tests.web.pages.forms import form_fields, replace_field


def as_form(fields: list[tuple[str, str]]) -> dict[str, list[str]]:
    form: dict[str, list[str]] = {}
    for name, value in fields:
        form.setdefault(name, []).append(value)
    return form


def editor(client) -> list[tuple[str, str]]:
    page = client.get("/availability")
    assert page.status_code == 200, page.text
    return form_fields(page.text, form_id="availability_form")


def test_an_expert_sets_two_ranges_on_monday_a_closed_day_and_a_holiday(
    client, session: Session, expert_user
):
    logged_in(client, expert_user)
    fields = editor(client)
    # Monday's two blank rows: the first two w_start/w_end fields.
    replace_field(fields, "w_start", "09:00", 0)
    replace_field(fields, "w_end", "12:00", 0)
    replace_field(fields, "w_start", "14:00", 1)
    replace_field(fields, "w_end", "17:30", 1)
    replace_field(fields, "o_date", "2031-05-06")
    replace_field(fields, "o_note", "教研活动")
    replace_field(fields, "x_start", "2031-07-01")
    replace_field(fields, "x_end", "2031-07-10")
    replace_field(fields, "buffer_after_minutes", "15")
    saved = client.post("/availability", data=as_form(fields))
    assert saved.status_code == 200 and "可预约时间已保存" in saved.text
    stored = get_availability(session=session, expert_id="P1")
    assert [(r.weekday, r.start, r.end) for r in stored.weekly] == [
        (0, "09:00", "12:00"),
        (0, "14:00", "17:30"),
    ]
    assert stored.buffer_after_minutes == 15
    kinds = sorted(e.kind for e in stored.exceptions)
    assert kinds == ["out_of_office", "override"]
    # The editor shows what was stored, ready for the next change.
    again = {value for _, value in editor(client)}
    assert {"2031-07-10", "2031-05-06", "14:00", "17:30"} <= again


def test_an_end_before_the_start_is_shown_next_to_that_row_and_nothing_is_saved(
    client, session: Session, expert_user
):
    logged_in(client, expert_user)
    fields = editor(client)
    replace_field(fields, "w_start", "15:00", 2)
    replace_field(fields, "w_end", "10:00", 2)
    response = client.post("/availability", data=as_form(fields))
    assert response.status_code == 422
    assert 'id="err-w-1-1"' in response.text and "结束时间必须晚于开始时间" in response.text
    assert 'value="15:00"' in response.text  # what was typed stays in the form
    assert get_availability(session=session, expert_id="P1").weekly == []


def test_a_bad_policy_number_is_shown_next_to_its_field(client, session, expert_user):
    logged_in(client, expert_user)
    fields = editor(client)
    replace_field(fields, "horizon_days", "很久")
    response = client.post("/availability", data=as_form(fields))
    assert response.status_code == 422 and 'id="err-horizon_days"' in response.text


def test_a_double_submitted_availability_form_is_saved_once(client, session, expert_user):
    logged_in(client, expert_user)
    fields = editor(client)
    replace_field(fields, "w_start", "09:00")
    replace_field(fields, "w_end", "11:00")
    assert client.post("/availability", data=as_form(fields)).status_code == 200
    again = client.post("/availability", data=as_form(fields))
    assert "该表单已经提交过" in again.text
    entries = session.exec(select(AuditEntry).where(AuditEntry.action == "availability.set")).all()
    assert len(entries) == 1


def test_an_expert_cannot_open_or_edit_another_experts_availability(
    client, session: Session, expert_user
):
    import_records(session, expert_record(id="P2", name="王二"))
    logged_in(client, expert_user)
    assert client.get("/availability?expert_id=P2").status_code == 403
    fields = editor(client)
    replace_field(fields, "w_start", "09:00")
    replace_field(fields, "w_end", "11:00")
    response = client.post("/availability", data={**as_form(fields), "expert_id": "P2"})
    assert response.status_code == 403
    assert get_availability(session=session, expert_id="P2").weekly == []


def test_coordinators_cannot_open_the_editor_and_staff_edit_a_named_expert(
    client, session, expert_user, district_user, staff_user
):
    logged_in(client, district_user)
    assert client.get("/availability").status_code == 403
    assert client.get("/availability?expert_id=P1").status_code == 403
    logged_in(client, staff_user)
    page = client.get("/availability?expert_id=P1")
    assert page.status_code == 200 and "林晓" in page.text


def test_an_uploaded_ics_is_listed_and_can_be_removed(client, session, expert_user):
    logged_in(client, expert_user)
    token = form_token(client.get("/availability").text)
    uploaded = client.post(
        "/availability/calendars/upload",
        data={"csrf_token": token, "name": "学校课表"},
        files={"file": ("busy.ics", BUSY_ICS, "text/calendar")},
    )
    assert uploaded.status_code == 200 and "忙碌日历已添加" in uploaded.text
    assert "学校课表" in uploaded.text
    [calendar] = list_busy_calendars(session=session, expert_id="P1", user=expert_user)
    removed = client.post(
        f"/availability/calendars/{calendar.id}/delete", data={"csrf_token": token}
    )
    assert removed.status_code == 200 and "已删除该忙碌日历" in removed.text
    assert list_busy_calendars(session=session, expert_id="P1", user=expert_user) == []


def test_a_file_that_is_not_a_calendar_is_refused_next_to_the_field(client, session, expert_user):
    logged_in(client, expert_user)
    token = form_token(client.get("/availability").text)
    response = client.post(
        "/availability/calendars/upload",
        data={"csrf_token": token},
        files={"file": ("notes.ics", b"just some text", "text/calendar")},
    )
    assert response.status_code == 422 and 'id="err-file"' in response.text
    assert list_busy_calendars(session=session, expert_id="P1", user=expert_user) == []


def test_a_feed_url_is_registered_after_one_clean_fetch(app, client, session, expert_user):
    app.state.ics_fetcher = lambda url: BUSY_ICS
    logged_in(client, expert_user)
    token = form_token(client.get("/availability").text)
    bad = client.post("/availability/calendars/feed", data={"csrf_token": token, "url": "ftp://x"})
    assert bad.status_code == 422 and 'id="err-url"' in bad.text
    ok = client.post(
        "/availability/calendars/feed",
        data={"csrf_token": token, "url": "https://cal.example.org/me.ics", "name": "单位日历"},
    )
    assert ok.status_code == 200 and "单位日历" in ok.text
    [calendar] = list_busy_calendars(session=session, expert_id="P1", user=expert_user)
    assert calendar.source == "feed" and calendar.url == "https://cal.example.org/me.ics"


@pytest.mark.parametrize("role", [Role.expert, Role.district])
def test_my_calendar_feed_link_is_shown_once_works_and_can_be_revoked(
    client, session, expert_user, district_user, role
):
    user = expert_user if role == Role.expert else district_user
    page_path = "/availability" if role == Role.expert else "/bookings"
    logged_in(client, user)
    page = client.get(page_path).text
    assert "我的日历订阅链接" in page
    rotated = client.post("/calendar-feed/rotate", data={"csrf_token": form_token(page)})
    assert rotated.status_code == 200
    url = re.search(r'id="f-feed-url" type="text" readonly value="([^"]+)"', rotated.text).group(1)
    path = url.split("://", 1)[1].split("/", 1)[1]
    feed = client.get("/" + path)
    assert feed.status_code == 200 and "BEGIN:VCALENDAR" in feed.text
    revoked = client.post("/calendar-feed/revoke", data={"csrf_token": form_token(page)})
    assert revoked.status_code == 200 and "日历订阅链接已撤销" in revoked.text
    assert client.get("/" + path).status_code == 404


def test_a_feed_link_rotated_through_htmx_returns_just_its_section(client, expert_user):
    logged_in(client, expert_user)
    token = form_token(client.get("/availability").text)
    response = client.post(
        "/calendar-feed/rotate",
        headers={"HX-Request": "true", "HX-Target": "feed_link", "X-CSRF-Token": token},
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="feed_link"')


def test_staff_have_no_personal_feed_link(client, staff_user):
    logged_in(client, staff_user)
    token = form_token(client.get("/").text)
    response = client.post("/calendar-feed/rotate", data={"csrf_token": token})
    assert response.status_code == 403 and "工作人员没有个人日历订阅链接" in response.text


def test_a_district_user_without_a_district_is_refused_the_feed_link(client, session):
    user = make_user(session, Role.admin, username="admin-x")
    logged_in(client, user)
    token = form_token(client.get("/").text)
    assert client.post("/calendar-feed/rotate", data={"csrf_token": token}).status_code == 403


def test_the_slot_step_chosen_on_the_page_is_saved_and_kept_through_an_error(
    client, session: Session, expert_user
):
    logged_in(client, expert_user)
    fields = editor(client)
    assert ("slot_step_minutes", "30") in fields  # the select is part of the form
    replace_field(fields, "slot_step_minutes", "60")
    replace_field(fields, "horizon_days", "很久")
    refused = client.post("/availability", data=as_form(fields))
    assert refused.status_code == 422
    assert re.search(r'<option value="60" selected>', refused.text)  # not back to 每 15 分钟
    replace_field(fields, "horizon_days", "90")
    saved = client.post("/availability", data=as_form(fields))
    assert saved.status_code == 200 and "可预约时间已保存" in saved.text
    assert get_availability(session=session, expert_id="P1").slot_step_minutes == 60
