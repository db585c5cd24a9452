import re
from urllib.parse import parse_qs, urlencode, urlsplit

from fastapi.testclient import TestClient
from sqlmodel import select

from marketplace.audit.models import AuditEntry
from marketplace.experts.models import Expert
from tests.conftest import expert_record
from tests.web.pages.conftest import form_token, import_records, logged_in
from web.pages import PageUser

HTMX = {"HX-Request": "true", "HX-Target": "results"}


def _directory(session, count=23):
    import_records(
        session,
        *[expert_record(id=f"Q{i:03d}", name=f"测名{i:03d}") for i in range(count)],
        expert_record(
            id="QZ1",
            name="欧阳测停",
        ),
    )
    session.exec(select(Expert).where(Expert.id == "QZ1")).one().status = "paused"
    session.flush()


def _names(html: str) -> list[str]:
    return re.findall(r'<a href="/experts/[^"]+">([^<]+)</a>', html)


def test_pages_send_anonymous_visitors_to_login_and_back(client):
    response = client.get("/experts?q=王", follow_redirects=False)
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/login"
    assert parse_qs(location.query)["next"] == ["/experts?q=%E7%8E%8B"]


def test_an_htmx_request_without_a_session_is_told_to_redirect(client):
    response = client.get("/experts", headers=HTMX)
    assert response.headers["HX-Redirect"].startswith("/login?next=")


def test_a_coordinator_opening_the_audit_log_gets_a_403_page(client, district_user):
    logged_in(client, district_user)
    response = client.get("/audit")
    assert response.status_code == 403
    assert "没有权限执行此操作" in response.text and "<html" in response.text


def test_a_coordinator_cannot_open_the_expert_profile_editor(client, district_user):
    logged_in(client, district_user)
    assert client.get("/profile").status_code == 403


def test_staff_see_the_audit_log_filtered_by_actor(client, session, staff_user, expert_user):
    logged_in(client, staff_user)
    page = client.get("/audit", params={"actor": "staff-1"})
    assert page.status_code == 200
    assert "session.login" in page.text
    assert "user.create" not in page.text  # those were written by the "test" actor


def test_the_directory_pages_through_results_twenty_at_a_time(client, session, district_user):
    _directory(session)
    logged_in(client, district_user)
    first = client.get("/experts", params={"q": "测名"})
    second = client.get("/experts", params={"q": "测名", "page": 2})
    assert "找到 <strong>23</strong> 位与“测名”相关的专家" in first.text
    assert len(_names(first.text)) == 20 and len(_names(second.text)) == 3
    assert 'href="/experts?q=%E6%B5%8B%E5%90%8D&amp;page=2"' in first.text


def test_an_htmx_search_gets_only_the_results_block(client, session, district_user):
    _directory(session)
    logged_in(client, district_user)
    response = client.get("/experts", params={"q": "测名001"}, headers=HTMX)
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<section id="results"')
    assert "<html" not in response.text and "<form" not in response.text
    assert _names(response.text) == ["测名001"]
    assert "HX-Request" in response.headers["vary"]


def test_the_same_url_without_htmx_is_the_whole_page(client, session, district_user):
    _directory(session)
    logged_in(client, district_user)
    response = client.get("/experts", params={"q": "测名001"})
    assert "<html" in response.text and 'id="q"' in response.text
    assert 'hx-trigger="keyup changed delay:300ms' in response.text


def test_coordinators_see_only_active_experts_staff_can_filter_by_status(
    client, session, district_user, staff_user
):
    _directory(session)
    logged_in(client, district_user)
    assert _names(client.get("/experts", params={"q": "欧阳测停"}).text) == []
    assert _names(client.get("/experts", params={"q": "欧阳测停", "status": "paused"}).text) == []
    logged_in(client, staff_user)
    assert _names(client.get("/experts", params={"q": "欧阳测停", "status": "paused"}).text) == [
        "欧阳测停"
    ]


def test_unknown_filter_values_are_ignored_not_errors(client, session, district_user):
    _directory(session)
    logged_in(client, district_user)
    response = client.get(
        "/experts", params={"q": "测名", "domain": "astrology", "format": "<script>"}
    )
    assert response.status_code == 200
    assert "找到 <strong>23</strong> 位" in response.text


