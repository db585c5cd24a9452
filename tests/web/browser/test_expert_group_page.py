"""The city expert group page in the browser: 西安市's staff find an expert by name, attach
them with a zone and detach them again; province staff switch between cities; the page fits a
laptop and a phone."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.web.browser.conftest import PHONE, log_in, nav_to, screenshot

WIDE = {"width": 1366, "height": 768}


def _no_sideways_scroll(page, name: str) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px at {name}"


def test_city_staff_attach_an_expert_found_by_name_with_a_zone_then_detach_them(new_page):
    for viewport, size in ((WIDE, "1366"), (PHONE, "390")):
        page = new_page(viewport=viewport)
        log_in(page, "xian")
        if size == "1366":
            nav_to(page, "专家指导组")
        else:
            page.goto("/expert-groups")
        expect(page.get_by_role("heading", level=1)).to_contain_text("西安市资源中心")
        members = page.locator("#members-title + .table-wrap tbody tr")
        before = members.count()
        assert before > 0  # the demo's group
        page.get_by_label("专家姓名").fill("王")
        page.get_by_role("button", name="查找").click()
        card = page.locator("#candidates li.card").first
        expect(card).to_be_visible()
        name = card.locator("strong").inner_text()
        card.get_by_role("checkbox").first.check()
        screenshot(page, f"expert-group-search-{size}")
        _no_sideways_scroll(page, size)
        card.get_by_role("button", name="加入专家组").click()
        expect(page.get_by_role("status")).to_contain_text("已将专家加入本市专家指导组")
        row = members.filter(has_text=name)
        expect(row).to_have_count(1)
        expect(row.get_by_role("checkbox").first).to_be_checked()
        screenshot(page, f"expert-group-members-{size}")
        _no_sideways_scroll(page, size)
        row.get_by_role("button", name="移出专家组").click()
        expect(page.get_by_role("status")).to_contain_text("已将专家移出本市专家指导组")
        expect(members.filter(has_text=name)).to_have_count(0)
        expect(members).to_have_count(before)


def test_province_staff_switch_to_another_citys_group(new_page):
    page = new_page(viewport=WIDE)
    log_in(page, "staff")
    page.goto("/expert-groups")
    page.get_by_label("资源中心", exact=True).select_option(label="宝鸡市资源中心")
    page.get_by_role("button", name="查看").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("宝鸡市资源中心")
    screenshot(page, "expert-group-province-1366")
