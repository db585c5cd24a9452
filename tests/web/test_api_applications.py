"""District applications, approvals within the remainder, the ledger and the fair proposal."""

from datetime import timedelta

import pytest
from sqlmodel import select

from marketplace.accounts.principal import system_principal
from marketplace.allocation.models import LedgerEntry
from marketplace.allocation.service import consume_supervision_hours
from marketplace.audit.service import list_entries
from marketplace.districts.service import find_district
from marketplace.services.service import today
from marketplace.vocabulary import Role
from tests.conftest import auth_headers
from tests.web.allocation_support import Actors, apply, create_service, quick_user


@pytest.fixture
def actors(session, settings):
    return Actors(session, settings)


@pytest.fixture
def service(client, actors):
    return create_service(client, actors, quantity=10)


def remaining(client, actors, service_id):
    return client.get(f"/api/services/{service_id}", headers=actors.staff).json()[
        "remaining_quantity"
    ]


def approve(client, actors, application_id, quantity=None):
    body = None if quantity is None else {"quantity": quantity}
    return client.post(
        f"/api/applications/{application_id}/approve", json=body, headers=actors.staff
    )


# --- applying ------------------------------------------------------------------------------


def test_a_district_applies_and_sees_its_application_as_submitted(client, actors, service):
    created = apply(
        client, actors.beilin, service["id"], quantity=4, target_schools=["西安市第一中学"]
    )
    assert created["id"] > 0
    assert (created["status"], created["district_name"], created["quantity"]) == (
        "submitted",
        "碑林区",
        4,
    )
    assert created["target_schools"] == ["西安市第一中学"]


def test_staff_cannot_apply_on_behalf_of_a_district(client, actors, service):
    body = {"service_id": service["id"], "quantity": 1, "purpose": "x"}
    response = client.post("/api/applications", json=body, headers=actors.staff)
    assert response.status_code == 403 and "区县协调员" in response.json()["detail"]


@pytest.mark.parametrize("quantity", [0, -2])
def test_zero_or_negative_quantities_are_422_and_nothing_is_created(
    client, actors, service, quantity
):
    body = {"service_id": service["id"], "quantity": quantity, "purpose": "x"}
    response = client.post("/api/applications", json=body, headers=actors.beilin)
    assert response.status_code == 422 and "quantity" in response.json()["detail"]
    assert client.get("/api/applications", headers=actors.beilin).json() == []


def test_applying_for_an_expired_service_is_refused(client, actors):
    expired = create_service(
        client,
        actors,
        valid_from=(today() - timedelta(days=60)).isoformat(),
        valid_to=(today() - timedelta(days=1)).isoformat(),
    )
    body = {"service_id": expired["id"], "quantity": 1, "purpose": "x"}
    response = client.post("/api/applications", json=body, headers=actors.beilin)
    assert response.status_code == 422 and "已过有效期" in response.json()["detail"]
    assert client.get("/api/applications", headers=actors.beilin).json() == []


def test_applying_for_a_service_the_district_is_not_eligible_for_is_403(client, session, actors):
    baoji = find_district(session=session, name="宝鸡市/渭滨区")
    other = create_service(client, actors, eligible_district_ids=[baoji.id])
    body = {"service_id": other["id"], "quantity": 1, "purpose": "x"}
    response = client.post("/api/applications", json=body, headers=actors.beilin)
    assert response.status_code == 403 and "适用范围" in response.json()["detail"]


def test_applying_for_an_unknown_service_is_404(client, actors):
    body = {"service_id": 987654, "quantity": 1, "purpose": "x"}
    assert client.post("/api/applications", json=body, headers=actors.beilin).status_code == 404


# --- who sees what ---------------------------------------------------------------------------


