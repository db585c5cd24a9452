"""Resource centers in the browser: 西安市's center approves an application to its own service
and runs batch matching over its districts' requests; the province center sees both cities."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.web.browser.conftest import PHONE, file_online_request, log_in, nav_to, screenshot

WIDE = {"width": 1366, "height": 768}


def test_city_staff_approve_their_service_and_match_their_city_province_staff_see_both(
    new_page,
):
    # 雁塔区's pending application to 西安市's own hotline service (demo data).
    city = new_page(viewport=WIDE)
    log_in(city, "xian")
    nav_to(city, "服务申请")
    card = city.locator("#results li.card").filter(has_text="雁塔区中学开通热线转介")
    expect(card).to_contain_text("待审批")
    # Another city's application (宝鸡市渭滨区) is not on 西安's list, and the only decision
    # form is on the card of 西安's own service.
    expect(city.locator("#results")).not_to_contain_text("渭滨区")
    expect(city.locator("#results").get_by_role("button", name="批准")).to_have_count(1)
    screenshot(city, "centers-city-applications-1366")
    card.get_by_role("button", name="批准").click()
    expect(city.get_by_role("status")).to_contain_text("已批准该申请")
    expect(
        city.locator("#results li.card").filter(has_text="雁塔区中学开通热线转介")
    ).to_contain_text("已批准")

    # 碑林区 files a request; 西安's center runs batch matching over its own districts.
    text = "浏览器测试：市级批量匹配——初中班主任需要线上团体督导"
    coordinator = new_page()
    log_in(coordinator, "beilin")
    file_online_request(coordinator, text, hours=4, starts_in_days=12)

    nav_to(city, "批量匹配")
    city.get_by_role("button", name="运行批量匹配").click()
    expect(city.get_by_role("status")).to_contain_text("批量匹配已完成", timeout=120_000)
    expect(city.locator("li.proposal-request").filter(has_text=text[:20])).to_be_visible()
    screenshot(city, "centers-city-matching-1366")

    # 宝鸡's center sees neither 西安's applications nor its run.
    other = new_page()
    log_in(other, "baoji")
    nav_to(other, "服务申请")
    expect(other.locator("#results")).to_contain_text("渭滨区")
    expect(other.locator("#results")).not_to_contain_text("雁塔区")
    nav_to(other, "批量匹配")
    expect(other.locator("main")).not_to_contain_text("市级批量匹配")

    # Province staff see both cities, on a laptop and on a phone.
    for viewport, name in ((WIDE, "1366"), (PHONE, "390")):
        province = new_page(viewport=viewport)
        log_in(province, "staff")
        province.goto("/applications")
        results = province.locator("#results")
        expect(results).to_contain_text("雁塔区")
        expect(results).to_contain_text("渭滨区")
        screenshot(province, f"centers-province-applications-{name}")
        overflow = province.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page scrolls sideways by {overflow}px at {name}"
