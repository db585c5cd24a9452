"""Student personal data in district requests: found (pure), refused with the findings unless
masked or confirmed (API), and staff reads of a district's records are audited."""

from __future__ import annotations

import pytest
from sqlmodel import select

from marketplace.audit.models import AuditEntry
from marketplace.privacy import find_personal_data, is_resident_id, mask
from marketplace.vocabulary import Role
from tests.conftest import auth_headers, make_user
from tests.matching.db_support import file_request


def resident_id(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights)) % 11]


VALID_ID = resident_id("61010320100315123")


def kinds(text: str) -> list[tuple[str, str]]:
    return [(f.kind, f.text) for f in find_personal_data(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("初二（3）班的张三最近情绪低落", [("student_name", "张三")]),
        ("三年级二班李四同学经常哭泣", [("student_name", "李四")]),
        ("高一5班欧阳明轩同学", [("student_name", "欧阳明轩")]),
        ("家长电话 13812345678", [("mobile", "13812345678")]),
        ("联系 +86 139-1234-5678", [("mobile", "139-1234-5678")]),
        (f"身份证号{VALID_ID}", [("resident_id", VALID_ID)]),
        ("初二学生王老师反映", []),
        ("需要心理危机干预督导，学生有自伤行为", []),
        ("订单号 123456789012345678，电话 0298765432", []),
    ],
)
def test_personal_data_is_found_with_its_kind(text, expected):
    assert kinds(text) == expected


def test_a_resident_id_needs_a_valid_check_character_and_birth_date():
    assert is_resident_id(VALID_ID)
    wrong_check = VALID_ID[:17] + ("0" if VALID_ID[17] != "0" else "1")
    assert not is_resident_id(wrong_check)
    assert not is_resident_id(resident_id("61010320101345123"))  # month 13


def test_findings_carry_positions_and_masking_keeps_only_the_first_character():
    text = "初二（3）班的张三，电话13812345678"
    findings = find_personal_data(text)
    assert [text[f.start : f.end] for f in findings] == ["张三", "13812345678"]
    assert mask(text) == "初二（3）班的张*，电话1**********"


REQUEST = {
    "service_type": "crisis_support",
    "format": "online",
    "hours": 2,
    "window_start": "2027-03-01",
    "window_end": "2027-03-31",
}
PII_TEXT = "初二（3）班的张三有自伤行为，家长电话13812345678"


def test_a_request_naming_a_student_is_refused_with_the_findings(client, session, settings):
    district = make_user(session, Role.district)
    response = client.post(
        "/api/requests",
        json={**REQUEST, "text": PII_TEXT},
        headers=auth_headers(district, settings),
    )
    assert response.status_code == 422
    body = response.json()
    assert "学生个人信息" in body["detail"] and "学生姓名" in body["detail"]
    assert [(f["kind"], f["masked"]) for f in body["details"]["privacy"]] == [
        ("student_name", "张*"),
        ("mobile", "1**********"),
    ]


def test_mask_saves_the_masked_text_and_confirm_saves_it_as_written(client, session, settings):
    headers = auth_headers(make_user(session, Role.district), settings)
    masked = client.post(
        "/api/requests", json={**REQUEST, "text": PII_TEXT, "privacy": "mask"}, headers=headers
    )
    assert masked.status_code == 201
    assert masked.json()["text"] == "初二（3）班的张*有自伤行为，家长电话1**********"
    confirmed = client.post(
        "/api/requests", json={**REQUEST, "text": PII_TEXT, "privacy": "confirm"}, headers=headers
    )
    assert confirmed.status_code == 201 and confirmed.json()["text"] == PII_TEXT


def test_editing_a_request_text_is_screened_too(client, session, settings):
    district = make_user(session, Role.district)
    request = file_request(session, user=district, district=None)
    session.commit()  # released savepoint: the refused request's rollback keeps the fixtures
    headers = auth_headers(district, settings)
    refused = client.patch(f"/api/requests/{request.id}", json={"text": PII_TEXT}, headers=headers)
    assert refused.status_code == 422
    masked = client.patch(
        f"/api/requests/{request.id}", json={"text": PII_TEXT, "privacy": "mask"}, headers=headers
    )
    assert masked.status_code == 200 and "张*" in masked.json()["text"]


def test_staff_reading_a_districts_request_is_audited_and_the_owner_reading_it_is_not(
    client, session, settings
):
    district = make_user(session, Role.district)
    staff = make_user(session, Role.staff)
    request = file_request(session, user=district, district=None)
    for user in (district, staff):
        assert (
            client.get(
                f"/api/requests/{request.id}", headers=auth_headers(user, settings)
            ).status_code
            == 200
        )
    reads = session.exec(
        select(AuditEntry).where(
            AuditEntry.action == "district_request.read", AuditEntry.entity_id == str(request.id)
        )
    ).all()
    assert [r.actor_id for r in reads] == [staff.id]


def test_staff_reading_a_booking_is_audited(matrix):
    from tests.security.conftest import in_savepoint

    world = matrix.world

    def read() -> list[int | None]:
        response = matrix.client.get(
            f"/api/bookings/{world.booking_id}", headers=world.headers["staff"]
        )
        assert response.status_code == 200
        matrix.client.get(
            f"/api/bookings/{world.booking_id}", headers=world.headers["district_own"]
        )
        entries = matrix.session.exec(
            select(AuditEntry).where(
                AuditEntry.action == "booking.read", AuditEntry.entity_id == str(world.booking_id)
            )
        ).all()
        return [entry.actor_id for entry in entries]

    reads = in_savepoint(matrix, read)
    assert reads == [world.users["staff"].id]
