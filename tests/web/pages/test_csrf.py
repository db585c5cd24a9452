from sqlmodel import Session

from marketplace.experts.models import Expert
from marketplace.vocabulary import Role
from tests.conftest import auth_headers, make_user
from tests.web.pages.conftest import form_token, logged_in

PROFILE = {
    "name": "林晓（新）",
    "title": "心理咨询师",
    "organization": "西安市测试心理中心",
    "region": "陕西省|西安市|碑林区",
    "specialties": "心理危机干预",
    "bio": "",
    "certifications": "",
    "languages": "普通话",
    "formats": ["online"],
    "service_types": ["supervision"],
    "years_experience": "10",
    "monthly_capacity_hours": "20",
}


def _name(session: Session) -> str:
    session.expire_all()
    return session.get(Expert, "P1").name


def test_a_cookie_post_without_the_token_is_a_403_chinese_page_and_changes_nothing(
    client, session, expert_user
):
    logged_in(client, expert_user)
    response = client.post("/profile", data=PROFILE)
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    assert "页面已过期或请求来源无法验证" in response.text
    assert "Traceback" not in response.text
    assert _name(session) == "林晓"


def test_a_wrong_token_is_refused_like_a_missing_one(client, session, expert_user):
    logged_in(client, expert_user)
    response = client.post("/profile", data={**PROFILE, "csrf_token": "forged"})
    assert response.status_code == 403
    assert _name(session) == "林晓"


def test_the_form_field_token_is_accepted(client, session, expert_user):
    logged_in(client, expert_user)
    token = form_token(client.get("/profile").text)
    response = client.post(
        "/profile", data={**PROFILE, "csrf_token": token}, follow_redirects=False
    )
    assert response.status_code == 303
    assert _name(session) == "林晓（新）"


def test_the_htmx_header_token_is_accepted(client, session, expert_user):
    logged_in(client, expert_user)
    token = form_token(client.get("/profile").text)
    response = client.post(
        "/profile",
        data=PROFILE,
        headers={"X-CSRF-Token": token, "HX-Request": "true", "HX-Target": "profile_form"},
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith('<form id="profile_form"')
    assert "资料已保存" in response.text
    assert _name(session) == "林晓（新）"


def test_the_token_is_read_from_multipart_forms_too(client, staff_user):
    logged_in(client, staff_user)
    token = form_token(client.get("/").text)
    response = client.post("/logout", files={"csrf_token": (None, token)}, follow_redirects=False)
    assert response.status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303


def test_the_json_api_used_with_the_cookie_needs_the_token_as_well(client, session, expert_user):
    logged_in(client, expert_user)
    response = client.patch("/api/experts/P1", json={"name": "改名"})
    assert response.status_code == 403
    assert response.json() == {"detail": "页面已过期或请求来源无法验证，请刷新页面后重试"}
    assert _name(session) == "林晓"


def test_bearer_token_api_calls_need_no_csrf_token(client, session, settings, expert_user):
    response = client.patch(
        "/api/experts/P1", json={"name": "改名"}, headers=auth_headers(expert_user, settings)
    )
    assert response.status_code == 200
    assert _name(session) == "改名"


def test_a_different_sessions_token_is_refused(app, client, session, expert_user):
    from fastapi.testclient import TestClient

    other = make_user(session, Role.expert, username="expert-p1-b", expert_id="P1")
    with TestClient(app) as second:
        logged_in(second, other)
        foreign_token = form_token(second.get("/").text)
    logged_in(client, expert_user)
    assert client.post("/profile", data={**PROFILE, "csrf_token": foreign_token}).status_code == 403