def test_districts_see_only_their_own_applications_and_staff_see_all(client, actors, service):
    mine = apply(client, actors.beilin, service["id"])
    theirs = apply(client, actors.yanta, service["id"])
    assert [a["id"] for a in client.get("/api/applications", headers=actors.beilin).json()] == [
        mine["id"]
    ]
    assert client.get(f"/api/applications/{theirs['id']}", headers=actors.beilin).status_code == 403
    asked_for_other = client.get(
        "/api/applications", params={"district_id": theirs["district_id"]}, headers=actors.beilin
    )
    assert asked_for_other.status_code == 403
    all_ids = [a["id"] for a in client.get("/api/applications", headers=actors.staff).json()]
    assert {mine["id"], theirs["id"]} <= set(all_ids)


def test_expert_accounts_cannot_read_applications(client, session, settings, actors, service):
    expert = auth_headers(quick_user(session, Role.expert), settings)
    assert client.get("/api/applications", headers=expert).status_code == 403


# --- approving -------------------------------------------------------------------------------


def test_approving_in_full_returns_the_approved_quantity_and_reduces_the_remainder(
    client, actors, service
):
    application = apply(client, actors.beilin, service["id"], quantity=4)
    response = approve(client, actors, application["id"], 4)
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["approved_quantity"], body["approval"], body["balance"]) == (
        "approved",
        4,
        "full",
        4,
    )
    assert remaining(client, actors, service["id"]) == 6


def test_approving_without_a_quantity_approves_what_was_requested(client, actors, service):
    application = apply(client, actors.beilin, service["id"], quantity=3.5)
    assert approve(client, actors, application["id"]).json()["approved_quantity"] == 3.5


def test_a_partial_approval_is_marked_partial(client, actors, service):
    application = apply(client, actors.beilin, service["id"], quantity=4)
    body = approve(client, actors, application["id"], 2.5).json()
    assert (body["approved_quantity"], body["approval"]) == (2.5, "partial")


def test_approving_more_than_remains_is_409_and_changes_nothing(client, session, actors, service):
    first = apply(client, actors.beilin, service["id"], quantity=8)
    approve(client, actors, first["id"], 8)
    second = apply(client, actors.yanta, service["id"], quantity=5)
    response = approve(client, actors, second["id"], 5)
    assert response.status_code == 409
    assert response.json()["detail"] == "剩余数量不足：申请批准 5小时，该服务仅剩 2小时"
    assert (
        client.get(f"/api/applications/{second['id']}", headers=actors.staff).json()["status"]
        == "submitted"
    )
    assert remaining(client, actors, service["id"]) == 2
    assert (
        len(
            session.exec(
                select(LedgerEntry).where(LedgerEntry.application_id == second["id"])
            ).all()
        )
        == 0
    )


def test_approving_more_than_was_applied_for_is_422(client, actors, service):
    application = apply(client, actors.beilin, service["id"], quantity=2)
    response = approve(client, actors, application["id"], 3)
    assert response.status_code == 422 and "不能超过申请数量" in response.json()["detail"]
    assert remaining(client, actors, service["id"]) == 10


def test_approving_twice_is_409_and_allocates_once(client, actors, service):
    application = apply(client, actors.beilin, service["id"], quantity=2)
    assert approve(client, actors, application["id"], 2).status_code == 200
    again = approve(client, actors, application["id"], 2)
    assert again.status_code == 409 and "已批准" in again.json()["detail"]
    assert remaining(client, actors, service["id"]) == 8


@pytest.mark.parametrize("quantity", [0, -1, "很多"])
def test_approving_a_non_positive_or_non_numeric_quantity_is_422(client, actors, service, quantity):
    application = apply(client, actors.beilin, service["id"], quantity=2)
    assert approve(client, actors, application["id"], quantity).status_code == 422


def test_districts_cannot_approve(client, actors, service):
    application = apply(client, actors.beilin, service["id"])
    response = client.post(
        f"/api/applications/{application['id']}/approve",
        json={"quantity": 1},
        headers=actors.beilin,
    )
    assert response.status_code == 403


