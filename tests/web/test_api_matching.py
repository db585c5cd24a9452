import pytest
from sqlmodel import Session, select

from marketplace.accounts.principal import system_principal
from marketplace.audit.models import AuditEntry
from marketplace.requests.models import DistrictRequest
from marketplace.vocabulary import Role
from matching.service import confirmed_pairs
from tests.conftest import auth_headers, make_user
from tests.matching.db_support import fake_relevance, file_request, seed_pool


@pytest.fixture
def matching_app(app, session: Session):
    app.state.match_relevance = fake_relevance
    seed_pool(session)
    return app


@pytest.fixture
def staff(session, settings):
    return auth_headers(make_user(session, Role.staff), settings)


def test_recommendations_list_feasible_experts_best_first_with_chinese_reasons(
    client, matching_app, session, staff
):
    request = file_request(session)
    body = client.get(f"/api/requests/{request.id}/recommendations", headers=staff).json()
    # M3 is feasible but lacks the specialty; M4 works in 宝鸡 (onsite needs the same city)
    assert [item["expert_id"] for item in body["items"]] == ["M1", "M2", "M3"]
    assert body["items"][0]["reasons"][:2] == ["擅长：心理危机干预", "同区县可到校"]
    assert body["excluded"] is None


def test_recommendations_with_explain_say_why_others_were_excluded(
    client, matching_app, session, staff
):
    request = file_request(session, excluded_expert_ids=["M2"])
    body = client.get(
        f"/api/requests/{request.id}/recommendations?explain=true", headers=staff
    ).json()
    why = {item["expert_id"]: item["reasons"] for item in body["excluded"]}
    assert why["M2"] == ["在本申请的回避名单中"]
    assert why["M4"] == ["到校服务须由同市专家承担（专家在宝鸡市）"]


def test_a_district_sees_recommendations_only_for_its_own_requests(
    client, matching_app, session, settings
):
    request = file_request(session)
    other = auth_headers(make_user(session, Role.district, district="西安市/雁塔区"), settings)
    own = auth_headers(make_user(session, Role.district, district="西安市/碑林区"), settings)
    session.commit()  # keep the setup when the refused request rolls its transaction back
    assert (
        client.get(f"/api/requests/{request.id}/recommendations", headers=other).status_code == 403
    )
    assert client.get(f"/api/requests/{request.id}/recommendations", headers=own).status_code == 200


def test_batch_runs_are_staff_only(client, matching_app, session, settings):
    district = auth_headers(make_user(session, Role.district), settings)
    assert client.post("/api/matching/runs", json={}, headers=district).status_code == 403
    assert client.post("/api/matching/runs", json={}).status_code == 401


def test_an_empty_batch_is_refused_with_a_clear_message(client, matching_app, staff):
    response = client.post("/api/matching/runs", json={}, headers=staff)
    assert response.status_code == 422
    assert response.json()["detail"] == "没有待匹配的申请"


def test_run_adjust_confirm_turns_pairs_into_confirmed_pairs_and_requests_into_matched(
    client, matching_app, session, staff
):
    first = file_request(session)
    second = file_request(session, text="家长沟通，家庭教育指导", service_type="supervision")
    unserved = file_request(session, service_type="assessment")
    run = client.post("/api/matching/runs", json={}, headers=staff).json()
    assigned = {(p["request_id"], p["expert_id"]) for p in run["pairs"] if p["role"] == "assigned"}
    assert assigned == {(first.id, "M1"), (second.id, "M3")}
    assert run["unassigned"] == [{"request_id": unserved.id, "reason": "没有专家提供测评服务"}]

    adjusted = client.post(
        f"/api/matching/runs/{run['id']}/adjust",
        json={
            "remove": [{"request_id": first.id, "expert_id": "M1"}],
            "add": [{"request_id": first.id, "expert_id": "M2"}],
        },
        headers=staff,
    )
    assert adjusted.status_code == 200, adjusted.json()
    confirmed = client.post(f"/api/matching/runs/{run['id']}/confirm", headers=staff).json()
    assert confirmed["status"] == "confirmed"
    pairs = {
        (p.request_id, p.expert_id)
        for p in confirmed_pairs(session=session, user=system_principal("test"))
    }
    assert pairs == {(first.id, "M2"), (second.id, "M3")}
    assert session.get(DistrictRequest, first.id).status == "matched"
    assert session.get(DistrictRequest, unserved.id).status == "submitted"
    actions = session.exec(
        select(AuditEntry.action).where(AuditEntry.entity_type == "match_run")
    ).all()
    assert actions == ["match.run", "match.adjust", "match.confirm"]
    again = client.post(f"/api/matching/runs/{run['id']}/confirm", headers=staff)
    assert again.status_code == 409


def test_adjusting_in_an_infeasible_pair_is_refused_with_the_rule_broken(
    client, matching_app, session, staff
):
    request = file_request(session)
    run = client.post("/api/matching/runs", json={}, headers=staff).json()
    session.commit()
    response = client.post(
        f"/api/matching/runs/{run['id']}/adjust",
        json={
            "remove": [{"request_id": request.id, "expert_id": "M1"}],
            "add": [{"request_id": request.id, "expert_id": "M4"}],
        },
        headers=staff,
    )
    assert response.status_code == 422
    assert "到校服务须由同市专家承担" in response.json()["detail"]


def test_confirmed_hours_count_against_capacity_in_the_next_run(
    client, matching_app, session, staff
):
    file_request(session, hours=8)
    run = client.post("/api/matching/runs", json={}, headers=staff).json()
    client.post(f"/api/matching/runs/{run['id']}/confirm", headers=staff)
    later = file_request(session, hours=8, excluded_expert_ids=["M2", "M3"])
    second = client.post("/api/matching/runs", json={}, headers=staff).json()
    assert second["unassigned"] == [
        {"request_id": later.id, "reason": "符合条件的专家本月时长已被预约占满"}
    ]


def test_district_request_crud_over_http_respects_ownership(client, session, settings):
    owner = auth_headers(make_user(session, Role.district, district="西安市/碑林区"), settings)
    other = auth_headers(make_user(session, Role.district, district="西安市/雁塔区"), settings)
    body = {
        "text": "教师需要危机干预培训",
        "service_type": "training",
        "format": "online",
        "hours": 2,
        "window_start": "2027-03-01",
        "window_end": "2027-03-31",
    }
    created = client.post("/api/requests", json=body, headers=owner)
    assert created.status_code == 201, created.json()
    request_id = created.json()["id"]
    assert created.json()["district"]["district"] == "碑林区"
    session.commit()
    assert client.get(f"/api/requests/{request_id}", headers=other).status_code == 403
    assert (
        client.patch(f"/api/requests/{request_id}", json={"hours": 3}, headers=owner).json()[
            "hours"
        ]
        == 3
    )
    submitted = client.post(
        f"/api/requests/{request_id}/status", json={"status": "submitted"}, headers=owner
    )
    assert submitted.json()["status"] == "submitted"
    bad = client.post("/api/requests", json={**body, "hours": 0}, headers=owner)
    assert bad.status_code == 422 and "hours" in bad.json()["detail"]
    staff = auth_headers(make_user(session, Role.staff), settings)
    assert [r["id"] for r in client.get("/api/requests", headers=staff).json()["items"]] == [
        request_id
    ]
