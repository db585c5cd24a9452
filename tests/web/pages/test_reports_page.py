from tests.web.pages.conftest import logged_in


def test_staff_open_the_allocation_report_with_export_links(client, staff_user):
    logged_in(client, staff_user)
    page = client.get("/reports")
    assert page.status_code == 200
    assert "统计报表" in page.text and "/api/reports/allocation.csv" in page.text


def test_a_report_for_a_period_keeps_the_period_in_its_exports(client, staff_user):
    logged_in(client, staff_user)
    page = client.get(
        "/reports",
        params={"period": "2026-autumn"},
        headers={"HX-Request": "true", "HX-Target": "results"},
    )
    assert page.text.lstrip().startswith('<section id="results"')
    assert "/api/reports/allocation.xlsx?period=2026-autumn" in page.text


def test_a_malformed_period_is_a_friendly_message(client, staff_user):
    logged_in(client, staff_user)
    page = client.get("/reports", params={"period": "last-year"})
    assert page.status_code == 422 and "统计区间格式" in page.text


def test_coordinators_cannot_open_reports(client, district_user):
    logged_in(client, district_user)
    assert client.get("/reports").status_code == 403
