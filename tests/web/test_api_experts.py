import json

import pytest
from sqlmodel import Session

from marketplace.accounts.principal import system_principal
from marketplace.experts.importing import import_experts
from marketplace.vocabulary import Role
from tests.conftest import TEST_PASSWORD, auth_headers, expert_record, make_user


@pytest.fixture
def pool(session: Session) -> None:
    records = [
        expert_record(
            id="X1",
            name="甲",
            domain="psychology",
            service_types=["supervision"],
            formats=["online"],
        ),
        expert_record(
            id="X2",
            name="乙",
            domain="medicine",
            specialties=["情绪障碍诊疗"],
            region={"province": "陕西省", "city": "宝鸡市", "district": "渭滨区"},
        ),
        expert_record(
            id="X3", name="丙", domain="education", specialties=["家庭教育指导"], formats=["onsite"]
        ),
    ]
    report = import_experts(
        session=session,
        lines=[json.dumps(r, ensure_ascii=False) for r in records],
        user=system_principal("t"),
    )
    assert report.created == 3


def test_listing_experts_without_login_is_401_with_a_chinese_message(client, pool):
    response = client.get("/api/experts")
    assert response.status_code == 401
    assert response.json()["detail"] == "请先登录"


def test_password_login_returns_a_bearer_token_that_identifies_the_user(client, session):
    make_user(session, Role.district, username="coord1")
    response = client.post(
        "/api/auth/token", data={"username": "coord1", "password": TEST_PASSWORD}
    )
    assert response.status_code == 200
    token = response.json()["access_token"]
    me = client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).json()
    assert (me["username"], me["role"], me["district_name"]) == ("coord1", "district", "碑林区")


def test_a_wrong_password_is_401_and_the_same_as_an_unknown_user(client, session):
    make_user(session, Role.staff, username="staffer")
    wrong = client.post("/api/auth/token", data={"username": "staffer", "password": "nope-12345"})
    unknown = client.post("/api/auth/token", data={"username": "ghost", "password": "nope-12345"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "用户名或密码错误"}


def test_a_forged_token_is_rejected(client):
    response = client.get("/api/me", headers={"Authorization": "Bearer not.a.token"})
    assert response.status_code == 401


def test_experts_list_filters_by_domain_city_format_service_type_and_specialty(
    client, session, settings, pool
):
    headers = auth_headers(make_user(session, Role.district), settings)

    def ids(**params):
        response = client.get("/api/experts", params=params, headers=headers)
        assert response.status_code == 200
        return [e["id"] for e in response.json()["items"]]

    assert ids(domain="medicine") == ["X2"]
    assert ids(city="宝鸡市") == ["X2"]
    assert ids(format="online") == ["X1", "X2"]
    assert ids(service_type="crisis_support") == ["X2", "X3"]
    assert ids(specialty="家庭教育指导") == ["X3"]


def test_experts_list_paginates_with_a_total(client, session, settings, pool):
    headers = auth_headers(make_user(session, Role.staff), settings)
    first = client.get("/api/experts", params={"page_size": 2}, headers=headers).json()
    second = client.get("/api/experts", params={"page_size": 2, "page": 2}, headers=headers).json()
    assert first["total"] == second["total"] == 3
    assert [e["id"] for e in first["items"] + second["items"]] == ["X1", "X2", "X3"]


def test_bad_filter_values_are_422_with_a_readable_chinese_message(client, session, settings):
    headers = auth_headers(make_user(session, Role.staff), settings)
    response = client.get(
        "/api/experts", params={"domain": "astrology", "page": 0}, headers=headers
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "domain" in detail and "page" in detail
    # The choices are named in Chinese, never as pydantic's English list of values.
    assert "请选择其中之一：" in detail and "心理" in detail and "'psychology'" not in detail


def test_expert_detail_and_unknown_id(client, session, settings, pool):
    headers = auth_headers(make_user(session, Role.district), settings)
    assert client.get("/api/experts/X2", headers=headers).json()["region"]["city"] == "宝鸡市"
    missing = client.get("/api/experts/NOPE", headers=headers)
    assert missing.status_code == 404 and "NOPE" in missing.json()["detail"]


def test_staff_create_an_expert_and_districts_may_not(client, session, settings):
    body = expert_record(id=None)
    body.pop("id")
    district = client.post(
        "/api/experts", json=body, headers=auth_headers(make_user(session, Role.district), settings)
    )
    assert district.status_code == 403
    created = client.post(
        "/api/experts", json=body, headers=auth_headers(make_user(session, Role.staff), settings)
    )
    assert created.status_code == 201
    assert created.json()["id"].startswith("E") and created.json()["status"] == "active"


def test_creating_with_an_unknown_region_is_422(client, session, settings):
    body = expert_record(
        id="R1", region={"province": "陕西省", "city": "火星市", "district": "某区"}
    )
    response = client.post(
        "/api/experts", json=body, headers=auth_headers(make_user(session, Role.staff), settings)
    )
    assert response.status_code == 422 and "火星市" in response.json()["detail"]


def test_an_expert_edits_only_their_own_profile(client, session, settings, pool):
    me = make_user(session, Role.expert, expert_id="X1")
    headers = auth_headers(me, settings)
    own = client.patch("/api/experts/X1", json={"bio": "新的简介"}, headers=headers)
    assert own.status_code == 200 and own.json()["bio"] == "新的简介"
    other = client.patch("/api/experts/X2", json={"bio": "篡改"}, headers=headers)
    assert other.status_code == 403
    status = client.patch("/api/experts/X1", json={"verified": True}, headers=headers)
    assert status.status_code == 403


def test_staff_pause_an_expert_and_the_change_is_audited(client, session, settings, pool):
    from marketplace.audit.service import list_entries

    headers = auth_headers(make_user(session, Role.staff, username="auditor"), settings)
    response = client.post("/api/experts/X3/pause", headers=headers)
    assert response.status_code == 200 and response.json()["status"] == "paused"
    entries, _ = list_entries(session=session, entity_id="X3", action="expert.update")
    assert entries[0].actor == "auditor"
    assert (entries[0].before["status"], entries[0].after["status"]) == ("active", "paused")
    assert (
        client.post(
            "/api/experts/X3/pause",
            headers=auth_headers(make_user(session, Role.district), settings),
        ).status_code
        == 403
    )


def test_health_answers_200_when_the_database_is_ready(client):
    response = client.get("/api/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_experts_list_filters_on_json_lists_with_chinese_values(client, session, settings):
    """Languages and formats are JSON lists stored with escaped non-ASCII text: the filter is
    real list containment, so 普通话 finds its experts and 普通 (a substring) finds none."""
    records = [
        expert_record(id="L1", languages=["普通话"], formats=["online"]),
        expert_record(id="L2", languages=["普通话", "英语"], formats=["onsite"]),
        expert_record(id="L3", languages=["陕西方言"], formats=["online", "onsite"]),
    ]
    report = import_experts(
        session=session,
        lines=[json.dumps(r, ensure_ascii=False) for r in records],
        user=system_principal("t"),
    )
    assert report.created == 3
    headers = auth_headers(make_user(session, Role.district), settings)

    def ids(**params):
        response = client.get("/api/experts", params=params, headers=headers)
        assert response.status_code == 200
        return sorted(e["id"] for e in response.json()["items"])

    assert ids(language="普通话") == ["L1", "L2"]
    assert ids(language="英语") == ["L2"]
    assert ids(language="普通") == []
    assert ids(format="onsite") == ["L2", "L3"]
    assert ids(format="online", language="陕西方言") == ["L3"]
