"""One journey per role through the real server and Chromium (what exists so far)."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.web.browser.conftest import PHONE, file_online_request, log_in, nav_to, screenshot

DEMO_EXPERT = ("D00001", "黎洋馥")


def test_a_coordinator_logs_in_searches_in_chinese_as_they_type_and_opens_a_profile(new_page):
    page = new_page()
    log_in(page, "beilin")
    expect(page.get_by_role("heading", level=1)).to_contain_text("碑林区 协调员")
    screenshot(page, "district-dashboard")

    nav_to(page, "专家库")
    expect(page.get_by_role("heading", name="专家库")).to_be_visible()
    expect(page.locator("#results")).to_contain_text("共")
    expect(page.locator("#results .expert-card")).to_have_count(20)
    screenshot(page, "experts-directory")

    expert_id, name = DEMO_EXPERT
    page.get_by_label("描述需求或输入专家姓名").press_sequentially(
        name, delay=40
    )  # no Enter: live search
    expect(page.locator("#results .expert-card")).to_have_count(1)
    expect(page.locator("#results")).to_contain_text(name)
    expect(page).to_have_url(re.compile(r"/experts\?q="))
    screenshot(page, "experts-live-search")

    page.locator("#results").get_by_role("link", name=name).click()
    expect(page).to_have_url(
        re.compile(f"/experts/{expert_id}(\\?back=.+)?$")
    )  # the query rides along for ← 返回
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.locator("#next-slots")).to_be_visible()
    screenshot(page, "expert-profile")


def test_a_coordinator_filters_the_directory_and_pages_through_it(new_page):
    page = new_page()
    log_in(page, "beilin")
    page.goto("/experts")
    total_before = page.locator("#results strong").first.inner_text()
    page.get_by_text("筛选条件").click()  # the filters fold away under the search box
    page.get_by_label("领域", exact=True).select_option(label="医学（精神科）")
    expect(page).to_have_url(re.compile(r"domain=medicine"))
    expect(page.locator("#results strong").first).not_to_have_text(total_before)
    page.get_by_role("link", name="下一页").click()
    expect(page.get_by_text(re.compile(r"第 2 / \d+ 页"))).to_be_visible()


def test_the_directory_works_on_a_phone(new_page):
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    log_in(page, "beilin")
    page.goto("/experts")
    expect(page.locator("#results .expert-card").first).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], "the page scrolls sideways on a phone"
    screenshot(page, "phone-experts", full_page=False)


def test_a_need_search_on_a_phone_lists_compact_cards_whose_other_reasons_open_in_place(
    new_page,
):
    page = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    log_in(page, "beilin")
    page.goto("/experts?q=初三学生考试焦虑，需要到校辅导")
    cards = page.locator("#results .expert-card")
    expect(cards).to_have_count(20)
    # Every reason in full made 20 cards about 5,500 px tall at 390 px; one reason each is 3,200.
    height = page.evaluate("document.querySelector('#results .cards').offsetHeight")
    assert height < 20 * 190, f"20 cards take {height} px on a phone"
    for card in cards.all():
        expect(card.locator(".reasons li").first).to_be_visible()
    folded = cards.filter(has=page.locator("summary", has_text="更多理由")).first
    hidden = folded.locator("details.card-more .reasons li").first
    expect(hidden).to_be_hidden()
    folded.locator("summary").click()
    expect(hidden).to_be_visible()
    expect(hidden).not_to_be_empty()
    # A card shows three specialties; the whole list is one tap away.
    longer = cards.filter(has=page.locator(".tag-count")).first
    unshown = int(re.search(r"\d+", longer.locator(".tag-count").inner_text()).group())
    longer.locator("summary").click()
    everything = longer.get_by_role("list", name="全部专长").locator("li")
    expect(everything.first).to_be_visible()
    expect(everything).to_have_count(3 + unshown)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "phone-experts-need-search", full_page=False)


def test_pages_navigate_without_javascript(new_page):
    page = new_page(javascript=False)
    log_in(page, "beilin")
    page.goto("/experts")
    page.get_by_label("描述需求或输入专家姓名").fill(DEMO_EXPERT[1])
    page.get_by_role("button", name="搜索").click()
    expect(page.locator("#results .expert-card")).to_have_count(1)
    page.goto("/experts")
    page.get_by_role("link", name="下一页").click()
    expect(page).to_have_url(re.compile(r"page=2"))


def test_staff_open_the_audit_log_and_filter_it(new_page):
    page = new_page()
    log_in(page, "staff")
    expect(page.get_by_role("heading", name="专家库概况")).to_be_visible()
    screenshot(page, "staff-dashboard")
    nav_to(page, "审计日志")
    expect(page.get_by_role("heading", name="审计日志", level=1)).to_be_visible()
    page.get_by_label("操作人").fill("staff")
    # the action in Chinese; its code only as a tooltip
    action = page.locator('#results tbody tr td[data-label="操作"] div').first
    expect(action).to_have_text("登录")
    expect(action).to_have_attribute("title", "session.login")
    # Only staff's own entries are listed (the demo's import, by the CLI, is not; other
    # browser tests sharing the demo may have added entries by staff, imports included).
    actors = page.locator('#results td[data-label="操作人"]')
    expect(actors.filter(has_not_text="staff")).to_have_count(0)
    expect(actors.first).to_contain_text("staff")
    screenshot(page, "audit-log")


def test_an_expert_fixes_a_profile_error_shown_next_to_the_field(new_page):
    page = new_page()
    log_in(page, "expert")
    nav_to(page, "我的资料")
    years = page.get_by_label("从业年限（年）")
    years.fill("很多")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#err-years_experience")).to_have_text(re.compile("必须是整数"))
    expect(page.get_by_label("从业年限（年）")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "profile-error")
    page.get_by_label("从业年限（年）").fill("16")
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_role("status")).to_contain_text(re.compile("资料已保存|资料没有变化"))


def test_a_post_without_the_csrf_token_is_refused_with_a_friendly_page(new_page):
    page = new_page()
    log_in(page, "expert")
    page.evaluate(
        """() => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = '/logout';
            document.body.appendChild(form);
            form.submit();
        }"""
    )
    expect(page.get_by_role("alert")).to_contain_text("页面已过期或请求来源无法验证")
    response = page.request.post("/profile", form={"name": "冒名"})
    assert response.status == 403
    page.goto("/")
    expect(page.get_by_role("button", name="退出")).to_be_visible()  # still logged in


def test_logout_ends_the_session(new_page):
    page = new_page()
    log_in(page, "staff")
    page.get_by_role("button", name="退出").click()
    expect(page.get_by_role("status")).to_contain_text("您已安全退出")
    page.goto("/audit")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Faudit"))


def test_a_coordinator_applies_for_a_service_staff_approve_it_and_open_the_report(new_page):
    purpose = "浏览器测试：为碑林区心理教师申请督导"
    coordinator = new_page()
    log_in(coordinator, "beilin")
    nav_to(coordinator, "服务目录")
    screenshot(coordinator, "services-catalogue")
    coordinator.locator("main").get_by_role("link", name="申请", exact=True).first.click()
    coordinator.get_by_label(re.compile("申请数量")).fill("2")
    coordinator.get_by_label("用途说明").fill(purpose)
    coordinator.get_by_role("button", name="提交申请").click()
    expect(coordinator.get_by_role("status")).to_contain_text("申请已提交")

    staff = new_page()
    log_in(staff, "staff")
    nav_to(staff, "服务申请")
    card = staff.locator("#results li.card").filter(has_text=purpose)
    expect(card).to_contain_text("待审批")
    screenshot(staff, "applications-staff")
    card.get_by_role("button", name="批准").click()
    expect(staff.get_by_role("status")).to_contain_text("已批准该申请")
    expect(staff.locator("#results li.card").filter(has_text=purpose)).to_contain_text("已批准")

    nav_to(staff, "统计报表")
    expect(staff.get_by_role("heading", name="统计报表", level=1)).to_be_visible()
    expect(staff.get_by_role("link", name="导出 Excel")).to_be_visible()
    screenshot(staff, "report")


def test_a_coordinator_files_a_request_and_sees_recommendations_with_reasons(new_page):
    from datetime import date, timedelta

    page = new_page()
    log_in(page, "beilin")
    nav_to(page, "需求与匹配")
    page.get_by_role("link", name="提交新需求").click()
    page.get_by_label("需求描述").fill("初中生自伤事件后的心理危机干预，需要线上督导班主任")
    page.get_by_label("服务类型").select_option(label="危机支持")
    page.get_by_label("服务方式").select_option(label="线上")
    page.get_by_label("所需小时数").fill("6")
    start = date.today() + timedelta(days=7)
    page.get_by_label("最早日期").fill(start.isoformat())
    page.get_by_label("最晚日期").fill((start + timedelta(days=30)).isoformat())
    page.get_by_role("button", name="提交需求").click()
    expect(page.get_by_role("status")).to_contain_text("需求已提交")
    recommendations = page.locator("#recommendations")
    expect(recommendations.locator(".reasons li").first).to_be_visible(timeout=60_000)
    screenshot(page, "request-recommendations")


def test_a_coordinator_books_a_slot_and_the_expert_confirms_it(new_page):
    expert_id, name = DEMO_EXPERT
    title = "浏览器测试：特殊教育个案咨询"
    coordinator = new_page()
    log_in(coordinator, "beilin")
    coordinator.goto(f"/experts/{expert_id}")
    slots = coordinator.locator("#next-slots")
    expect(slots.get_by_role("link", name="预约").first).to_be_visible()
    screenshot(coordinator, "expert-profile-slots")
    slots.get_by_role("link", name="预约").first.click()
    expect(coordinator.get_by_role("heading", level=1)).to_contain_text(name)
    coordinator.get_by_label("主题").fill(title)
    coordinator.get_by_role("button", name="提交预约").click()
    expect(coordinator.get_by_role("status")).to_contain_text("等待专家确认")

    expert = new_page()
    log_in(expert, "expert")
    nav_to(expert, "预约", exact=True)
    card = expert.locator("#results li.card").filter(has_text=title)
    expect(card).to_contain_text("待确认")
    card.get_by_role("button", name="确认").click()
    expect(expert.get_by_role("status")).to_contain_text("已确认该预约")
    expect(expert.locator("#results li.card").filter(has_text=title)).to_contain_text("已确认")
    screenshot(expert, "expert-bookings")


def _set_every_day(page, start: str, end: str) -> None:
    for day in "一二三四五六日":
        page.get_by_label(f"周{day} 第 1 段开始", exact=True).fill(start)
        page.get_by_label(f"周{day} 第 1 段结束", exact=True).fill(end)


def test_an_expert_moves_weekly_hours_to_the_evening_and_the_coordinator_sees_those_slots(new_page):
    expert_id, _ = DEMO_EXPERT
    expert = new_page()
    log_in(expert, "expert")
    nav_to(expert, "可预约时间")
    expect(expert.get_by_role("heading", name="可预约时间", level=1)).to_be_visible()
    _set_every_day(expert, "19:00", "21:00")
    screenshot(expert, "availability-editor")
    expert.get_by_role("button", name="保存可预约时间").click()
    expect(expert.get_by_role("status")).to_contain_text("可预约时间已保存")
    expect(expert.get_by_label("周三 第 1 段开始", exact=True)).to_have_value("19:00")

    coordinator = new_page()
    log_in(coordinator, "beilin")
    coordinator.goto(f"/experts/{expert_id}")
    slots = coordinator.locator("#next-slots")
    # evening slots only; late on a weekend evening the week's last one may be 20:00 (a slot
    # must start after the booking notice), earlier or on the next week 19:00
    expect(slots).to_contain_text(re.compile("19:00–20:00|20:00–21:00"))
    expect(slots).not_to_contain_text("09:00–10:00")
    screenshot(coordinator, "expert-profile-evening-slots")

    # Back to office hours, so the other journeys find the slots they expect.
    _set_every_day(expert, "09:00", "17:00")
    expert.get_by_role("button", name="保存可预约时间").click()
    expect(expert.get_by_role("status")).to_contain_text("可预约时间已保存")


def test_an_expert_gets_a_calendar_feed_link_without_leaving_the_page(new_page):
    expert = new_page()
    log_in(expert, "expert")
    expert.goto("/availability")
    expert.get_by_role("button", name="生成 / 更换订阅链接").click()
    link = expert.get_by_label(re.compile("订阅链接（只显示这一次"))
    expect(link).to_have_value(re.compile(r"/api/feeds/.+\.ics$"))
    expect(expert).to_have_url(re.compile(r"/availability$"))  # swapped in place by htmx
    feed = expert.request.get(link.input_value())
    assert feed.status == 200 and "BEGIN:VCALENDAR" in feed.text()


def test_staff_run_batch_matching_review_the_proposal_and_confirm_it(new_page):

    text = "浏览器测试：批量匹配——小学新入职心理教师需要线上督导"
    coordinator = new_page()
    log_in(coordinator, "beilin")
    file_online_request(coordinator, text, hours=4, starts_in_days=10)

    staff = new_page()
    log_in(staff, "staff")
    nav_to(staff, "批量匹配")
    expect(staff.get_by_role("heading", name="批量匹配", level=1)).to_be_visible()
    screenshot(staff, "matching-runs")
    staff.get_by_role("button", name="运行批量匹配").click()
    expect(staff.get_by_role("status")).to_contain_text("批量匹配已完成", timeout=120_000)
    card = staff.locator("li.proposal-request").filter(has_text=text[:20])
    expect(card).to_be_visible()
    expect(card.locator(".reasons li").first).to_be_visible()
    screenshot(staff, "matching-proposal")
    staff.get_by_role("button", name="确认方案").click()
    expect(staff.get_by_role("status")).to_contain_text("方案已确认")
    staff.get_by_role("link", name="← 返回批量匹配").click()
    expect(staff.locator("table tbody tr").first).to_contain_text("已确认")


def test_on_a_phone_the_facets_fold_and_services_and_materials_show_their_first_two(new_page):
    query = "/experts?q=初三学生考试焦虑，需要到校辅导"
    laptop = new_page()
    log_in(laptop, "beilin")
    laptop.goto(query)
    expect(laptop.locator("details.facets")).to_have_attribute("open", "")
    expect(laptop.locator("#found-resources .kind-cards > li").nth(2)).to_be_visible()
    phone = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    log_in(phone, "beilin")
    phone.goto(query)
    facets = phone.locator("details.facets")
    expect(facets).not_to_have_attribute("open", "")
    facets.locator("summary").click()  # one tap opens them
    expect(facets.locator(".tag-link").first).to_be_visible()
    facets.locator("summary").click()
    resources = phone.locator("#found-resources .kind-cards > li")
    assert resources.count() > 2
    expect(resources.nth(1)).to_be_visible()
    expect(resources.nth(2)).to_be_hidden()
    expect(phone.get_by_role("link", name=re.compile("在资料库中查看全部"))).to_be_visible()
    # 20 cards, facets open and every service and material made this page 6,048 px tall
    height = phone.evaluate("document.documentElement.scrollHeight")
    assert height < 5600, f"the directory is {height} px tall on a phone"
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(phone, "phone-experts-folded")


def test_on_a_phone_the_district_map_keeps_its_tiles_legible(new_page):
    phone = new_page(viewport=PHONE, is_mobile=True, has_touch=True)
    log_in(phone, "staff")
    phone.goto("/reports")
    expect(phone.locator("svg.tile-map-wide")).to_be_hidden()
    narrow = phone.locator("svg.tile-map-phone")
    expect(narrow).to_be_visible()
    tile = narrow.locator("rect[width='46']").first
    assert tile.bounding_box()["width"] >= 36  # the 14-a-row map drew them 20 px wide
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(phone, "phone-report-map")
