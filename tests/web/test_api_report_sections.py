"""Report sections from booking and matching over HTTP: JSON figures, CSV tables, Excel sheets."""

import csv
import io

import pytest
from openpyxl import load_workbook

from tests.web.allocation_support import Actors
from tests.web.report_sections_support import MONTH, build_month


@pytest.fixture
def actors(session, settings):
    return Actors(session, settings)


@pytest.fixture
def month(session):
    return build_month(session)


def sections(client, actors, period=MONTH) -> dict:
    response = client.get(
        "/api/reports/allocation", params={"period": period}, headers=actors.staff
    )
    assert response.status_code == 200, response.text
    return {s["key"]: s for s in response.json()["sections"]}


def rows_by(table: dict, key: str) -> dict:
    return {row[key]: row for row in table["rows"]}


def tables(section: dict) -> dict:
    return {t["key"]: t for t in section["tables"]}


def test_expert_utilisation_compares_booked_and_completed_hours_with_monthly_capacity(
    client, actors, month
):
    section = sections(client, actors)["expert_utilisation"]
    assert section["available"] is True
    experts = rows_by(tables(section)["utilisation_by_expert"], "expert_id")
    # RS1: 2 h completed + 3 h confirmed (the cancelled hour and April's session do not count).
    assert (experts["RS1"]["capacity_hours"], experts["RS1"]["booked_hours"]) == (20, 5)
    assert experts["RS1"]["completed_hours"] == 2 and experts["RS1"]["utilisation"] == 0.25
    # RS2's booking limit (5 h) overrides the 10 h capacity of the profile.
    assert (experts["RS2"]["capacity_hours"], experts["RS2"]["utilisation"]) == (5, 0.8)


def test_expert_utilisation_is_aggregated_per_domain_and_per_city(client, actors, month):
    section = sections(client, actors)["expert_utilisation"]
    domains = rows_by(tables(section)["utilisation_by_domain"], "domain")
    assert domains["心理"]["booked_hours"] == 5 and domains["教育"]["utilisation"] == 0.8
    city = rows_by(tables(section)["utilisation_by_city"], "city")["西安市"]
    assert (city["experts"], city["capacity_hours"], city["booked_hours"]) == (2, 25, 9)
    assert city["utilisation"] == pytest.approx(9 / 25)


def test_a_term_counts_every_month_of_capacity(client, actors, month):
    section = sections(client, actors, period="2031-spring")["expert_utilisation"]
    experts = rows_by(tables(section)["utilisation_by_expert"], "expert_id")
    # February to August is seven months; April's 2 h completed session now counts.
    assert experts["RS1"]["capacity_hours"] == 140 and experts["RS1"]["completed_hours"] == 4


def test_request_response_times_give_median_and_p90_per_district(client, actors, month):
    section = sections(client, actors)["request_response"]
    district = rows_by(tables(section)["response_by_district"], "district")["碑林区"]
    assert (district["submitted"], district["matched"], district["waiting"]) == (4, 3, 1)
    # Hours to match: 10 (status change), 20 (batch run confirmed), 30 (from leaving draft).
    assert district["median_hours_to_match"] == 20
    assert district["p90_hours_to_match"] == pytest.approx(28)
    assert (district["scheduled"], district["median_hours_to_schedule"]) == (1, 50)
    # 雁塔's request was submitted in February.
    assert "雁塔区" not in rows_by(tables(section)["response_by_district"], "district")
    assert section["data"]["submitted"] == 4


def test_sessions_are_counted_by_kind_and_status_with_mean_ratings_per_district(
    client, actors, month
):
    section = sections(client, actors)["sessions_ratings"]
    counts = {
        (r["district"], r["kind"]): r for r in tables(section)["sessions_by_district"]["rows"]
    }
    beilin = counts[("碑林区", "督导")]
    assert (beilin["completed"], beilin["confirmed"], beilin["cancelled"], beilin["total"]) == (
        1,
        1,
        1,
        3,
    )
    assert counts[("雁塔区", "咨询")]["completed"] == 1
    ratings = rows_by(tables(section)["ratings_by_district"], "district")
    assert (ratings["碑林区"]["ratings"], ratings["碑林区"]["mean_score"]) == (1, 4)
    assert ratings["雁塔区"]["mean_score"] == 5
    assert section["data"] == {"sessions": 4, "completed": 2, "ratings": 2, "mean_score": 4.5}