def test_an_approval_is_audited_with_before_and_after(client, session, actors, service):
    application = apply(client, actors.beilin, service["id"], quantity=2)
    approve(client, actors, application["id"], 2)
    entries, _ = list_entries(
        session=session,
        entity_type="application",
        entity_id=str(application["id"]),
        action="application.approve",
    )
    assert (
        entries[0].before["status"],
        entries[0].after["status"],
        entries[0].after["approved_quantity"],
    ) == ("submitted", "approved", 2)


# --- rejecting and withdrawing ---------------------------------------------------------------


def test_a_rejection_carries_a_reason_the_district_can_read(client, actors, service):
    application = apply(client, actors.beilin, service["id"])
    response = client.post(
        f"/api/applications/{application['id']}/reject",
        json={"reason": "本期名额已用完"},
        headers=actors.staff,
    )
    assert response.status_code == 200
    seen = client.get(f"/api/applications/{application['id']}", headers=actors.beilin).json()
    assert (seen["status"], seen["rejection_reason"]) == ("rejected", "本期名额已用完")


def test_a_rejection_without_a_reason_is_422(client, actors, service):
    application = apply(client, actors.beilin, service["id"])
    response = client.post(
        f"/api/applications/{application['id']}/reject", json={"reason": "  "}, headers=actors.staff
    )
    assert response.status_code == 422


def test_a_district_withdraws_a_pending_application_but_not_a_decided_one(client, actors, service):
    pending = apply(client, actors.beilin, service["id"], quantity=1)
    response = client.post(f"/api/applications/{pending['id']}/withdraw", headers=actors.beilin)
    assert response.status_code == 200 and response.json()["status"] == "withdrawn"
    decided = apply(client, actors.beilin, service["id"], quantity=1)
    approve(client, actors, decided["id"], 1)
    late = client.post(f"/api/applications/{decided['id']}/withdraw", headers=actors.beilin)
    assert late.status_code == 409 and "待审批" in late.json()["detail"]


def test_a_district_cannot_withdraw_another_districts_application(client, actors, service):
    theirs = apply(client, actors.yanta, service["id"])
    assert (
        client.post(f"/api/applications/{theirs['id']}/withdraw", headers=actors.beilin).status_code
        == 403
    )
    assert (
        client.get(f"/api/applications/{theirs['id']}", headers=actors.staff).json()["status"]
        == "submitted"
    )


# --- use, release, close, expiry and the ledger --------------------------------------------


def test_recording_use_moves_the_application_in_use_and_lowers_its_balance(client, actors, service):
    application = apply(client, actors.beilin, service["id"], quantity=4)
    approve(client, actors, application["id"], 4)
    response = client.post(
        f"/api/applications/{application['id']}/usage",
        json={"quantity": 1.5, "reference": "督导-2027-03-01"},
        headers=actors.beilin,
    )
    assert response.status_code == 200
    assert (
        response.json()["status"],
        response.json()["balance"],
        response.json()["used_quantity"],
    ) == ("in_use", 2.5, 1.5)


def test_using_more_than_the_balance_is_409(client, actors, service):
    application = apply(client, actors.beilin, service["id"], quantity=2)
    approve(client, actors, application["id"], 2)
    response = client.post(
        f"/api/applications/{application['id']}/usage", json={"quantity": 3}, headers=actors.beilin
    )
    assert response.status_code == 409 and "余额不足" in response.json()["detail"]


def test_using_a_pending_application_is_409(client, actors, service):
    application = apply(client, actors.beilin, service["id"], quantity=2)
    response = client.post(
        f"/api/applications/{application['id']}/usage", json={"quantity": 1}, headers=actors.beilin
    )
    assert response.status_code == 409


