"""Resource centers: city staff act on their city only, province staff on everything, observers
read their region and change nothing (HTTP API and CLI, SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from marketplace.accounts.models import User, UserCreate
from marketplace.accounts.permissions import POLICY, Action, Scope
from marketplace.accounts.principal import system_principal
from marketplace.accounts.service import create_user
from marketplace.centers.models import ResourceCenter
from marketplace.centers.service import center_named
from marketplace.errors import InvalidInput
from marketplace.vocabulary import Role
from tests.conftest import TEST_PASSWORD, auth_headers
from tests.web.allocation_support import quick_user, service_body


def center_user(session, role: Role, center: str) -> User:
    user = quick_user(session, role)
    user.center_id = center_named(session=session, name=center).id
    session.add(user)
    session.flush()
    return user


class World:
    """Province staff, city staff of 西安市 and 宝鸡市, an observer of 宝鸡市, and a
    coordinator in each city."""

    def __init__(self, session, settings):
        def headers(user: User) -> dict[str, str]:
            return auth_headers(user, settings)

        self.province = headers(quick_user(session, Role.staff))
        self.xian = headers(center_user(session, Role.city_staff, "西安市"))
        self.baoji = headers(center_user(session, Role.city_staff, "宝鸡市"))
        self.baoji_observer = headers(center_user(session, Role.observer, "宝鸡市"))
        self.beilin = headers(quick_user(session, Role.district, district="西安市/碑林区"))
        self.weibin = headers(quick_user(session, Role.district, district="宝鸡市/渭滨区"))


@pytest.fixture
def world(session, settings):
    return World(session, settings)


def create(client, headers, **overrides):
    response = client.post("/api/services", json=service_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def apply(client, headers, service_id):
    response = client.post(
        "/api/applications",
        json={"service_id": service_id, "quantity": 2, "purpose": "教师团体督导"},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_every_city_and_the_province_have_a_center(session):
    centers = session.exec(select(ResourceCenter)).all()
    names = {c.name for c in centers}
    assert {"陕西省", "西安市", "宝鸡市"} <= names
    assert sum(1 for c in centers if c.city_id is None) == 1


def test_a_city_service_belongs_to_its_center_and_is_open_to_its_districts_only(
    client, session, world
):
    service = create(client, world.xian, name="西安市督导包")
    xian = center_named(session=session, name="西安市")
    assert service["center_id"] == xian.id
    assert service["center_label"] == "西安市资源中心"
    # Eligibility defaulted to the city's districts: 碑林区 may apply, 渭滨区 (宝鸡) may not.
    assert client.get(f"/api/services/{service['id']}", headers=world.beilin).status_code == 200
    assert client.get(f"/api/services/{service['id']}", headers=world.weibin).status_code == 403
    listed = [s["id"] for s in client.get("/api/services", headers=world.weibin).json()]
    assert service["id"] not in listed


def test_city_staff_cannot_open_their_service_to_another_city(client, session, world):
    weibin = session.exec(select(ResourceCenter).where(ResourceCenter.name == "宝鸡市")).one()
    assert weibin.city_id is not None
    body = service_body(name="越界服务", eligible_zone_ids=[])
    from marketplace.districts.service import find_district

    body["eligible_district_ids"] = [find_district(session=session, name="宝鸡市/渭滨区").id]
    response = client.post("/api/services", json=body, headers=world.xian)
    assert response.status_code == 403
    assert response.json()["code"] == "outside_region"
    assert response.json()["field"] == "eligible_district_ids"


def test_an_application_goes_to_the_center_that_owns_the_service(client, world):
    city_service = create(client, world.xian, name="西安市督导包")
    province_service = create(client, world.province, name="全省测评授权")
    to_city = apply(client, world.beilin, city_service["id"])
    to_province = apply(client, world.beilin, province_service["id"])
    # 宝鸡 staff may neither see nor decide 西安's application.
    assert client.get(f"/api/applications/{to_city}", headers=world.baoji).status_code == 403
    refused = client.post(f"/api/applications/{to_city}/approve", headers=world.baoji)
    assert refused.status_code == 403
    # 西安 staff decide their own service's application, not the province's.
    approved = client.post(f"/api/applications/{to_city}/approve", headers=world.xian)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    foreign = client.post(f"/api/applications/{to_province}/approve", headers=world.xian)
    assert foreign.status_code == 403
    assert foreign.json()["code"] == "foreign_center"
    # Province staff decide the province's service.
    ok = client.post(f"/api/applications/{to_province}/approve", headers=world.province)
    assert ok.status_code == 200


def test_lists_are_cut_to_the_city(client, world):
    service = create(client, world.province, name="全省督导包")
    beilin_app = apply(client, world.beilin, service["id"])
    weibin_app = apply(client, world.weibin, service["id"])
    ids = lambda headers: {a["id"] for a in client.get("/api/applications", headers=headers).json()}  # noqa: E731
    assert ids(world.xian) == {beilin_app}
    assert ids(world.baoji) == {weibin_app}
    assert ids(world.baoji_observer) == {weibin_app}
    assert {beilin_app, weibin_app} <= ids(world.province)


def test_city_staff_see_their_districts_requests_only(client, world):
    body = {
        "text": "教师需要团体辅导督导",
        "service_type": "supervision",
        "format": "online",
        "hours": 2,
        "window_start": "2027-03-01",
        "window_end": "2027-03-31",
        "submit": True,
    }
    mine = client.post("/api/requests", json=body, headers=world.beilin)
    theirs = client.post("/api/requests", json=body, headers=world.weibin)
    assert mine.status_code == 201 and theirs.status_code == 201
    listed = client.get("/api/requests", headers=world.xian).json()["items"]
    assert {r["id"] for r in listed} == {mine.json()["id"]}
    assert client.get(f"/api/requests/{theirs.json()['id']}", headers=world.xian).status_code == 403


def test_the_observer_reads_their_regions_report_and_changes_nothing(client, world):
    service = create(client, world.baoji, name="宝鸡市测评授权")
    application = apply(client, world.weibin, service["id"])
    decided = client.post(f"/api/applications/{application}/approve", headers=world.baoji)
    assert decided.status_code == 200, decided.text
    report = client.get("/api/reports/allocation", headers=world.baoji_observer)
    assert report.status_code == 200
    assert {row["district_name"] for row in report.json()["rows"]} <= {
        "渭滨区", "金台区", "陈仓区", "凤翔区", "岐山县", "扶风县", "眉县",
        "陇县", "千阳县", "麟游县", "凤县", "太白县",
    }  # fmt: skip
    assert report.json()["rows"], "the region's own rows are there"
    for method, path, body in (
        ("POST", f"/api/applications/{application}/release", None),
        ("POST", "/api/services", service_body()),
        ("PATCH", f"/api/services/{service['id']}", {"description": "改"}),
        ("POST", "/api/matching/runs", {}),
    ):
        response = client.request(method, path, json=body, headers=world.baoji_observer)
        assert response.status_code == 403, (path, response.text)
    # The city's own staff see the same region, other cities' staff none of it.
    xian_rows = client.get("/api/reports/allocation", headers=world.xian).json()["rows"]
    assert all(row["district_name"] != "渭滨区" for row in xian_rows)


def test_the_policy_gives_every_role_a_row_for_reading_experts():
    assert set(POLICY[Action.expert_read]) == set(Role)
    assert POLICY[Action.application_decide][Role.city_staff] is Scope.region
    assert Role.observer not in POLICY[Action.application_decide]


def test_city_staff_need_a_city_center(session):
    data = UserCreate(
        username="city-no-center", password=TEST_PASSWORD, role=Role.city_staff, center="陕西省"
    )
    with pytest.raises(InvalidInput) as refused:
        create_user(session=session, data=data, user=system_principal("test"))
    assert refused.value.field == "center"