def test_a_section_table_exports_as_csv_with_chinese_headers(client, actors, month):
    response = client.get(
        "/api/reports/allocation.csv",
        params={"period": MONTH, "table": "response_by_district"},
        headers=actors.staff,
    )
    assert response.status_code == 200
    assert 'filename="response_by_district-2031-03.csv"' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["市", "区县", "提交需求"] and "匹配用时 P90" in rows[0]
    beilin = next(r for r in rows[1:] if r[1] == "碑林区")
    assert beilin[rows[0].index("匹配用时中位数")] == "20.0"


def test_an_unknown_table_is_422_naming_the_tables_there_are(client, actors, month):
    response = client.get(
        "/api/reports/allocation.csv", params={"table": "nonsense"}, headers=actors.staff
    )
    assert response.status_code == 422
    assert "utilisation_by_expert" in response.json()["detail"]


def test_the_excel_export_has_a_sheet_per_section_table(client, actors, month):
    response = client.get(
        "/api/reports/allocation.xlsx", params={"period": MONTH}, headers=actors.staff
    )
    book = load_workbook(io.BytesIO(response.content))
    assert {"按领域汇总", "各专家明细", "各区县响应时间（小时）", "各区县评价"} <= set(
        book.sheetnames
    )
    assert book.sheetnames[-1] == "说明"
    experts = list(book["各专家明细"].iter_rows(values_only=True))
    header = experts[1]
    rs1 = next(r for r in experts[2:] if r[0] == "RS1")
    assert rs1[header.index("已预约小时")] == 5 and rs1[header.index("预约利用率")] == 0.25
    assert (
        book["各专家明细"].cell(row=3, column=header.index("预约利用率") + 1).number_format
        == "0.0%"
    )


def test_districts_cannot_export_section_tables(client, actors, month):
    response = client.get(
        "/api/reports/allocation.csv",
        params={"table": "ratings_by_district"},
        headers=actors.beilin,
    )
    assert response.status_code == 403


def _city_sections(client, session, settings, role, center: str) -> dict:
    from marketplace.centers.service import center_named
    from tests.conftest import auth_headers
    from tests.web.allocation_support import quick_user

    user = quick_user(session, role)
    user.center_id = center_named(session=session, name=center).id
    session.add(user)
    session.flush()
    response = client.get(
        "/api/reports/allocation", params={"period": MONTH}, headers=auth_headers(user, settings)
    )
    assert response.status_code == 200, response.text
    return {s["key"]: s for s in response.json()["sections"]}


def test_a_citys_report_has_every_section_limited_to_its_region(
    client, session, settings, actors, month
):
    from marketplace.vocabulary import Role

    province = sections(client, actors)
    xian = _city_sections(client, session, settings, Role.city_staff, "西安市")
    baoji = _city_sections(client, session, settings, Role.observer, "宝鸡市")
    assert set(xian) == set(baoji) == set(province)
    # Every record of the month is 西安's: its staff see the province's figures ...
    for key in ("sessions_ratings", "request_response", "expert_utilisation"):
        assert xian[key]["data"] == province[key]["data"], key
    # ... and 宝鸡's observer sees the same sections with none of 西安's districts or experts.
    assert baoji["sessions_ratings"]["data"]["sessions"] == 0
    assert baoji["request_response"]["data"]["submitted"] == 0
    assert baoji["expert_utilisation"]["data"]["experts"] == 0
    shown = str([t["rows"] for s in baoji.values() for t in s.get("tables", [])])
    assert "碑林区" not in shown and "雁塔区" not in shown and "甲专家" not in shown