def test_a_pasted_message_is_searched_whole_and_only_an_overlong_one_is_a_friendly_422(
    client, session, district_user
):
    _directory(session)
    logged_in(client, district_user)
    message = (
        "各位老师好，我是碑林区某中学的心理老师，学校有初一到初三十八个班。"
        "最近初二有个学生连续两周不来上学，家长说孩子早上起不来、一提上学就哭，"
        "班主任家访了两次也没有进展。想请一位有厌学和家校沟通经验的专家，"
        "下周二或周四下午到校给班主任和家长做一次个案指导，线上也可以。谢谢！"
    ) * 2
    assert 100 < len(message) <= 1000
    page = client.get("/experts", params={"q": message})
    assert page.status_code == 200
    assert 'maxlength="1000"' in page.text  # the box takes what a coordinator pastes
    assert message[:40] in page.text  # kept in the box, not cut
    response = client.get("/experts", params={"q": "长" * 1001})
    assert response.status_code == 422
    assert "提交的数据不符合要求" in response.text and "<html" in response.text


def test_a_profile_opened_from_a_pasted_message_opens_and_leads_back_to_the_search(
    client, session, district_user
):
    _directory(session)
    logged_in(client, district_user)
    page = client.get("/experts", params={"q": "测名001"})
    card = re.search(r'href="(/experts/Q001\?back=[^"#]+)"', page.text).group(1)
    assert client.get(card.replace("&amp;", "&")).status_code == 200
    # the card carries the search as `back`: a message of a few hundred characters, pasted
    # from WeChat, is several thousand once percent-encoded and must still open the profile
    pasted = (
        "各位老师好，我是碑林区某中学的心理老师。最近初二有个学生在手臂上划伤自己，"
        "还跟同学说活着没意思，班主任和家长都很着急。想请一位做过心理危机干预的专家"
        "下周到校给班主任和家长做一次指导，线上也可以。谢谢！"
    ) * 3
    back = urlencode({"q": pasted})
    assert 600 < len(back) <= 4000
    profile = client.get("/experts/Q001", params={"back": back})
    assert profile.status_code == 200 and "测名001" in profile.text
    link = re.search(r'<a href="(/experts[^"]*)">← 返回专家库', profile.text).group(1)
    assert parse_qs(urlsplit(link.replace("&amp;", "&")).query)["q"] == [pasted]


def test_the_profile_page_shows_the_expert_and_the_booking_slot_placeholder(
    client, session, district_user
):
    _directory(session, count=1)
    logged_in(client, district_user)
    page = client.get("/experts/Q000")
    assert page.status_code == 200
    assert "测名000" in page.text and "心理危机干预" in page.text
    assert 'id="next-slots"' in page.text


def test_an_unknown_expert_is_a_404_page_and_api_errors_stay_json(client, district_user):
    logged_in(client, district_user)
    page = client.get("/experts/NOPE")
    assert page.status_code == 404 and "专家不存在：NOPE" in page.text and "<html" in page.text
    api = client.get("/api/experts/NOPE")
    assert api.status_code == 404 and api.json() == {"detail": "专家不存在：NOPE"}
    assert client.get("/no/such/page").status_code == 404


