"""The report pages show the booking and matching sections; the monthly report prints them all."""

import re

from tests.web.pages.conftest import logged_in
from tests.web.report_sections_support import MONTH, build_month


def test_the_report_page_shows_section_tables_and_server_drawn_charts(client, session, staff_user):
    build_month(session)
    logged_in(client, staff_user)
    page = client.get("/reports", params={"period": MONTH})
    assert page.status_code == 200
    for title in ("专家工作量与利用率", "区县需求响应时间", "服务场次与评价", "各专家明细"):
        assert title in page.text
    assert "<svg" in page.text and "各领域利用率" in page.text
    assert "相关模块上线后提供" not in page.text
    assert "/reports/monthly?period=2031-03" in page.text


def test_the_monthly_report_has_every_section_charts_and_print_styles(client, session, staff_user):
    build_month(session)
    logged_in(client, staff_user)
    page = client.get("/reports/monthly", params={"period": MONTH})
    assert page.status_code == 200
    html = page.text
    assert "月度报表：2031 年 3 月" in html
    for key in (
        "allocation",
        "application_response",
        "expert_utilisation",
        "request_response",
        "sessions_ratings",
    ):
        assert f'id="section-{key}"' in html
    assert '<link rel="stylesheet" href="/static/report-print.css">' in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert html.count("<svg") >= 4  # utilisation by domain and city, response, ratings
    # No inline style (the CSP forbids them); figures come from the section data.
    assert not re.search(r"\sstyle=", html)
    assert "80.0%" in html  # 乙专家's utilisation
    assert 'href="/reports/monthly?period=2031-02"' in html
    assert 'href="/reports/monthly?period=2031-04"' in html


def test_the_monthly_report_prints_with_the_print_stylesheet(client):
    css = client.get("/static/report-print.css")
    assert css.status_code == 200 and "@media print" in css.text
    assert "window.print" in client.get("/static/report-print.js").text


def test_the_monthly_report_defaults_to_this_month(client, staff_user):
    logged_in(client, staff_user)
    page = client.get("/reports/monthly")
    assert page.status_code == 200 and "月度报表：" in page.text


def test_a_term_is_not_a_month_for_the_monthly_report(client, staff_user):
    logged_in(client, staff_user)
    page = client.get("/reports/monthly", params={"period": "2031-spring"})
    assert page.status_code == 422 and "YYYY-MM" in page.text


def test_coordinators_cannot_open_the_monthly_report(client, district_user):
    logged_in(client, district_user)
    assert client.get("/reports/monthly").status_code == 403
