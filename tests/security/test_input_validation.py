"""Hostile values over HTTP: dates out of any sane range, duplicate choices, control characters.

Each used to answer 500 (date overflow, a unique-constraint failure, NUL refused by PostgreSQL)
or to store garbage; each must now be a 422 in Chinese, or be cleaned, and store nothing bad.
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from marketplace.experts.models import Expert
from marketplace.vocabulary import Role
from tests.booking.conftest import WORKDAY
from tests.conftest import auth_headers, expert_record, make_user
from tests.web.pages.conftest import import_records


@pytest.fixture
def people(session, settings):
    import_records(session, expert_record(id="HV1", name="韩老师"))
    expert = make_user(session, Role.expert, username="hv-expert", expert_id="HV1")
    staff = make_user(session, Role.staff, username="hv-staff")
    district = make_user(session, Role.district, username="hv-coord")
    session.commit()
    return {
        "expert": auth_headers(expert, settings),
        "staff": auth_headers(staff, settings),
        "district": auth_headers(district, settings),
    }


def _refused(response, *words: str) -> None:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    for word in words:
        assert word in detail, detail


@pytest.mark.parametrize(
    ("start", "end"),
    [("9999-12-30", "9999-12-31"), ("0001-01-01", "0001-01-02"), ("1969-12-31", "1970-01-02")],
)
def test_slots_far_outside_the_calendar_are_422(client, people, start, end):
    response = client.get(
        "/api/experts/HV1/slots", params={"start": start, "end": end}, headers=people["district"]
    )
    _refused(response, "1970-01-01", "2100-12-31")


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("0001-01-01T00:00:00+08:00", "0001-01-02T00:00:00+08:00"),
        ("9999-12-31T20:00:00-10:00", "9999-12-31T23:00:00-10:00"),
        ("2027-03-01T09:00:00+08:00", "9999-12-31T23:00:00+08:00"),
    ],
)
def test_an_out_of_office_at_year_1_or_9999_is_422_and_nothing_is_stored(
    client, people, start, end
):
    body = {
        **WORKDAY,
        "exceptions": [{"kind": "out_of_office", "start": start, "end": end, "note": "休假"}],
    }
    response = client.put("/api/experts/HV1/availability", json=body, headers=people["expert"])
    _refused(response, "2100-12-31")
    stored = client.get("/api/experts/HV1/availability", headers=people["expert"]).json()
    assert stored["exceptions"] == []


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/bookings", {"start": "9999-12-31T23:59:59-10:00"}),
        ("/api/reports/allocation", {"period": "9999-12"}),
        ("/api/reports/allocation", {"period": "9999-autumn"}),
        ("/api/reports/allocation.xlsx", {"period": "9999-12"}),
    ],
)
def test_far_dates_in_queries_are_422(client, people, path, params):
    assert client.get(path, params=params, headers=people["staff"]).status_code == 422


def test_a_service_valid_until_year_9999_is_422(client, people):
    body = {
        "name": "督导小时包",
        "kind": "supervision_hours",
        "vendor": "协会",
        "unit": "小时",
        "quantity": 10,
        "valid_from": "2027-01-01",
        "valid_to": "9999-12-31",
    }
    _refused(client.post("/api/services", json=body, headers=people["staff"]), "2100-12-31")


def test_a_request_window_in_year_9999_is_422(client, people):
    body = {
        "text": "教师需要团体辅导督导",
        "service_type": "supervision",
        "format": "online",
        "hours": 2,
        "window_start": "9999-12-01",
        "window_end": "9999-12-31",
    }
    _refused(client.post("/api/requests", json=body, headers=people["district"]), "2100-12-31")


def test_duplicate_choices_count_once_instead_of_failing(client, session, people):
    response = client.patch(
        "/api/experts/HV1",
        json={
            "service_types": ["training", "training", "supervision"],
            "formats": ["online", "online"],
        },
        headers=people["expert"],
    )
    assert response.status_code == 200, response.text
    expert = response.json()
    assert expert["service_types"] == ["training", "supervision"]
    assert expert["formats"] == ["online"]
    # Specialties say so (their own rule) instead of silently dropping one.
    twice = client.patch(
        "/api/experts/HV1",
        json={"specialties": ["心理危机干预", "心理危机干预"]},
        headers=people["expert"],
    )
    _refused(twice, "重复")


@pytest.mark.parametrize("bad", ["\x00", "\x01", "\x08", "\x1b[31m", "\x7f"])
def test_control_characters_in_names_and_text_are_refused_and_not_stored(
    client, session, people, bad
):
    created = client.post(
        "/api/experts",
        json=expert_record(id="HV9", name=f"王{bad}老师"),
        headers=people["staff"],
    )
    _refused(created, "控制字符")
    assert session.exec(select(Expert).where(Expert.id == "HV9")).first() is None
    _refused(
        client.patch("/api/experts/HV1", json={"bio": f"简介{bad}"}, headers=people["expert"]),
        "控制字符",
    )
    request = {
        "text": f"教师需要{bad}督导",
        "service_type": "supervision",
        "format": "online",
        "hours": 2,
        "window_start": "2027-03-01",
        "window_end": "2027-03-31",
    }
    _refused(client.post("/api/requests", json=request, headers=people["district"]), "控制字符")


def test_line_breaks_and_tabs_stay_allowed_in_text(client, people):
    response = client.patch(
        "/api/experts/HV1", json={"bio": "第一段\n第二段\t缩进\r\n"}, headers=people["expert"]
    )
    assert response.status_code == 200, response.text
    assert "第二段" in response.json()["bio"]


@pytest.mark.parametrize("far", ["0001-01-01", "9999-12-31"])
def test_pages_given_far_dates_answer_without_a_server_error(client, session, far):
    from tests.web.pages.conftest import logged_in

    import_records(session, expert_record(id="HV2", name="魏老师"))
    district = make_user(session, Role.district, username="hv-page-coord")
    staff = make_user(session, Role.staff, username="hv-page-staff")
    session.commit()
    moment = f"{far}T23:00:00-10:00" if far.startswith("9") else f"{far}T00:00:00+14:00"
    logged_in(client, district)
    for path, params in (
        ("/experts/HV2", {"week": far}),
        ("/bookings/new", {"expert_id": "HV2", "start": moment, "end": moment}),
    ):
        response = client.get(path, params=params, follow_redirects=False)
        assert response.status_code < 500, (path, response.status_code)
    logged_in(client, staff)
    for path in ("/audit", "/audit.csv"):
        response = client.get(path, params={"date_from": far, "date_to": far})
        assert response.status_code < 500, (path, response.status_code)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/search", {"q": "危机\x00干预"}),
        ("/api/experts", {"q": "\x00"}),
        ("/api/experts", {"city": "西安\x00"}),
        ("/experts", {"q": "\x01"}),
    ],
)
def test_control_characters_in_query_parameters_are_422(client, people, path, params):
    response = client.get(path, params=params, headers=people["staff"])
    assert response.status_code == 422, response.text
    assert "控制字符" in response.text


def test_a_nul_in_a_username_is_a_failed_login_not_a_server_error(client, people):
    for name in ("hv-staff\x00", "\x00"):
        response = client.post("/api/auth/token", data={"username": name, "password": "x-y-z-1"})
        assert response.status_code == 401, response.text


@pytest.mark.parametrize("run", ["0" * 20_000, "１" * 20_000, "（" + "3" * 20_000, "一" * 20_000])
def test_the_privacy_scan_of_a_long_run_of_digits_is_linear(run):
    import time

    from marketplace.privacy import find_personal_data

    started = time.perf_counter()
    assert find_personal_data(run) == []
    assert time.perf_counter() - started < 1.0  # was ~10 s for 20,000 digits (quadratic)
    assert [f.text for f in find_personal_data("初二（3）班的王小明")] == ["王小明"]


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e309"])
def test_nan_and_infinity_in_json_numbers_are_422_in_chinese(client, people, number):
    request = (
        '{"text": "教师需要团体辅导督导", "service_type": "supervision", "format": "online",'
        f' "hours": {number}, "window_start": "2027-03-01", "window_end": "2027-03-31"}}'
    )
    service = (
        '{"name": "督导小时包", "kind": "supervision_hours", "vendor": "协会", "unit": "小时",'
        f' "quantity": {number}, "valid_from": "2027-01-01", "valid_to": "2027-12-31"}}'
    )
    for path, body, who in (
        ("/api/requests", request, "district"),
        ("/api/services", service, "staff"),
    ):
        response = client.post(
            path, content=body, headers={**people[who], "content-type": "application/json"}
        )
        _refused(response, "有限的数字")
        assert "Input should" not in response.json()["detail"]


def test_an_error_type_without_a_chinese_template_is_described_in_chinese():
    from marketplace.validation import describe_error

    error = {"loc": ("body", "x"), "type": "uuid_parsing", "msg": "Input should be a valid UUID"}
    assert describe_error(error) == "字段 x：取值不符合要求"
    # A message already in Chinese (our own custom errors) is kept as it is.
    custom = {"loc": ("body", "x"), "type": "cross_field", "msg": "结束时间须晚于开始时间"}
    assert describe_error(custom) == "字段 x：结束时间须晚于开始时间"


def test_a_refused_query_on_a_page_keeps_the_navigation_and_logs_no_trace(
    fresh_database_url, tmp_path, caplog
):
    """With the app's own sessions (closed and rolled back before the error page renders),
    the page's user used to be detached: the navigation failed ("error page failed" and a
    traceback in the log for every such request) and the page lost it."""
    from fastapi.testclient import TestClient

    from marketplace.db import make_engine, run_migrations, session_scope
    from tests.conftest import make_settings, seed_reference
    from tests.web.pages.conftest import login
    from web.app import create_app

    settings = make_settings(tmp_path, fresh_database_url)
    engine = make_engine(settings)
    run_migrations(engine)
    seed_reference(engine)
    with session_scope(engine) as setup:
        make_user(setup, Role.staff, username="hv-nav-staff")
    app = create_app(settings)
    app.state.engine = engine
    try:
        with TestClient(app) as client:
            assert login(client, "hv-nav-staff").status_code == 303
            for path in ("/audit?page=1000000000", "/expert-pool?page=-5", "/experts?page=0"):
                response = client.get(path)
                assert response.status_code == 422, path
                assert 'class="main-nav"' in response.text, path  # it still knows its user
    finally:
        engine.dispose()
    assert "error page failed" not in caplog.text


@pytest.mark.parametrize(
    ("change", "words"),
    [
        # the message says what to write instead: a city's Chinese name or an IANA name
        ({"timezone": "Mars/Olympus"}, ("找不到这个时区", "中文名", "Europe/Rome")),
        ({"timezone": "../../etc/passwd"}, ("找不到这个时区",)),
        ({"slot_step_minutes": 0}, ("15、30、60",)),
    ],
)
def test_an_unknown_time_zone_or_step_in_availability_is_422_in_chinese(
    client, people, change, words
):
    response = client.put(
        "/api/experts/HV1/availability", json={**WORKDAY, **change}, headers=people["expert"]
    )
    _refused(response, *words)
    detail = response.json()["detail"]
    assert "unknown time zone" not in detail and " or " not in detail


@pytest.mark.parametrize("invisible", ["\u200b", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u200f"])
def test_invisible_characters_in_a_name_are_refused_so_no_lookalike_is_stored(
    client, session, people, invisible
):
    lookalike = client.post(
        "/api/experts",
        json=expert_record(id="HV8", name=f"韩{invisible}老师"),
        headers=people["staff"],
    )
    _refused(lookalike, "看不见的字符")
    assert session.exec(select(Expert).where(Expert.id == "HV8")).first() is None
    renamed = client.patch(
        "/api/experts/HV1", json={"name": f"韩老{invisible}师"}, headers=people["expert"]
    )
    _refused(renamed, "看不见的字符")
    service = {
        "name": f"督导{invisible}小时包",
        "kind": "supervision_hours",
        "vendor": "协会",
        "unit": "小时",
        "quantity": 10,
        "valid_from": "2027-01-01",
        "valid_to": "2027-12-31",
    }
    _refused(client.post("/api/services", json=service, headers=people["staff"]), "看不见的字符")
    # Free text keeps them (an emoji sequence joins with U+200D).
    bio = client.patch("/api/experts/HV1", json={"bio": "简介👩\u200d🏫"}, headers=people["expert"])
    assert bio.status_code == 200, bio.text
