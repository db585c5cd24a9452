"""Staff pause and re-activate an expert with a reason, and verify a profile (who and when)."""

from __future__ import annotations

from marketplace.experts.models import Expert
from tests.conftest import expert_record
from tests.web.pages.conftest import form_token, import_records, logged_in


def test_staff_pause_an_expert_with_a_reason_and_activate_again(client, session, staff_user):
    import_records(session, expert_record(id="V1", name="许可"))
    logged_in(client, staff_user)
    assert 'href="/experts/V1/status"' in client.get("/experts/V1").text
    page = client.get("/experts/V1/status")
    token = form_token(page.text)
    missing = client.post(
        "/experts/V1/status", data={"csrf_token": token, "status": "paused", "reason": " "}
    )
    assert missing.status_code == 422 and 'id="err-reason"' in missing.text
    paused = client.post(
        "/experts/V1/status",
        data={"csrf_token": token, "status": "paused", "reason": "专家申请暂停至学期末"},
    )
    assert "专家状态已更新" in paused.text
    assert '暂停专家：<span class="user-text">专家申请暂停至学期末</span>' in paused.text
    session.expire_all()
    assert session.get(Expert, "V1").status == "paused"
    client.post(
        "/experts/V1/status", data={"csrf_token": token, "status": "active", "reason": "已返岗"}
    )
    session.expire_all()
    assert session.get(Expert, "V1").status == "active"


def test_staff_verify_an_expert_and_the_page_says_who_did(client, session, staff_user):
    import_records(session, expert_record(id="V2", name="韩认"))
    logged_in(client, staff_user)
    token = form_token(client.get("/experts/V2/status").text)
    done = client.post("/experts/V2/verify", data={"csrf_token": token})
    assert "已认证该专家" in done.text and "staff-1" in done.text and "认证专家" in done.text
    session.expire_all()
    assert session.get(Expert, "V2").verified is True


def test_coordinators_cannot_change_an_experts_status(client, session, district_user):
    import_records(session, expert_record(id="V3"))
    logged_in(client, district_user)
    assert client.get("/experts/V3/status").status_code == 403
    assert 'href="/experts/V3/status"' not in client.get("/experts/V3").text
