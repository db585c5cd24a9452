"""The expert-pool console: the filterable table (city staff: their region), export, add, edit
and import from the page; pause and re-activate with a reason, verify (who and when)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from openpyxl import load_workbook
from sqlmodel import select

from booking.schedule.models import AvailabilityUpdate
from booking.schedule.service import set_availability
from marketplace.accounts.models import UserCreate
from marketplace.accounts.principal import system_principal
from marketplace.accounts.service import create_user
from marketplace.audit.models import AuditEntry
from marketplace.experts.models import Expert
from marketplace.experts.pool import IMPORT_MAX_BYTES
from marketplace.outbox.models import IndexOutbox
from marketplace.vocabulary import Role
from tests.booking.conftest import WORKDAY
from tests.conftest import TEST_PASSWORD, expert_record
from tests.web.pages.conftest import form_token, import_records, logged_in

BAOJI = {"province": "陕西省", "city": "宝鸡市", "district": "渭滨区"}


@pytest.fixture
def pool(session, staff_user):
    """Four experts: 西安 psychology verified with weekday hours, 西安 education paused,
    宝鸡 social work, and a name a spreadsheet would run as a formula."""
    import_records(
        session,
        expert_record(id="Q1", name="甲心理", domain="psychology"),
        expert_record(id="Q2", name="乙教育", domain="education"),
        expert_record(id="Q3", name="丙社工", domain="social_work", region=BAOJI),
        expert_record(id="Q4", name="=HYPERLINK(1)", domain="psychology"),
    )
    q1, q2 = session.get(Expert, "Q1"), session.get(Expert, "Q2")
    q1.verified, q2.status = True, "paused"
    session.add_all([q1, q2])
    set_availability(
        session=session, expert_id="Q1", data=AvailabilityUpdate(**WORKDAY), user=staff_user
    )
    session.commit()


def _names(html: str) -> set[str]:
    return {n for n in ("甲心理", "乙教育", "丙社工", "=HYPERLINK(1)") if n in html}


def test_staff_filter_the_pool_by_domain_city_status_verified_free_time_and_name(
    client, pool, staff_user
):
    logged_in(client, staff_user)
    page = client.get("/expert-pool")
    assert page.status_code == 200 and "添加专家" in page.text and "导入文件" in page.text
    assert _names(page.text) == {"甲心理", "乙教育", "丙社工", "=HYPERLINK(1)"}
    cases = {
        "domain=psychology": {"甲心理", "=HYPERLINK(1)"},
        "city=宝鸡市": {"丙社工"},
        "status=paused": {"乙教育"},
        "verified=1": {"甲心理"},
        "free=1": {"甲心理"},  # the only one with weekly hours
        "q=社工": {"丙社工"},
        "domain=psychology&verified=0": {"=HYPERLINK(1)"},
    }
    for query, expected in cases.items():
        results = client.get(
            f"/expert-pool?{query}", headers={"HX-Request": "true", "HX-Target": "results"}
        )
        assert _names(results.text) == expected, query
        assert "<html" not in results.text  # the htmx answer is the results block only


def test_the_pool_is_paginated_newest_change_first(client, session, staff_user):
    import_records(
        session, *(expert_record(id=f"N{i:02d}", name=f"分页{i:02d}") for i in range(30))
    )
    session.commit()
    logged_in(client, staff_user)
    first = client.get("/expert-pool?q=分页")
    assert "共 <strong>30</strong> 位专家" in first.text and "第 1 / 2 页" in first.text
    second = client.get("/expert-pool?q=分页&page=2")
    shown = [f"分页{i:02d}" for i in range(30)]
    on_first = {n for n in shown if n in first.text}
    on_second = {n for n in shown if n in second.text}
    assert len(on_first) == 25 and len(on_second) == 5 and not on_first & on_second
    by_name = client.get("/expert-pool?q=分页&sort=name")
    assert by_name.text.index("分页00") < by_name.text.index("分页01")


def test_city_staff_see_only_their_regions_experts_and_cannot_change_them(client, session, pool):
    baoji = create_user(
        session=session,
        data=UserCreate(
            username="city-bj", password=TEST_PASSWORD, role=Role.city_staff, center="宝鸡市"
        ),
        user=system_principal("test"),
    )
    session.commit()
    logged_in(client, baoji)
    page = client.get("/expert-pool")
    assert page.status_code == 200 and _names(page.text) == {"丙社工"}
    assert "添加专家" not in page.text and "/experts/Q3/edit" not in page.text
    exported = client.get("/expert-pool/export.csv").content.decode("utf-8-sig")
    assert "丙社工" in exported and "甲心理" not in exported
    for path in ("/expert-pool/new", "/expert-pool/import", "/experts/Q3/edit"):
        assert client.get(path).status_code == 403, path


def test_coordinators_have_no_pool_console(client, pool, district_user):
    logged_in(client, district_user)
    assert client.get("/expert-pool").status_code == 403
    assert client.get("/expert-pool/export.csv").status_code == 403
    assert 'href="/expert-pool"' not in client.get("/").text


def test_the_filtered_pool_exports_as_csv_and_excel_with_formulas_neutralised(
    client, pool, staff_user
):
    logged_in(client, staff_user)
    page = client.get("/expert-pool?domain=psychology")
    assert 'href="/expert-pool/export.csv?domain=psychology&amp;sort=updated"' in page.text
    response = client.get("/expert-pool/export.csv?domain=psychology")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["编号", "姓名", "领域"]
    assert {r[0] for r in rows[1:]} == {"Q1", "Q4"}
    assert {r[1] for r in rows[1:]} == {"甲心理", "'=HYPERLINK(1)"}
    book = load_workbook(
        io.BytesIO(client.get("/expert-pool/export.xlsx?domain=psychology").content)
    )
    sheet = list(book["专家库"].iter_rows(values_only=True))
    assert sheet[0][0] == "专家库（2 位）" and sheet[1][1] == "姓名"
    assert {r[1] for r in sheet[2:]} == {"甲心理", "'=HYPERLINK(1)"}
    assert all(cell.data_type == "s" for cell in book["专家库"]["B"][2:])


def _form(client, path: str) -> dict:
    return {"csrf_token": form_token(client.get(path).text)}


NEW_EXPERT = {
    "domain": "psychology",
    "name": "页面新专家",
    "title": "心理咨询师",
    "organization": "西安市第一中学",
    "region": "陕西省|西安市|雁塔区",
    "specialties": "厌学、考试焦虑",
    "languages": "普通话",
    "years_experience": "8",
    "monthly_capacity_hours": "12",
    "formats": ["online"],
    "service_types": ["consultation", "training"],
}


def test_staff_add_an_expert_from_the_page_with_errors_in_place(client, session, staff_user):
    logged_in(client, staff_user)
    form = _form(client, "/expert-pool/new")
    bad = client.post(
        "/expert-pool/new",
        data={**form, **NEW_EXPERT, "name": "", "years_experience": "八", "formats": []},
    )
    assert bad.status_code == 422
    for field in ("name", "years_experience", "formats"):
        assert f'id="err-{field}"' in bad.text, field
    assert 'value="西安市第一中学"' in bad.text  # what was typed stays
    done = client.post("/expert-pool/new", data={**form, **NEW_EXPERT}, follow_redirects=False)
    assert done.status_code == 303
    expert_id = done.headers["location"].split("/")[2]
    session.expire_all()
    expert = session.get(Expert, expert_id)
    assert expert.name == "页面新专家" and expert.verified is False
    # The new expert reaches search through the index outbox, like every directory write.
    assert session.exec(select(IndexOutbox).where(IndexOutbox.entity_id == expert_id)).first()
    page = client.get(done.headers["location"])
    assert "专家已添加" in page.text and "认证该专家" in page.text
    twice = client.post("/expert-pool/new", data={**form, **NEW_EXPERT, "id": expert_id})
    assert twice.status_code == 409 and 'id="err-id"' in twice.text


def test_staff_edit_an_experts_profile_and_the_change_is_audited_and_indexed(
    client, session, pool, staff_user
):
    logged_in(client, staff_user)
    page = client.get("/experts/Q2/edit")
    assert 'value="乙教育"' in page.text
    form = {"csrf_token": form_token(page.text), **NEW_EXPERT, "name": "乙教育（改）"}
    form["domain"] = "education"
    before = len(session.exec(select(IndexOutbox).where(IndexOutbox.entity_id == "Q2")).all())
    saved = client.post("/experts/Q2/edit", data=form)
    assert "专家资料已保存" in saved.text
    session.expire_all()
    expert = session.get(Expert, "Q2")
    assert expert.name == "乙教育（改）" and expert.monthly_capacity_hours == 12
    assert session.exec(
        select(AuditEntry).where(AuditEntry.entity_id == "Q2", AuditEntry.action == "expert.update")
    ).first()
    after = len(session.exec(select(IndexOutbox).where(IndexOutbox.entity_id == "Q2")).all())
    assert after == before + 1
    bad = client.post("/experts/Q2/edit", data={**form, "monthly_capacity_hours": "9999"})
    assert bad.status_code == 422 and 'id="err-monthly_capacity_hours"' in bad.text


def _upload(client, name: str, content: bytes, **extra: str):
    token = form_token(client.get("/expert-pool/import").text)
    return client.post(
        "/expert-pool/import",
        data={"csrf_token": token, **extra},
        files={"file": (name, content, "application/octet-stream")},
    )


def test_staff_import_a_jsonl_file_and_see_the_per_line_report(client, session, staff_user):
    logged_in(client, staff_user)
    good = json.dumps(expert_record(id="IM1", name="导入一"), ensure_ascii=False)
    other = json.dumps(expert_record(id="IM2", name="导入二"), ensure_ascii=False)
    bad = json.dumps(expert_record(id="IM3", years_experience=-1), ensure_ascii=False)
    report = _upload(client, "experts.jsonl", "\n".join([good, bad, other, "{不是 JSON"]).encode())
    assert report.status_code == 200
    text = report.text
    assert "<dt>新增</dt><dd>2</dd>" in text and "<dt>有误</dt><dd>2</dd>" in text
    assert "第 2 行" in text and "IM3" in text and "第 4 行" in text and "不是有效的 JSON" in text
    assert "字段 years_experience（从业年限）" in text  # the CSV header beside the JSON key
    session.expire_all()
    assert session.get(Expert, "IM1") and session.get(Expert, "IM2")
    assert session.get(Expert, "IM3") is None
    strict = _upload(client, "again.jsonl", "\n".join([good, bad]).encode(), strict="1")
    assert "整个文件都没有导入" in strict.text


def test_an_exported_csv_imports_back_and_updates_by_id(client, session, pool, staff_user):
    logged_in(client, staff_user)
    exported = client.get("/expert-pool/export.csv?q=甲心理").content.decode("utf-8-sig")
    edited = exported.replace("甲心理", "甲心理（表格修改）")
    added = edited.rstrip("\r\n") + "\r\n" + edited.splitlines()[1].replace("Q1", "CSV9") + "\r\n"
    report = _upload(client, "pool.csv", ("\ufeff" + added).encode())
    assert "<dt>新增</dt><dd>1</dd>" in report.text and "<dt>更新</dt><dd>1</dd>" in report.text
    session.expire_all()
    assert session.get(Expert, "Q1").name == "甲心理（表格修改）"
    assert session.get(Expert, "CSV9").domain == "psychology"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("tool.exe", b"MZ\x90\x00binary", "只能导入 .jsonl 或 .csv 文件"),
        ("experts.csv", "编号,姓名\n".encode("gbk"), "不是 UTF-8 文本"),
        ("experts.jsonl", b"", "请选择要导入的文件"),
        ("experts.jsonl", b"x" * (IMPORT_MAX_BYTES + 1), "文件超过 5 MB"),
        ("experts.csv", "编号,姓名,电话\n".encode(), "无法识别的列：电话"),
    ],
)
def test_a_file_the_import_cannot_read_is_refused_in_place(
    client, staff_user, name, content, reason
):
    logged_in(client, staff_user)
    response = _upload(client, name, content)
    assert response.status_code == 422 and 'id="err-file"' in response.text
    assert reason in response.text


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
    pool = client.get("/expert-pool?status=paused").text
    assert "许可" in pool and "专家申请暂停至学期末" in pool  # the reason beside the status
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
    assert '已认证：<span class="user-text">staff-1</span> 于' in done.text
    pool = client.get("/expert-pool?verified=1").text
    assert "韩认" in pool and "staff-1" in pool
    session.expire_all()
    assert session.get(Expert, "V2").verified is True


def test_coordinators_cannot_change_an_experts_status(client, session, district_user):
    import_records(session, expert_record(id="V3"))
    logged_in(client, district_user)
    assert client.get("/experts/V3/status").status_code == 403
    assert 'href="/experts/V3/status"' not in client.get("/experts/V3").text


def test_an_experts_status_and_edit_pages_sit_under_the_pool_in_the_menu(client, pool, staff_user):
    logged_in(client, staff_user)
    for path in ("/experts/Q1/status", "/experts/Q1/edit"):
        html = client.get(path).text
        assert '<a href="/expert-pool" aria-current="page">' in html, path
        assert '<a href="/experts" aria-current="page">' not in html, path
    assert '<a href="/experts" aria-current="page">' in client.get("/experts/Q1").text
