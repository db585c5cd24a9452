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


def _service_with_one_allocation(session):
    from decimal import Decimal

    from marketplace.accounts.principal import system_principal
    from marketplace.allocation.service import approve_application
    from marketplace.applications.models import ApplicationCreate
    from marketplace.applications.service import create_application
    from marketplace.districts.service import find_district
    from tests.conftest import make_service

    actor = system_principal("t")
    service = make_service(
        session, name="全省热线服务", kind="hotline", unit="次", quantity=100, days=100, user=actor
    )
    beilin = find_district(session=session, name="西安市/碑林区")
    application = create_application(
        session=session,
        data=ApplicationCreate(service_id=service.id, quantity=5, purpose="热线"),
        district_id=beilin.id,
        user=actor,
    )
    approve_application(
        session=session, application_id=application.id, quantity=Decimal(5), user=actor
    )
    session.flush()
    return service


def test_the_district_table_lists_every_district_with_zeros_thirty_a_page(
    client, session, staff_user
):
    import re

    service = _service_with_one_allocation(session)
    logged_in(client, staff_user)
    first = client.get("/reports", params={"service_id": service.id, "sort": "high"}).text
    counted = re.search(r"全部列出，其中 (\d+) 个在本区间内没有获得分配", first)
    listed = int(re.search(r"可申请该服务的 (\d+) 个区县", first).group(1))
    assert listed > 30 and int(counted.group(1)) == listed - 1  # only Beilin received some
    table = first.split("各区县分配</h2>")[1].split("<table")[1].split("</table>")[0]
    assert table.count("<tr>") == 31  # header + 30 rows
    assert table.index("碑林区") < table.index("雁塔区")  # highest first
    assert 'rel="next"' in first
    last = client.get(
        "/reports", params={"service_id": service.id, "sort": "high", "page": 99}
    ).text
    pages = -(-listed // 30)
    assert f"第 {pages} / {pages} 页" in last  # a page past the end shows the last one
    last_table = last.split("各区县分配</h2>")[1].split("<table")[1].split("</table>")[0]
    assert "碑林区" not in last_table and last_table.count("<tr>") == 1 + listed - 30 * (pages - 1)


def test_the_period_picker_offers_months_and_terms(client, staff_user):
    logged_in(client, staff_user)
    page = client.get("/reports").text
    picker = page.split('id="f-period"')[1].split("</select>")[0]
    assert "全部时间" in picker and "学期" in picker and " 月" in picker


def test_the_report_draws_a_tile_map_of_the_districts_coloured_by_allocation(
    client, session, staff_user
):
    import re

    service = _service_with_one_allocation(session)
    logged_in(client, staff_user)
    page = client.get("/reports", params={"service_id": service.id}).text
    listed = int(re.search(r"可申请该服务的 (\d+) 个区县", page).group(1))
    # the laptop layout (14 tiles a row) and the phone one (6 a row, tiles as large)
    for variant, columns in (("wide", 14), ("phone", 6)):
        svg = re.search(
            rf'<svg class="report-chart tile-map tile-map-{variant}".*?</svg>', page, re.S
        ).group(0)
        tiles = re.findall(
            r'<rect x="[0-9.]+" y="[0-9.]+" width="46" height="46" rx="4" fill="(#[0-9a-f]+)"',
            svg,
        )
        assert len(tiles) == listed  # every district, zero included
        assert tiles.count("#ffffff") == listed - 1 and "#0f5e7a" in tiles  # Beilin darkest
        assert "西安市 碑林区：每万名学生" in svg
        width = int(re.search(r'viewBox="0 0 (\d+) ', svg).group(1))
        assert width == 64 + columns * 50
        legend = [
            float(x) for x in re.findall(r'<text x="([0-9.]+)" y="[0-9.]+" font-size="11"', svg)
        ]
        assert max(legend) < width  # the legend wraps inside a narrow map


def test_a_long_report_table_opens_under_a_summary_and_keeps_every_row(client, session, staff_user):
    import re

    from tests.marketplace.resource_support import make_expert

    for n in range(25):
        make_expert(session, f"L{n:05d}", f"长表专家{n:02d}")
    logged_in(client, staff_user)
    page = client.get("/reports").text
    folded = re.search(
        r'<details class="long-table"><summary>共 (\d+) 行，展开查看全部</summary>', page
    )
    assert folded and int(folded.group(1)) >= 25
    assert "长表专家00" in page and "长表专家24" in page
    # The printable monthly report shows every row: nothing folds there.
    monthly = client.get("/reports/monthly")
    assert monthly.status_code == 200 and "长表专家24" in monthly.text
    assert "long-table" not in monthly.text


def test_every_report_surface_counts_per_ten_thousand_students(client, session, staff_user):
    """One unit on the page's table and tile map, the monthly report, the exports and the
    approval context beside a pending application: 每万名学生 (碑林区: 5 次 for 118,600)."""
    from marketplace.accounts.principal import system_principal
    from marketplace.applications.models import ApplicationCreate
    from marketplace.applications.service import create_application
    from marketplace.districts.service import find_district

    service = _service_with_one_allocation(session)
    beilin = find_district(session=session, name="西安市/碑林区")
    create_application(
        session=session,
        data=ApplicationCreate(service_id=service.id, quantity=5, purpose="第二次"),
        district_id=beilin.id,
        user=system_principal("t"),
    )
    session.flush()
    logged_in(client, staff_user)
    per_10k = f"{5 * 10_000 / 118_600:.2f}"  # 0.42
    surfaces = {
        "report": client.get("/reports", params={"service_id": service.id}).text,
        "monthly": client.get("/reports/monthly").text,
        "csv": client.get("/api/reports/allocation.csv").content.decode("utf-8-sig"),
        "applications": client.get("/applications").text,
    }
    for name, text in surfaces.items():
        assert "每万名学生" in text, name
        assert "每千名学生" not in text, name
    assert f"西安市 碑林区：每万名学生 {per_10k}次" in surfaces["report"]
    assert f"（每万名学生 {per_10k}）" in surfaces["applications"]
