"""Errors in place, in Chromium: empty required fields get the app's own Chinese message next to
them (never the browser's bubble), a date range in the wrong order marks both dates, and the
request for a time (提交预约意向) goes from the profile to the expert's one-click answer."""

from __future__ import annotations

import re
from datetime import date, timedelta

from playwright.sync_api import expect

from tests.web.browser.conftest import PHONE, log_in, screenshot

DESKTOP = {"width": 1366, "height": 900}


def _note_after(page, selector: str):
    """The message the app put next to a field (the element right after it)."""
    return page.locator(f"{selector} + p.field-error")


def test_an_empty_request_form_says_what_is_missing_next_to_each_field(new_page):
    page = new_page(viewport=DESKTOP)
    log_in(page, "beilin")
    page.goto("/requests/new")
    expect(page.locator("label[for=f-text] .required-mark")).to_be_visible()
    expect(page.locator("#f-text")).to_have_attribute("aria-required", "true")
    page.get_by_role("button", name="提交需求").click()
    expect(page.locator("#err-text")).to_have_text("不能为空")
    choices = page.locator("#err-service_type")
    expect(choices).to_contain_text("请选择其中之一：")
    expect(choices).to_contain_text("督导")
    expect(choices).not_to_have_text(re.compile(r"[a-z_]{4,}"))  # no English list of values
    expect(page.locator("#f-text")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("alert")).to_contain_text("请查看标红的字段")
    screenshot(page, "forms-empty-request-1366")
    page.set_viewport_size(PHONE)
    screenshot(page, "forms-empty-request-390", full_page=False)


def test_a_required_reason_gets_the_apps_message_instead_of_the_browsers_bubble(new_page):
    page = new_page(viewport=DESKTOP)
    log_in(page, "expert")
    page.goto("/bookings?status=requested")
    card = page.locator("#results li.card").first
    expect(card).to_be_visible()
    card.get_by_text("拒绝", exact=True).click()
    reason = card.locator("textarea[name=reason]")
    expect(reason).to_have_attribute("aria-required", "true")
    card.get_by_role("button", name="确认拒绝").click()
    expect(_note_after(page, f"#{reason.get_attribute('id')}")).to_have_text("请填写此项")
    expect(reason).to_have_attribute("aria-invalid", "true")
    expect(page).to_have_url(re.compile(r"/bookings\?status=requested$"))  # nothing was sent
    reason.fill("时间冲突")
    expect(_note_after(page, f"#{reason.get_attribute('id')}")).to_have_count(0)


def test_a_request_window_in_the_wrong_order_marks_both_dates(new_page):
    page = new_page(viewport=DESKTOP)
    log_in(page, "beilin")
    page.goto("/requests/new")
    page.get_by_label("需求描述").fill("小学新入职心理教师需要线上督导")
    page.get_by_label("服务类型").select_option(label="督导")
    page.get_by_label("服务方式").select_option(label="线上")
    page.get_by_label("所需小时数").fill("4")
    start = date.today() + timedelta(days=20)
    page.get_by_label("最早日期").fill(start.isoformat())
    page.get_by_label("最晚日期").fill((start - timedelta(days=5)).isoformat())
    page.get_by_role("button", name="提交需求").click()
    for name in ("window_start", "window_end"):
        expect(page.locator(f"#err-{name}")).to_have_text("时间窗口的结束日期不能早于开始日期")
        expect(page.locator(f"#f-{name}")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("alert")).to_contain_text("请查看标红的字段")
    screenshot(page, "forms-date-order-1366")


