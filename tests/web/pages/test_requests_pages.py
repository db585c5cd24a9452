import re
from datetime import timedelta

from sqlmodel import Session, select

from marketplace.requests.models import DistrictRequest
from marketplace.services.service import today
from marketplace.vocabulary import Role
from tests.conftest import expert_record, make_user
from tests.web.pages.conftest import form_token, import_records, logged_in


def _request_form(client, **fields):
    page = client.get("/requests/new").text
    nonce = page.split('name="form_nonce" value="')[1].split('"')[0]
    return {
        "csrf_token": form_token(page),
        "form_nonce": nonce,
        "text": "初中生自伤事件后的心理危机干预与教师督导",
        "service_type": "crisis_support",
        "format": "online",
        "hours": "6",
        "experts_needed": "1",
        "window_start": (today() + timedelta(days=7)).isoformat(),
        "window_end": (today() + timedelta(days=37)).isoformat(),
        "urgency": "urgent",
        **fields,
    }


def _requests(session: Session) -> list[DistrictRequest]:
    session.expire_all()
    return list(session.exec(select(DistrictRequest)).all())


def test_a_coordinator_files_a_request_and_sees_recommended_experts_with_reasons(
    client, session, district_user
):
    import_records(
        session, expert_record(id="R1", name="危机专家", service_types=["crisis_support"])
    )
    logged_in(client, district_user)
    before = len(_requests(session))
    response = client.post("/requests", data=_request_form(client), follow_redirects=False)
    assert response.status_code == 303
    detail = client.get(response.headers["location"])
    assert "需求已提交" in detail.text and "紧急" in detail.text
    assert len(_requests(session)) == before + 1
    fragment = client.get(
        response.headers["location"] + "/recommendations",
        headers={"HX-Request": "true", "HX-Target": "recommendations"},
    )
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<section class="card" id="recommendations"')
    if "危机专家" in fragment.text:
        assert re.search(r'<ul class="reasons"[^>]*>\s*<li>', fragment.text)


def test_request_form_errors_are_shown_next_to_fields_and_nothing_is_filed(
    client, session, district_user
):
    logged_in(client, district_user)
    before = len(_requests(session))
    data = _request_form(client, text="", hours="零", service_type="magic")
    response = client.post("/requests", data=data)
    assert response.status_code == 422
    for field in ("text", "hours", "service_type"):
        assert f'id="err-{field}"' in response.text, field
    assert len(_requests(session)) == before


def test_a_double_submitted_request_is_filed_once(client, session, district_user):
    logged_in(client, district_user)
    before = len(_requests(session))
    data = _request_form(client)
    client.post("/requests", data=data, follow_redirects=False)
    again = client.post("/requests", data=data, follow_redirects=False)
    assert again.headers["location"] == "/requests"
    assert len(_requests(session)) == before + 1


def test_a_coordinator_opening_another_districts_request_gets_403(client, session, district_user):
    logged_in(client, district_user)
    location = client.post("/requests", data=_request_form(client), follow_redirects=False).headers[
        "location"
    ]
    other = make_user(session, Role.district, username="coord-yanta-2", district="西安市/雁塔区")
    logged_in(client, other)
    response = client.get(location)
    assert response.status_code == 403
    assert "初中生自伤事件" not in response.text


def test_experts_cannot_open_requests(client, expert_user):
    logged_in(client, expert_user)
    assert client.get("/requests").status_code == 403


def test_an_empty_request_list_says_what_to_do_next(client, district_user, staff_user):
    logged_in(client, district_user)  # nothing filed yet: the way to file the first one
    page = client.get("/requests").text
    assert "本区县还没有提交需求" in page and 'href="/requests/new">提交第一条需求' in page
    filtered = client.get("/requests?status=matched").text  # a filter that finds nothing
    assert "没有“已匹配”的需求" in filtered and 'href="/requests">查看全部需求' in filtered
    logged_in(client, staff_user)
    assert "所辖区县还没有提交需求" in client.get("/requests").text


def test_the_request_list_names_each_request_by_its_text_with_type_district_and_day(
    client, session, district_user
):
    from tests.matching.db_support import file_request

    text = "七年级两个班级连续出现学生冲突，班主任希望专家到校做班级心理辅导，并给家长提供沟通建议"
    filed = file_request(session, text=text, district="西安市/碑林区")
    session.commit()
    logged_in(client, district_user)
    page = client.get("/requests").text
    assert f'<a href="/requests/{filed.id}">{text[:39]}…</a></h3>' in page
    assert "危机支持 · 碑林区 · 提交于 " in page and f"#{filed.id}" not in page