def test_an_unexpected_error_is_a_generic_page_without_a_trace(app, district_user):
    def boom():
        raise RuntimeError("secret internals")

    app.add_api_route("/boom", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert "服务器内部错误" in response.text
    assert "secret internals" not in response.text and "Traceback" not in response.text


def test_navigation_lists_only_existing_pages_the_role_may_open(
    client, staff_user, district_user, expert_user
):
    def nav(user):
        logged_in(client, user)
        html = client.get("/").text
        paths = re.findall(
            r'<li><a href="([^"]+)"', html.split('aria-label="主导航"')[1].split("</nav>")[0]
        )
        for path in paths:  # every entry opens for this user
            assert client.get(path).status_code == 200, path
        return paths

    staff_nav, district_nav, expert_nav = nav(staff_user), nav(district_user), nav(expert_user)
    assert "/audit" in staff_nav and "/audit" not in district_nav
    assert "/profile" in expert_nav and "/profile" not in staff_nav


def test_the_dashboard_shows_the_panels_of_the_role(client, staff_user, district_user):
    logged_in(client, staff_user)
    staff = client.get("/").text
    assert "专家库概况" in staff and "最近操作" in staff
    logged_in(client, district_user)
    district = client.get("/").text
    assert "查找专家" in district and "专家库概况" not in district


def test_empty_home_panels_say_what_to_do_next_and_center_staff_find_the_reports(
    client, staff_user, district_user, expert_user
):
    logged_in(client, district_user)  # a new coordinator: nothing filed yet
    district = client.get("/").text
    assert "还没有需求：在「需求与匹配」中用自己的话描述学校遇到的情况" in district
    assert "还没有服务申请" in district and ">暂无<" not in district
    assert 'href="/reports/monthly"' not in district  # reports are the centers'
    logged_in(client, expert_user)  # no weekly hours yet: coordinators cannot book them
    assert "协调员暂时无法预约您" in client.get("/").text
    logged_in(client, staff_user)
    staff = client.get("/").text
    assert "没有待审批的申请。" in staff and 'href="/reports/monthly"' in staff


def test_an_expert_edits_their_profile_and_the_change_is_audited(client, session, expert_user):
    logged_in(client, expert_user)
    page = client.get("/profile")
    assert 'value="林晓"' in page.text
    data = {
        "csrf_token": form_token(page.text),
        "name": "林晓",
        "title": "主任医师",
        "organization": "西安市测试心理中心",
        "region": "陕西省|西安市|雁塔区",
        "specialties": "心理危机干预\n自杀风险评估、 家庭教育指导",
        "bio": "新的简介",
        "certifications": "",
        "languages": "普通话，陕西话",
        "formats": ["online", "onsite"],
        "service_types": ["training"],
        "years_experience": "12",
        "monthly_capacity_hours": "30",
    }
    response = client.post("/profile", data=data)
    assert response.status_code == 200 and "资料已保存" in response.text
    session.expire_all()
    expert = session.get(Expert, "P1")
    assert (expert.title, expert.service_types, expert.years_experience) == (
        "主任医师",
        ["training"],
        12,
    )
    assert client.get("/experts/P1").text.count("家庭教育指导") == 1
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "expert.update")).all()[-1]
    assert entry.actor == expert_user.username and entry.after["region"]["district"] == "雁塔区"
    again = client.post(
        "/profile", data={**data, "csrf_token": form_token(client.get("/profile").text)}
    )
    assert "资料没有变化" in again.text


def test_profile_errors_are_shown_next_to_their_fields_and_nothing_is_saved(
    client, session, expert_user
):
    logged_in(client, expert_user)
    token = form_token(client.get("/profile").text)
    data = {
        "csrf_token": token,
        "name": "名" * 500,
        "title": "",
        "organization": "西安市测试心理中心",
        "region": "陕西省|西安市|碑林区",
        "specialties": "",
        "bio": "",
        "certifications": "",
        "languages": "普通话",
        "formats": ["online"],
        "service_types": ["supervision"],
        "years_experience": "很多",
        "monthly_capacity_hours": "20",
    }
    response = client.post("/profile", data=data)
    assert response.status_code == 422
    html = response.text
    assert re.search(r'id="f-name"[^>]*aria-invalid="true"', html)
    assert '<p class="field-error" id="err-name">不能超过 64 个字符</p>' in html
    assert '<p class="field-error" id="err-years_experience">必须是整数</p>' in html
    assert '<p class="field-error" id="err-specialties">' in html
    assert 'value="很多"' in html  # the input is kept for correction
    session.expire_all()
    assert session.get(Expert, "P1").name == "林晓"


def test_an_htmx_profile_save_with_errors_returns_just_the_form(client, expert_user):
    logged_in(client, expert_user)
    token = form_token(client.get("/profile").text)
    response = client.post(
        "/profile",
        data={"name": "", "region": "陕西省|西安市|碑林区", "formats": ["online"]},
        headers={"HX-Request": "true", "HX-Target": "profile_form", "X-CSRF-Token": token},
    )
    assert response.status_code == 422
    assert response.text.lstrip().startswith('<form id="profile_form"')


def test_htmx_is_served_by_the_app_with_its_licence(client):
    response = client.get("/static/htmx.min.js")
    assert response.status_code == 200
    assert "Zero-Clause BSD" in response.text[:600] and "htmx.org 2." in response.text[:200]
    assert client.get("/static/app.css").status_code == 200


def test_pages_reference_no_external_hosts(client, district_user):
    logged_in(client, district_user)
    for path in ("/login", "/", "/experts"):
        html = client.get(path).text
        assert not re.search(r'(src|href)="(https?:)?//', html), path


def test_an_unexpected_error_of_a_logged_in_user_is_still_a_friendly_page(app, staff_user):
    def boom(user: PageUser):
        raise RuntimeError("secret internals")

    app.add_api_route("/boom-page", boom)
    with TestClient(app, raise_server_exceptions=False) as client:
        logged_in(client, staff_user)
        response = client.get("/boom-page")
    assert response.status_code == 500
    assert "服务器内部错误" in response.text and "secret internals" not in response.text
