"""Browser journey: in the review of a batch match, staff look for a replacement by name among
the feasible experts ranked by fit (htmx), put one in, and the summary stays exact."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.web.browser.conftest import PHONE, file_online_request, log_in, nav_to, screenshot

DESKTOP = {"width": 1366, "height": 900}


def test_staff_replace_an_assignment_with_an_expert_found_by_name(new_page):
    text = "浏览器测试：按姓名替换——初中班主任需要线上团体辅导督导"
    coordinator = new_page()
    log_in(coordinator, "beilin")
    file_online_request(coordinator, text, hours=3, starts_in_days=12)

    staff = new_page(viewport=DESKTOP)
    log_in(staff, "staff")
    nav_to(staff, "批量匹配")
    staff.get_by_role("button", name="运行批量匹配").click()
    expect(staff.get_by_role("status")).to_contain_text("批量匹配已完成", timeout=120_000)
    card = staff.locator("li.proposal-request").filter(has_text=text[:20])
    assigned = card.locator(".compact-list > li > a").first
    before = assigned.inner_text()
    filled = staff.locator(".stats div").filter(has_text="已满足名额").locator("dd").inner_text()
    search = card.locator("details.find-by-name").first
    search.locator("summary").click()
    options = search.locator(".alternates-list li")
    expect(options.first).to_be_visible()
    # Pick the third-best candidate by typing part of its name.
    wanted = options.nth(2).locator("a").inner_text()
    search.get_by_label("专家姓名").fill(wanted[-2:])
    expect(search.locator(".alternates-list li").first).to_contain_text(wanted[-2:])
    for name in search.locator(".alternates-list li > a").all_inner_texts():
        assert wanted[-2:] in name
    screenshot(staff, "matching-find-by-name-1366")
    search.get_by_role("button", name=f"换成 {wanted}").click()
    card = staff.locator("li.proposal-request").filter(has_text=text[:20])
    expect(card.locator(".compact-list > li > a").first).to_have_text(wanted)
    assert before != wanted
    expect(staff.locator(".stats div").filter(has_text="已满足名额").locator("dd")).to_have_text(
        filled
    )
    expect(card).to_contain_text("人工调整")

    phone = new_page(viewport=PHONE)
    log_in(phone, "staff")
    phone.goto(staff.url)
    card = phone.locator("li.proposal-request").filter(has_text=text[:20])
    card.locator("details.find-by-name summary").first.click()
    expect(card.locator(".alternates-list li").first).to_be_visible()
    card.scroll_into_view_if_needed()
    screenshot(phone, "matching-find-by-name-390")
    assert phone.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    staff.get_by_role("button", name="放弃方案").click()
    expect(staff.get_by_role("status")).to_contain_text("方案已放弃")