def test_releasing_gives_quantity_back_to_the_pool(client, actors, service):
    application = apply(client, actors.beilin, service["id"], quantity=5)
    approve(client, actors, application["id"], 5)
    response = client.post(
        f"/api/applications/{application['id']}/release", json={"quantity": 2}, headers=actors.staff
    )
    assert response.status_code == 200 and response.json()["balance"] == 3
    assert remaining(client, actors, service["id"]) == 7


def test_closing_returns_the_unused_balance_and_ends_the_application(client, actors, service):
    application = apply(client, actors.beilin, service["id"], quantity=5)
    approve(client, actors, application["id"], 5)
    client.post(
        f"/api/applications/{application['id']}/usage", json={"quantity": 1}, headers=actors.beilin
    )
    closed = client.post(
        f"/api/applications/{application['id']}/close", headers=actors.beilin
    ).json()
    assert (closed["status"], closed["balance"], closed["used_quantity"]) == ("closed", 0, 1)
    assert remaining(client, actors, service["id"]) == 9


def test_expiry_lapses_unused_balances_once_the_validity_has_ended(client, actors, service):
    application = apply(client, actors.beilin, service["id"], quantity=5)
    approve(client, actors, application["id"], 5)
    client.post(
        f"/api/applications/{application['id']}/usage", json={"quantity": 2}, headers=actors.beilin
    )
    too_early = client.post(f"/api/services/{service['id']}/expire", headers=actors.staff)
    assert too_early.status_code == 409 and "仍在有效期内" in too_early.json()["detail"]
    yesterday = (today() - timedelta(days=1)).isoformat()
    client.patch(
        f"/api/services/{service['id']}", json={"valid_to": yesterday}, headers=actors.staff
    )
    expired = client.post(f"/api/services/{service['id']}/expire", headers=actors.staff).json()
    assert (
        expired["expired_quantity"],
        expired["consumed_quantity"],
        expired["remaining_quantity"],
    ) == (3, 2, 5)
    assert (
        client.get(f"/api/applications/{application['id']}", headers=actors.beilin).json()["status"]
        == "closed"
    )


def test_the_ledger_reconciles_and_a_district_sees_only_its_own_entries(client, actors, service):
    mine = apply(client, actors.beilin, service["id"], quantity=4)
    theirs = apply(client, actors.yanta, service["id"], quantity=3)
    approve(client, actors, mine["id"], 4)
    approve(client, actors, theirs["id"], 3)
    client.post(
        f"/api/applications/{mine['id']}/usage", json={"quantity": 1}, headers=actors.beilin
    )
    client.post(
        f"/api/applications/{theirs['id']}/release", json={"quantity": 1}, headers=actors.staff
    )
    staff_view = client.get(f"/api/services/{service['id']}/ledger", headers=actors.staff).json()
    pool = staff_view["pool"]
    assert pool["reconciled"] is True
    assert (pool["bought"], pool["remaining"], pool["held_by_districts"], pool["consumed"]) == (
        10,
        4,
        5,
        1,
    )
    assert [e["kind"] for e in staff_view["entries"]] == [
        "release",
        "consumption",
        "allocation",
        "allocation",
    ]
    district_view = client.get(
        f"/api/services/{service['id']}/ledger", headers=actors.beilin
    ).json()
    assert district_view["pool"] is None
    assert {e["application_id"] for e in district_view["entries"]} == {mine["id"]}
    assert [(b["district_name"], b["balance"]) for b in district_view["balances"]] == [
        ("碑林区", 3)
    ]


# --- the fair proposal -----------------------------------------------------------------------


