"""Procured-services catalogue over HTTP: staff write, districts read what they may apply for."""

from datetime import timedelta

import pytest
from sqlmodel import select

from marketplace.audit.service import list_entries
from marketplace.districts.service import find_district
from marketplace.outbox.models import IndexOutbox
from marketplace.services.service import today
from tests.web.allocation_support import Actors, apply, create_service, service_body


@pytest.fixture
def actors(session, settings):
    return Actors(session, settings)


def test_staff_create_a_service_and_it_starts_with_everything_remaining(client, actors):
    created = create_service(client, actors, quantity=12.5)
    assert created["id"] > 0 and created["kind"] == "supervision_hours"
    detail = client.get(f"/api/services/{created['id']}", headers=actors.staff).json()
    assert (detail["quantity"], detail["remaining_quantity"], detail["allocated_quantity"]) == (
        12.5,
        12.5,
        0,
    )


def test_creating_a_service_is_audited_and_queued_for_the_search_index(client, session, actors):
    created = create_service(client, actors)
    entries, _ = list_entries(session=session, entity_type="service", entity_id=str(created["id"]))
    assert [e.action for e in entries] == ["service.create"]
    assert entries[0].actor == "staff-a" and entries[0].after["name"] == "专家督导小时包"
    queued = session.exec(
        select(IndexOutbox).where(
            IndexOutbox.entity_type == "service", IndexOutbox.entity_id == str(created["id"])
        )
    ).all()
    assert [q.operation for q in queued] == ["upsert"]


def test_districts_may_not_create_services(client, actors):
    response = client.post("/api/services", json=service_body(), headers=actors.beilin)
    assert response.status_code == 403 and response.json()["detail"] == "没有权限执行此操作"


def test_listing_without_login_is_401(client):
    assert client.get("/api/services").status_code == 401


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"quantity": 0}, "quantity"),
        ({"quantity": -3}, "quantity"),
        ({"quantity": 1.234}, "quantity"),
        ({"kind": "massage"}, "kind"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_service_fields_are_422_with_a_chinese_message(client, actors, overrides, field):
    response = client.post("/api/services", json=service_body(**overrides), headers=actors.staff)
    assert response.status_code == 422
    assert (
        field in response.json()["detail"] and "提交的数据不符合要求" in response.json()["detail"]
    )


def test_a_quantity_with_more_than_two_decimals_is_explained_in_chinese(client, actors):
    response = client.post("/api/services", json=service_body(quantity=1.234), headers=actors.staff)
    assert response.status_code == 422 and "最多 2 位小数" in response.json()["detail"]


def test_a_validity_period_that_ends_before_it_starts_is_422(client, actors):
    body = service_body(
        valid_from=today().isoformat(), valid_to=(today() - timedelta(days=1)).isoformat()
    )
    response = client.post("/api/services", json=body, headers=actors.staff)
    assert response.status_code == 422 and "有效期" in response.json()["detail"]


def test_eligibility_naming_an_unknown_district_is_422(client, actors):
    response = client.post(
        "/api/services", json=service_body(eligible_district_ids=[999999]), headers=actors.staff
    )
    assert response.status_code == 422 and "999999" in response.json()["detail"]


def test_a_district_lists_only_the_services_it_is_eligible_for(client, session, actors):
    beilin = find_district(session=session, name="西安市/碑林区")
    open_to_all = create_service(client, actors, name="心理援助热线服务", kind="hotline", unit="月")
    beilin_only = create_service(client, actors, name="碑林专享", eligible_district_ids=[beilin.id])
    zone_only = create_service(
        client, actors, name="城六区片区专享", eligible_zone_ids=[beilin.zone_id]
    )
    baoji_only = create_service(
        client,
        actors,
        name="宝鸡专享",
        eligible_district_ids=[find_district(session=session, name="宝鸡市/渭滨区").id],
    )
    seen = {s["id"] for s in client.get("/api/services", headers=actors.beilin).json()}
    assert {open_to_all["id"], beilin_only["id"], zone_only["id"]} <= seen
    assert baoji_only["id"] not in seen
    assert client.get(f"/api/services/{baoji_only['id']}", headers=actors.beilin).status_code == 403
    staff_seen = {s["id"] for s in client.get("/api/services", headers=actors.staff).json()}
    assert baoji_only["id"] in staff_seen


def test_staff_update_a_service_and_the_change_is_audited_with_before_and_after(
    client, session, actors
):
    created = create_service(client, actors)
    response = client.patch(
        f"/api/services/{created['id']}",
        json={"quantity": 20, "vendor": "新供应商"},
        headers=actors.staff,
    )
    assert response.status_code == 200
    assert (response.json()["quantity"], response.json()["vendor"]) == (20, "新供应商")
    entries, _ = list_entries(session=session, entity_type="service", action="service.update")
    assert (entries[0].before["quantity"], entries[0].after["quantity"]) == (10, 20)


def test_the_quantity_bought_cannot_drop_below_what_is_already_allocated(client, actors):
    service = create_service(client, actors, quantity=10)
    application = apply(client, actors.beilin, service["id"], quantity=6)
    client.post(
        f"/api/applications/{application['id']}/approve", json={"quantity": 6}, headers=actors.staff
    )
    response = client.patch(
        f"/api/services/{service['id']}", json={"quantity": 5}, headers=actors.staff
    )
    assert response.status_code == 409 and "不能少于已分配" in response.json()["detail"]
    assert (
        client.get(f"/api/services/{service['id']}", headers=actors.staff).json()["quantity"] == 10
    )


def test_an_unapplied_service_can_be_deleted_and_the_index_is_told(client, session, actors):
    created = create_service(client, actors)
    assert client.delete(f"/api/services/{created['id']}", headers=actors.staff).status_code == 204
    assert client.get(f"/api/services/{created['id']}", headers=actors.staff).status_code == 404
    operations = session.exec(
        select(IndexOutbox.operation).where(
            IndexOutbox.entity_id == str(created["id"]), IndexOutbox.entity_type == "service"
        )
    ).all()
    assert operations[-1] == "delete"


def test_a_service_with_applications_cannot_be_deleted(client, actors):
    service = create_service(client, actors)
    apply(client, actors.beilin, service["id"])
    response = client.delete(f"/api/services/{service['id']}", headers=actors.staff)
    assert response.status_code == 409 and "不能删除" in response.json()["detail"]


def test_an_unknown_service_is_404_with_its_id(client, actors):
    response = client.get("/api/services/424242", headers=actors.staff)
    assert response.status_code == 404 and "424242" in response.json()["detail"]
