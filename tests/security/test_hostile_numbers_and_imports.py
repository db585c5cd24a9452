"""Hostile numbers and import files that answered 500 or held a worker for a minute and a half,
found by attacking a running demo (session 6): each is now a 422 in Chinese or a per-line error,
and nothing is stored.

- ids past the database integer (10**20 as `licensed_by_service_id`): SQLite's OverflowError;
- "²" (a digit to str.isdigit, not to int()) in a CSV's 从业年限 or the library form's numbers;
- a CSV cell past the csv module's field limit, an unbalanced quote: csv.Error;
- a JSONL number of 5,000 digits (int() refuses past 4,300) or nesting too deep;
- a million one-character rows in a 2 MB CSV: 88 s of validation and a million-line report.
"""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from marketplace.centers.service import center_named
from marketplace.experts.models import Expert
from marketplace.experts.pool import COLUMNS, IMPORT_MAX_LINES
from marketplace.resources.models import Resource
from marketplace.vocabulary import Role
from tests.conftest import auth_headers, expert_record, make_user
from tests.web.pages.conftest import form_token, logged_in

HUGE = 10**20
HEADER = ",".join(label for _, label in COLUMNS[:16])


@pytest.fixture
def staff(session):
    user = make_user(session, Role.staff, username="hn-staff")
    session.commit()
    return user


def _csv_row(expert_id: str, years: str) -> str:
    cells = [expert_id, "王老师", "心理", "心理教师", "某中学", "陕西省", "西安市", "碑林区"]
    cells += ["心理危机干预", "简介", "", "线上", "咨询", "普通话", years, "8"]
    return ",".join(cells)


def _import(client, name: str, content: bytes):  # type: ignore[no-untyped-def]
    token = form_token(client.get("/expert-pool/import").text)
    return client.post(
        "/expert-pool/import",
        data={"csrf_token": token},
        files={"file": (name, content, "application/octet-stream")},
    )


def test_a_superscript_digit_in_a_csv_number_is_a_line_error_not_a_server_error(
    client, session, staff
):
    logged_in(client, staff)
    text = "\n".join([HEADER, _csv_row("HN1", "²"), _csv_row("HN2", "12")])
    report = _import(client, "experts.csv", text.encode())
    assert report.status_code == 200, report.text[:300]
    assert "<dt>新增</dt><dd>1</dd>" in report.text and "<dt>有误</dt><dd>1</dd>" in report.text
    assert "第 2 行" in report.text and "必须是整数" in report.text
    session.expire_all()
    assert session.get(Expert, "HN1") is None and session.get(Expert, "HN2") is not None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (HEADER + "\n" + "a" * 200_000, "某个单元格过长"),
        # An unbalanced quote runs the cell to the end of the file: the same refusal.
        (HEADER + "\n" + '"' + "a\n" * 100_000, "某个单元格过长"),
    ],
    ids=["cell-past-the-csv-limit", "unbalanced-quote"],
)
def test_a_broken_csv_is_a_422_naming_the_problem(client, session, staff, body, reason):
    logged_in(client, staff)
    response = _import(client, "experts.csv", body.encode())
    assert response.status_code == 422
    assert "CSV 格式有误" in response.text and reason in response.text


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_a_file_of_more_lines_than_a_page_import_takes_is_refused_at_once(
    client, session, staff, suffix
):
    logged_in(client, staff)
    lines = [HEADER] if suffix == "csv" else []
    lines += ["x"] * (IMPORT_MAX_LINES + 2)
    response = _import(client, f"experts.{suffix}", "\n".join(lines).encode())
    assert response.status_code == 422
    assert f"文件超过 {IMPORT_MAX_LINES} 行" in response.text
    assert "heart import experts" in response.text


def test_a_jsonl_line_with_a_giant_number_or_deep_nesting_is_a_line_error(client, session, staff):
    logged_in(client, staff)
    giant = '{"id": "HN3", "years_experience": ' + "9" * 5000 + "}"
    deep = "[" * 30_000 + "]" * 30_000
    good = json.dumps(expert_record(id="HN4", name="正常老师"), ensure_ascii=False)
    report = _import(client, "experts.jsonl", "\n".join([giant, deep, good]).encode())
    assert report.status_code == 200, report.text[:300]
    assert report.text.count("数字过长或嵌套过深") == 2
    assert "<dt>新增</dt><dd>1</dd>" in report.text


def test_ids_past_the_database_integer_are_422_and_store_nothing(client, session, settings, staff):
    headers = auth_headers(staff, settings)
    base = {"kind": "scale", "title": "超大编号量表", "summary": "测试"}
    for field in ("licensed_by_service_id", "center_id"):
        response = client.post("/api/resources", json={**base, field: HUGE}, headers=headers)
        assert response.status_code == 422, response.text
        assert "不能大于" in response.json()["detail"]
    assert session.exec(select(Resource).where(Resource.title == "超大编号量表")).first() is None
    xian = center_named(session=session, name="西安市").id
    paired = client.post(
        f"/api/centers/{xian}/experts",
        json={"expert_id": "HN5", "zone_ids": [HUGE]},
        headers=headers,
    )
    assert paired.status_code == 422 and "不能大于" in paired.json()["detail"]


@pytest.mark.parametrize("value", ["²", "١٥", str(HUGE)])
def test_the_library_form_refuses_odd_digits_beside_the_field(client, session, staff, value):
    logged_in(client, staff)
    token = form_token(client.get("/library/new").text)
    response = client.post(
        "/library",
        data={
            "csrf_token": token,
            "kind": "scale",
            "title": "奇怪数字量表",
            "summary": "测试",
            "scale_items": value,
        },
    )
    assert response.status_code == 422, response.text[:300]
    assert 'id="err-scale_items"' in response.text
    assert session.exec(select(Resource).where(Resource.title == "奇怪数字量表")).first() is None


def test_an_integer_overflow_anywhere_is_a_422_in_chinese_not_a_500(app, client):
    """The safety net under the schemas' bounds: a number the database cannot hold."""

    def overflowing() -> None:
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    app.add_api_route("/api/overflow-probe", overflowing, methods=["GET"])
    response = client.get("/api/overflow-probe")
    assert response.status_code == 422
    assert response.json() == {"detail": "数值超出允许的范围"}