def test_the_fair_proposal_explains_itself_and_changes_nothing_until_confirmed(
    client, actors, service
):
    a = apply(client, actors.beilin, service["id"], quantity=8)
    b = apply(client, actors.yanta, service["id"], quantity=8)
    proposal = client.get(
        f"/api/services/{service['id']}/fair-proposal", headers=actors.staff
    ).json()
    assert proposal["remaining_quantity"] == 10 and proposal["total_proposed"] == 10
    assert {d["district_name"] for d in proposal["districts"]} == {"碑林区", "雁塔区"}
    assert all("在校学生" in d["reasoning"] for d in proposal["districts"])
    assert "注水法" in proposal["rule"]
    assert remaining(client, actors, service["id"]) == 10
    assert (
        client.get(f"/api/applications/{a['id']}", headers=actors.staff).json()["status"]
        == "submitted"
    )

    confirmed = client.post(
        f"/api/services/{service['id']}/fair-proposal/confirm",
        json={"fingerprint": proposal["fingerprint"]},
        headers=actors.staff,
    )
    assert confirmed.status_code == 200
    approved = {x["id"]: x["approved_quantity"] for x in confirmed.json()}
    expected = {x["application_id"]: x["proposed"] for x in proposal["applications"]}
    assert approved == expected and sum(approved.values()) == 10
    # Yanta has more students than Beilin, so it gets at least as much.
    assert approved[b["id"]] >= approved[a["id"]]
    assert remaining(client, actors, service["id"]) == 0


def test_a_stale_proposal_cannot_be_confirmed(client, actors, service):
    apply(client, actors.beilin, service["id"], quantity=8)
    proposal = client.get(
        f"/api/services/{service['id']}/fair-proposal", headers=actors.staff
    ).json()
    apply(client, actors.yanta, service["id"], quantity=8)
    response = client.post(
        f"/api/services/{service['id']}/fair-proposal/confirm",
        json={"fingerprint": proposal["fingerprint"]},
        headers=actors.staff,
    )
    assert response.status_code == 409 and "重新生成" in response.json()["detail"]
    assert remaining(client, actors, service["id"]) == 10


def test_districts_cannot_see_or_confirm_the_fair_proposal(client, actors, service):
    assert (
        client.get(
            f"/api/services/{service['id']}/fair-proposal", headers=actors.beilin
        ).status_code
        == 403
    )
    response = client.post(
        f"/api/services/{service['id']}/fair-proposal/confirm",
        json={"fingerprint": "0123456789abcdef"},
        headers=actors.beilin,
    )
    assert response.status_code == 403


# --- the booking engine's hook ---------------------------------------------------------------


def test_completed_sessions_are_charged_to_the_districts_supervision_hours(
    client, session, actors, service
):
    beilin = find_district(session=session, name="西安市/碑林区")
    actor = system_principal("booking")
    assert (
        consume_supervision_hours(
            session=session, district_id=beilin.id, hours=1, reference="s-0", user=actor
        )
        is False
    )
    application = apply(client, actors.beilin, service["id"], quantity=3)
    approve(client, actors, application["id"], 3)
    assert (
        consume_supervision_hours(
            session=session, district_id=beilin.id, hours=1.5, reference="s-1", user=actor
        )
        is True
    )
    # The same session reported twice is charged once.
    assert (
        consume_supervision_hours(
            session=session, district_id=beilin.id, hours=1.5, reference="s-1", user=actor
        )
        is True
    )
    # More than the balance: nothing is charged.
    assert (
        consume_supervision_hours(
            session=session, district_id=beilin.id, hours=2, reference="s-2", user=actor
        )
        is False
    )
    seen = client.get(f"/api/applications/{application['id']}", headers=actors.beilin).json()
    assert (seen["status"], seen["used_quantity"], seen["balance"]) == ("in_use", 1.5, 1.5)


def test_training_seats_are_not_charged_as_supervision_hours(client, session, actors):
    seats = create_service(
        client, actors, name="高级研修班名额", kind="training_seats", unit="人", quantity=5
    )
    application = apply(client, actors.beilin, seats["id"], quantity=2)
    approve(client, actors, application["id"], 2)
    beilin = find_district(session=session, name="西安市/碑林区")
    assert (
        consume_supervision_hours(
            session=session,
            district_id=beilin.id,
            hours=1,
            reference="s-9",
            user=system_principal("b"),
        )
        is False
    )
