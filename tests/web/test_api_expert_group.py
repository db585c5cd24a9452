"""City expert groups (市级专家指导组): city staff keep their own city's group and pair members
with the city's zones, province staff any city's; batch matching over a city's districts puts
the group first where fit is equal (HTTP API, SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from marketplace.audit.models import AuditEntry
from marketplace.centers.service import center_named, province_center
from marketplace.districts.models import City, Zone
from marketplace.vocabulary import Role
from tests.booking.conftest import add_experts
from tests.conftest import auth_headers, expert_record
from tests.marketplace.test_centers import center_user
from tests.matching.db_support import fake_relevance, file_request
from tests.web.allocation_support import quick_user


@pytest.fixture
def people(session, settings):
    def headers(user):
        return auth_headers(user, settings)

    return {
        "province": headers(quick_user(session, Role.staff)),
        "xian": headers(center_user(session, Role.city_staff, "西安市")),
        "baoji": headers(center_user(session, Role.city_staff, "宝鸡市")),
        "xian_observer": headers(center_user(session, Role.observer, "西安市")),
        "beilin": headers(quick_user(session, Role.district, district="西安市/碑林区")),
    }


def zones_of(session, city: str) -> list[int]:
    return list(
        session.exec(
            select(Zone.id).join(City, City.id == Zone.city_id).where(City.name == city)
        ).all()
    )


def twin_experts(session, *ids: str) -> None:
    """Experts alike in every way that matching weighs."""
    add_experts(
        session,
        *(
            expert_record(
                id=i, name=f"同等专家{i}", specialties=["心理危机干预"], monthly_capacity_hours=8
            )
            for i in ids
        ),
    )


def test_city_staff_attach_an_expert_with_zones_re_pair_and_detach_them(client, session, people):
    twin_experts(session, "G1")
    xian = center_named(session=session, name="西安市").id
    zones = zones_of(session, "西安市")
    url = f"/api/centers/{xian}/experts"
    added = client.post(
        url, json={"expert_id": "G1", "zone_ids": zones[:2]}, headers=people["xian"]
    )
    assert added.status_code == 200, added.text
    assert [z["id"] for z in added.json()["zones"]] == sorted(zones[:2])
    group = client.get(url, headers=people["xian"]).json()
    assert group["center"] == "西安市资源中心"
    assert {z["id"] for z in group["zones"]} == set(zones)
    assert [(m["expert_id"], m["name"]) for m in group["members"]] == [("G1", "同等专家G1")]
    # Posting again re-pairs: the zones given replace the old ones.
    again = client.post(
        url, json={"expert_id": "G1", "zone_ids": zones[2:3]}, headers=people["xian"]
    )
    assert [z["id"] for z in again.json()["zones"]] == zones[2:3]
    assert len(client.get(url, headers=people["xian"]).json()["members"]) == 1
    assert client.delete(f"{url}/G1", headers=people["xian"]).status_code == 204
    assert client.get(url, headers=people["xian"]).json()["members"] == []
    assert client.delete(f"{url}/G1", headers=people["xian"]).status_code == 404
    actions = session.exec(
        select(AuditEntry.action).where(AuditEntry.entity_type == "center")
    ).all()
    assert actions == ["center.group_set", "center.group_set", "center.group_remove"]


def test_a_city_keeps_only_its_own_group_and_its_own_zones(client, session, people):
    twin_experts(session, "G1")
    xian = center_named(session=session, name="西安市").id
    baoji_zone = zones_of(session, "宝鸡市")[0]
    url = f"/api/centers/{xian}/experts"
    refused = client.post(
        url, json={"expert_id": "G1", "zone_ids": [baoji_zone]}, headers=people["xian"]
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["field"] == "zone_ids"
    missing = client.post(url, json={"expert_id": "NOPE1", "zone_ids": []}, headers=people["xian"])
    assert missing.status_code == 404 and missing.json()["field"] == "expert_id"
    for who in ("baoji", "xian_observer", "beilin"):
        assert client.get(url, headers=people[who]).status_code == 403, who
        body = {"expert_id": "G1", "zone_ids": []}
        assert client.post(url, json=body, headers=people[who]).status_code == 403, who
        assert client.delete(f"{url}/G1", headers=people[who]).status_code == 403, who
    assert client.get(url, headers=people["xian"]).json()["members"] == []


def test_province_staff_keep_any_citys_group_and_the_province_has_none(client, session, people):
    twin_experts(session, "G1")
    baoji = center_named(session=session, name="宝鸡市").id
    added = client.post(
        f"/api/centers/{baoji}/experts",
        json={"expert_id": "G1", "zone_ids": []},
        headers=people["province"],
    )
    assert added.status_code == 200
    assert (
        client.get(f"/api/centers/{baoji}/experts", headers=people["baoji"]).json()["members"][0][
            "expert_id"
        ]
        == "G1"
    )
    province = province_center(session=session).id
    response = client.get(f"/api/centers/{province}/experts", headers=people["province"])
    assert response.status_code == 404 and "省级" in response.json()["detail"]


def _assigned(client, headers, request_id) -> set[str]:
    run = client.post("/api/matching/runs", json={"request_ids": [request_id]}, headers=headers)
    assert run.status_code == 201, run.text
    return {p["expert_id"] for p in run.json()["pairs"] if p["request_id"] == request_id}


def test_a_citys_batch_run_puts_its_group_first_and_leaves_other_cities_groups_out(
    app, client, session, people
):
    app.state.match_relevance = fake_relevance
    twin_experts(session, "G1", "G2")
    request_id = file_request(session, district="西安市/碑林区").id
    xian = center_named(session=session, name="西安市").id
    baoji = center_named(session=session, name="宝鸡市").id
    for center, expert in ((xian, "G2"), (baoji, "G1")):
        response = client.post(
            f"/api/centers/{center}/experts",
            json={"expert_id": expert, "zone_ids": []},
            headers=people["province"],
        )
        assert response.status_code == 200
    # 西安's run: G2 (its group) is in, G1 (宝鸡's group) is out of the pool altogether.
    assert _assigned(client, people["xian"], request_id) == {"G2"}
    # Move G2 to 宝鸡's group too: 西安 then has no expert for the request from either twin.
    client.delete(f"/api/centers/{xian}/experts/G2", headers=people["xian"])
    client.post(
        f"/api/centers/{baoji}/experts",
        json={"expert_id": "G2", "zone_ids": []},
        headers=people["baoji"],
    )
    assert _assigned(client, people["xian"], request_id) == set()
