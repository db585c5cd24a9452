"""Hostile characters in text over HTTP, API and pages: C0 and C1 controls and the bidi
embedding, override and isolate characters (U+202A–U+202E, U+2066–U+2069, "Trojan source":
a name that displays as something other than what is stored) are refused with a Chinese 422,
next to the field on pages, whether the field goes through an input schema or is stored as
typed (a reason, a calendar's name); nothing is stored.
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from booking.busy.models import BusyCalendar
from marketplace.experts.models import Expert
from marketplace.vocabulary import Role
from tests.booking.test_hostile_calendars import FEBRUARY_30TH
from tests.conftest import auth_headers, expert_record, make_user
from tests.marketplace.resource_support import resource_body
from tests.web.pages.conftest import form_token, import_records, logged_in

BIDI = ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]
C1 = ["\x80", "\x85", "\x9b", "\x9f"]
BIDI_WORDS = "文字显示方向"


@pytest.fixture
def people(session, settings):
    import_records(session, expert_record(id="HT1", name="韩老师"))
    expert = make_user(session, Role.expert, username="ht-expert", expert_id="HT1")
    staff = make_user(session, Role.staff, username="ht-staff")
    district = make_user(session, Role.district, username="ht-coord")
    session.commit()
    return {
        "expert_user": expert,
        "staff_user": staff,
        "expert": auth_headers(expert, settings),
        "staff": auth_headers(staff, settings),
        "district": auth_headers(district, settings),
    }


def profile_form(token: str, **overrides: str) -> dict:
    """The profile form filled as the expert's page shows it, with `overrides`."""
    form = {
        "csrf_token": token,
        "name": "韩老师",
        "title": "心理咨询师",
        "organization": "西安市测试心理中心",
        "bio": "长期从事学校心理危机干预工作。",
        "specialties": "心理危机干预、自杀风险评估",
        "certifications": "国家二级心理咨询师",
        "languages": "普通话",
        "years_experience": "10",
        "monthly_capacity_hours": "20",
        "region": "陕西省|西安市|碑林区",
        "formats": ["online"],
        "service_types": ["supervision"],
    }
    return {**form, **overrides}


def _refused(response, words: str) -> None:
    assert response.status_code == 422, response.text
    assert words in response.json()["detail"], response.json()


@pytest.mark.parametrize("bad", BIDI + C1)
def test_bidi_and_c1_characters_in_api_text_are_refused_and_not_stored(
    client, session, people, bad
):
    words = BIDI_WORDS if bad in BIDI else "控制字符"
    created = client.post(
        "/api/experts", json=expert_record(id="HT9", name=f"王{bad}老师"), headers=people["staff"]
    )
    _refused(created, words)
    assert session.exec(select(Expert).where(Expert.id == "HT9")).first() is None
    _refused(
        client.patch("/api/experts/HT1", json={"title": f"主{bad}任"}, headers=people["expert"]),
        words,
    )
    request = {
        "text": f"教师需要{bad}督导",
        "service_type": "supervision",
        "format": "online",
        "hours": 2,
        "window_start": "2027-03-01",
        "window_end": "2027-03-31",
    }
    _refused(client.post("/api/requests", json=request, headers=people["district"]), words)
    listed = client.get("/api/experts", params={"q": f"韩{bad}"}, headers=people["staff"])
    assert listed.status_code == 422


@pytest.mark.parametrize("bad", ["\u202e", "\x85x", "\x00"])
def test_a_library_title_and_an_accounts_display_name_are_checked_too(
    client, session, settings, people, bad
):
    words = BIDI_WORDS if bad == "\u202e" else "控制字符"
    titled = client.post(
        "/api/resources", json=resource_body(title=f"考前{bad}焦虑课纲"), headers=people["staff"]
    )
    _refused(titled, words)
    admin = make_user(session, Role.admin, username="ht-admin")
    session.commit()
    renamed = client.patch(
        f"/api/users/{people['expert_user'].id}",
        json={"display_name": f"韩{bad}老师"},
        headers=auth_headers(admin, settings),
    )
    _refused(renamed, words)


def test_a_spoofing_name_on_the_profile_page_is_refused_next_to_the_field(client, session, people):
    logged_in(client, people["expert_user"])
    token = form_token(client.get("/profile").text)
    # "韩老师" shown, but stored with a right-to-left override that flips what follows it.
    response = client.post(
        "/profile",
        data=profile_form(token, name="韩\u202e师老"),
    )
    assert response.status_code == 422
    assert 'id="err-name"' in response.text and BIDI_WORDS in response.text
    session.expire_all()
    assert session.get(Expert, "HT1").name == "韩老师"


@pytest.mark.parametrize("bad", ["\x00", "\x1b", "\x85", "\u202e"])
def test_a_reason_stored_as_typed_is_refused_next_to_the_field(client, session, people, bad):
    logged_in(client, people["staff_user"])
    token = form_token(client.get("/experts/HT1/status").text)
    response = client.post(
        "/experts/HT1/status",
        data={"csrf_token": token, "status": "paused", "reason": f"暂停{bad}原因"},
    )
    assert response.status_code == 422
    assert 'id="err-reason"' in response.text
    assert (BIDI_WORDS if bad == "\u202e" else "控制字符") in response.text
    session.expire_all()
    assert session.get(Expert, "HT1").status == "active"


def test_a_calendar_name_stored_as_typed_is_refused_on_the_page(client, session, people):
    logged_in(client, people["expert_user"])
    token = form_token(client.get("/availability").text)
    response = client.post(
        "/availability/calendars/upload",
        data={"csrf_token": token, "name": "单位\u2067日历"},
        files={"file": ("cal.ics", FEBRUARY_30TH, "text/calendar")},
    )
    assert response.status_code == 422
    assert 'id="err-file"' in response.text and BIDI_WORDS in response.text
    assert session.exec(select(BusyCalendar)).all() == []


def test_ordinary_chinese_text_with_line_breaks_is_still_saved(client, session, people):
    logged_in(client, people["expert_user"])
    token = form_token(client.get("/profile").text)
    response = client.post(
        "/profile",
        data=profile_form(token, name="韩晓（Han Xiao）", bio="第一段：危机干预。\n第二段\t督导。"),
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    session.expire_all()
    assert session.get(Expert, "HT1").name == "韩晓（Han Xiao）"
