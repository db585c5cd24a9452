"""Allocation reports over HTTP: per district and service, per capita, equity, exports."""

import csv
import io

import pytest
from openpyxl import load_workbook

from marketplace.services.service import today
from tests.web.allocation_support import Actors, apply, create_service


@pytest.fixture
def actors(session, settings):
    return Actors(session, settings)


@pytest.fixture
def allocated(client, actors):
    """10 hours bought; 碑林 gets 4 and uses 1, 雁塔 gets 6."""
    service = create_service(client, actors, quantity=10)
    mine = apply(client, actors.beilin, service["id"], quantity=4)
    theirs = apply(client, actors.yanta, service["id"], quantity=6)
    for application, quantity in ((mine, 4), (theirs, 6)):
        client.post(
            f"/api/applications/{application['id']}/approve",
            json={"quantity": quantity},
            headers=actors.staff,
        )
    client.post(
        f"/api/applications/{mine['id']}/usage", json={"quantity": 1}, headers=actors.beilin
    )
    return service


def this_month() -> str:
    return today().strftime("%Y-%m")


def test_the_report_lists_allocated_used_and_per_capita_figures_per_district(
    client, actors, allocated
):
    report = client.get(
        "/api/reports/allocation",
        params={"period": this_month(), "service_id": allocated["id"]},
        headers=actors.staff,
    ).json()
    rows = {r["district_name"]: r for r in report["rows"]}
    assert set(rows) == {"碑林区", "雁塔区"}
    assert (rows["碑林区"]["net_allocated"], rows["碑林区"]["used"]) == (4, 1)
    # 碑林区 has 118,600 students in the demo data.
    assert rows["碑林区"]["net_allocated_per_10k"] == pytest.approx(4 * 10_000 / 118_600, rel=1e-3)
    service = report["services"][0]
    assert (service["net_allocated"], service["used"], service["districts_reached"]) == (10, 1, 2)
    assert 0.9 < service["gini"] < 1  # two of ~100 districts received everything
    assert service["lorenz"][0] == [0, 0] and service["lorenz"][-1] == [1, 1]


def test_a_period_with_no_activity_reports_no_rows_and_perfect_equality(client, actors, allocated):
    report = client.get(
        "/api/reports/allocation",
        params={"period": "2020-spring", "service_id": allocated["id"]},
        headers=actors.staff,
    ).json()
    assert report["period_label"] == "2020 年春季学期"
    assert report["rows"] == [] and report["services"][0]["gini"] == 0


def test_sections_from_modules_not_built_yet_are_listed_as_unavailable(client, actors, allocated):
    report = client.get("/api/reports/allocation", headers=actors.staff).json()
    sections = {s["key"]: s for s in report["sections"]}
    assert sections["application_response"]["available"] is True
    assert sections["application_response"]["data"]["decided"] >= 2
    assert sections["expert_utilisation"]["available"] in (True, False)


def test_a_malformed_period_is_422_in_chinese(client, actors):
    response = client.get(
        "/api/reports/allocation", params={"period": "2027-13"}, headers=actors.staff
    )
    assert response.status_code == 422 and "YYYY-MM" in response.json()["detail"]


def test_districts_cannot_read_reports(client, actors):
    assert client.get("/api/reports/allocation", headers=actors.beilin).status_code == 403


def _eligible(client, actors, service_id: int) -> int:
    report = client.get(
        "/api/reports/allocation",
        params={"period": this_month(), "service_id": service_id},
        headers=actors.staff,
    ).json()
    return report["services"][0]["districts_eligible"]


def test_the_csv_export_has_one_row_per_eligible_district_zero_allocations_included(
    client, actors, allocated
):
    response = client.get(
        "/api/reports/allocation.csv",
        params={"period": this_month(), "service_id": allocated["id"]},
        headers=actors.staff,
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:5] == ["服务", "类别", "单位", "市", "区县"]
    assert {r[1] for r in rows[1:]} == {"督导小时"}
    # As on the reports page: every eligible district, those that received nothing too.
    assert len(rows) - 1 == _eligible(client, actors, allocated["id"]) > 2
    net = {r[4]: float(r[8]) for r in rows[1:]}
    assert (net["碑林区"], net["雁塔区"]) == (4, 6)
    assert sum(1 for value in net.values() if value == 0) == len(net) - 2


def test_the_excel_export_opens_with_detail_equity_and_lorenz_sheets(client, actors, allocated):
    response = client.get(
        "/api/reports/allocation.xlsx",
        params={"period": this_month(), "service_id": allocated["id"]},
        headers=actors.staff,
    )
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    # Section tables (booking, matching) come between the curves and the notes.
    assert book.sheetnames[:3] == ["分配明细", "公平性", "洛伦兹曲线"]
    assert book.sheetnames[-1] == "说明"
    detail = list(book["分配明细"].iter_rows(values_only=True))
    assert detail[1][4] == "区县"
    net = {r[4]: r[8] for r in detail[2:]}
    assert len(detail) - 2 == _eligible(client, actors, allocated["id"]) > 2
    assert (net["碑林区"], net["雁塔区"]) == (4, 6)
    assert sorted(set(net.values())) == [0, 4, 6]
    equity = list(book["公平性"].iter_rows(values_only=True))
    assert equity[1][0] == "专家督导小时包" and equity[1][3] == 10
    assert len(book["洛伦兹曲线"]._charts) == 1