def test_a_coordinator_asks_for_a_time_and_the_expert_answers_with_one_click(new_page):
    coordinator = new_page(viewport=DESKTOP)
    log_in(coordinator, "beilin")
    coordinator.goto("/experts/D00001")
    coordinator.locator("#next-slots").get_by_role("link", name="提交预约意向").click()
    expect(coordinator.get_by_role("heading", level=1)).to_contain_text("提交预约意向")
    screenshot(coordinator, "time-request-form-1366")
    coordinator.set_viewport_size(PHONE)
    screenshot(coordinator, "time-request-form-390")
    coordinator.set_viewport_size(DESKTOP)
    coordinator.get_by_role("button", name="提交预约意向").click()
    expect(coordinator.locator("#err-title")).to_have_text("不能为空")
    for field in ("#f-kind", "#f-format"):  # whatever this expert offers
        choice = coordinator.locator(field)
        choice.select_option(index=choice.locator("option").count() - 1)
    coordinator.get_by_label("主题").fill("浏览器测试：希望下午的督导")
    coordinator.get_by_label("希望的时段").select_option(label="下午（12:00–18:00）")
    first = date.today() + timedelta(days=3)
    coordinator.get_by_label("最早日期").fill((first + timedelta(days=7)).isoformat())
    coordinator.get_by_label("最晚日期").fill(first.isoformat())
    coordinator.get_by_role("button", name="提交预约意向").click()
    for name in ("earliest_day", "latest_day"):
        expect(coordinator.locator(f"#err-{name}")).to_have_text("最晚日期不能早于最早日期")
    coordinator.get_by_label("最早日期").fill(first.isoformat())
    coordinator.get_by_label("最晚日期").fill((first + timedelta(days=7)).isoformat())
    coordinator.get_by_role("button", name="提交预约意向").click()
    expect(coordinator.get_by_role("status")).to_contain_text("预约意向已提交")
    card = coordinator.locator("li.card").filter(has_text="浏览器测试：希望下午的督导")
    expect(card).to_contain_text("等待专家答复")

    expert = new_page(viewport=DESKTOP)
    log_in(expert, "expert")
    expert.goto("/notifications")
    expect(expert.locator("main")).to_contain_text("新的预约意向：浏览器测试：希望下午的督导")
    expert.goto("/time-requests")
    card = expert.locator("li.card").filter(has_text="浏览器测试：希望下午的督导")
    card.get_by_text("无法安排", exact=True).click()
    card.get_by_role("button", name="答复无法安排").click()
    expect(card.locator("textarea + p.field-error")).to_have_text("请填写此项")
    screenshot(expert, "time-request-expert-1366")
    expert.set_viewport_size(PHONE)
    screenshot(expert, "time-request-expert-390")
    expert.set_viewport_size(DESKTOP)
    choice = card.locator(".offer-choices button").first
    expect(choice).to_be_visible()
    choice.click()
    expect(expert.get_by_role("status")).to_contain_text("已提供时间")

    coordinator.goto("/time-requests")
    card = coordinator.locator("li.card").filter(has_text="浏览器测试：希望下午的督导")
    expect(card).to_contain_text("专家已提供时间")
    coordinator.goto("/notifications")
    expect(coordinator.locator("main")).to_contain_text("预约已确认：浏览器测试：希望下午的督导")


def test_an_empty_service_application_marks_required_fields_and_says_what_is_missing(new_page):
    page = new_page(viewport=DESKTOP)
    log_in(page, "beilin")
    page.goto("/services")
    page.locator("a[href^='/applications/new?service_id=']").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("申请：")
    for name in ("quantity", "purpose"):
        expect(page.locator(f"label[for=f-{name}] .required-mark")).to_have_text("*")
        expect(page.locator(f"#f-{name}")).to_have_attribute("aria-required", "true")
    expect(page.locator("label[for=f-period_start] .required-mark")).to_have_count(0)
    page.get_by_role("button", name="提交申请").click()
    for name in ("quantity", "purpose"):
        expect(page.locator(f"#err-{name}")).to_have_text(re.compile(r"[\u4e00-\u9fff]"))
        expect(page.locator(f"#err-{name}")).not_to_have_text(re.compile(r"[A-Za-z]{4,}"))
        expect(page.locator(f"#f-{name}")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "forms-empty-application-1366")
    page.set_viewport_size(PHONE)
    screenshot(page, "forms-empty-application-390", full_page=False)


def test_after_a_refused_form_the_address_bar_shows_the_form_page_and_a_refresh_reloads_it(
    new_page,
):
    page = new_page(viewport=DESKTOP)
    log_in(page, "admin")
    page.goto("/users/new")
    page.get_by_label("用户名").fill("walk-city")
    page.locator("#f-role").select_option("city_staff")
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.get_by_role("button", name=re.compile("创建")).click()
    expect(page.locator("#err-center")).to_be_visible()  # refused by the server, in place
    assert len(posts) == 1 and posts[0].endswith("/users")
    expect(page).to_have_url(re.compile(r"/users/new$"))  # not the POST's /users (the list)
    page.reload()
    expect(page.locator("#err-center")).to_have_count(0)  # the form again, nothing re-posted
    assert len(posts) == 1
    expect(page).to_have_url(re.compile(r"/users/new$"))