def _field_value(html: str, name: str) -> str:
    from html import unescape

    textarea = re.search(rf'<textarea id="f-{name}" name="{name}"[^>]*>([^<]*)</textarea>', html)
    if textarea:
        return unescape(textarea.group(1))
    selected = re.search(
        rf'<select id="f-{name}" name="{name}".*?<option value="([^"]*)" selected>', html, re.S
    )
    return selected.group(1) if selected else ""


def test_the_request_form_carries_the_directory_search_and_its_filters(
    client, session, district_user
):
    import_records(session, expert_record(id="R2", name="危机专家"))
    logged_in(client, district_user)
    message = "危机专家"  # without a search index the directory matches names
    directory = client.get(
        "/experts", params={"q": message, "format": "online", "service_type": "supervision"}
    ).text
    link = re.search(r'href="(/requests/new\?[^"]+)">按这段描述提交需求', directory)
    assert link, "the directory offers no 提交需求 link carrying the search"
    from html import unescape

    form = client.get(unescape(link.group(1))).text
    assert _field_value(form, "text") == message
    assert _field_value(form, "format") == "online"
    assert _field_value(form, "service_type") == "supervision"
    # From a profile opened from that search: the same message travels on.
    profile_link = unescape(re.search(r'href="(/experts/R2\?[^"]+)"', directory).group(1))
    profile = client.get(profile_link).text
    carried = unescape(re.search(r'href="(/requests/new\?[^"]+)">提交需求', profile).group(1))
    assert _field_value(client.get(carried).text, "text") == message


def test_only_coordinators_are_offered_the_request_form_from_the_directory(
    client, session, staff_user, expert_user
):
    for user in (staff_user, expert_user):
        logged_in(client, user)
        assert "/requests/new" not in client.get("/experts", params={"q": "学生厌学"}).text
        assert "/requests/new" not in client.get("/experts/P1").text


def test_crisis_words_in_the_message_suggest_crisis_and_say_why(client, district_user):
    logged_in(client, district_user)
    form = client.get("/requests/new", params={"text": "班上一个学生说活着没意思，想跳楼"}).text
    assert _field_value(form, "urgency") == "crisis"
    assert "需求描述提到「活着没意思」「跳楼」" in form
    plain = client.get("/requests/new", params={"text": "初二学生厌学"}).text
    assert _field_value(plain, "urgency") == "normal"
    assert "需求描述提到" not in plain
    # The coordinator may still choose otherwise; the form then asks rather than decides.
    data = _request_form(client, text="学生说不想活了", urgency="normal", hours="")
    kept = client.post("/requests", data=data).text
    assert _field_value(kept, "urgency") == "normal"
    assert "需求描述提到「不想活」：如学生有生命危险，请选「危机」" in kept


def test_every_request_form_error_is_reported_in_one_round_next_to_its_field(
    client, session, district_user
):
    logged_in(client, district_user)
    before = len(_requests(session))
    data = _request_form(
        client,
        hours="",
        window_start=(today() + timedelta(days=20)).isoformat(),
        window_end=(today() + timedelta(days=10)).isoformat(),
    )
    response = client.post("/requests", data=data)
    assert response.status_code == 422
    for field in ("hours", "window_start", "window_end"):
        assert f'id="err-{field}"' in response.text, field
    assert "时间窗口的结束日期不能早于开始日期" in response.text
    assert len(_requests(session)) == before


def test_a_window_wholly_in_the_past_is_refused_next_to_its_field(
    client, session, settings, district_user
):
    from tests.conftest import auth_headers

    logged_in(client, district_user)
    before = len(_requests(session))
    past = {
        "window_start": (today() - timedelta(days=30)).isoformat(),
        "window_end": (today() - timedelta(days=1)).isoformat(),
    }
    response = client.post("/requests", data=_request_form(client, **past))
    assert response.status_code == 422
    error = re.search(r'id="err-window_end"[^>]*>([^<]*)<', response.text)
    assert error and "时间范围已经过去" in error.group(1)
    # With another error on the form, in the same round.
    both = client.post("/requests", data=_request_form(client, hours="", **past)).text
    assert 'id="err-hours"' in both and "时间范围已经过去" in both
    api = client.post(
        "/api/requests",
        json={
            "text": "初二学生厌学",
            "service_type": "supervision",
            "format": "online",
            "hours": 2,
            **past,
        },
        headers=auth_headers(district_user, settings),
    )
    assert api.status_code == 422 and "时间范围已经过去" in api.text
    ending_today = _request_form(
        client, window_start=past["window_start"], window_end=today().isoformat()
    )
    assert client.post("/requests", data=ending_today, follow_redirects=False).status_code == 303
    assert len(_requests(session)) == before + 1
