"""A coordinator who works from London sets their time zone and reads, books and moves sessions
in London time, with the zone named, at 1366 and 390 px (issue 16, point 10)."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from playwright.sync_api import expect

from tests.web.browser.conftest import PHONE, log_in, screenshot

LONDON = "伦敦时间"
DESKTOP = {"width": 1366, "height": 900}


def set_zone(page, zone: str) -> None:
    page.goto("/account")
    page.get_by_label("时区", exact=True).select_option(zone)  # listed by Chinese name
    page.get_by_role("button", name="保存").click()
    expect(page.get_by_label("时区", exact=True)).to_have_value(zone)


def test_a_coordinator_in_london_books_and_moves_a_session_in_london_time(new_page):
    page = new_page(viewport=DESKTOP)
    log_in(page, "beilin")
    try:
        set_zone(page, "Europe/London")
        screenshot(page, "zone-account-1366")
        page.goto("/experts/D00001")
        week = page.locator("#next-slots")
        expect(week).to_contain_text(LONDON)
        expect(week).to_contain_text("专家按北京时间安排时间")
        # The slot reads in London time: its label is its start (in the link) seen from London.
        # (Which slot comes first depends on the hour the test runs, so compare, not fix, it.)
        first = week.locator("a.slot").first
        expect(first).to_have_text(re.compile(r"^\d\d:\d\d–\d\d:\d\d$"))
        start = parse_qs(urlsplit(first.get_attribute("href") or "").query)["start"][0]
        london = datetime.fromisoformat(start).astimezone(ZoneInfo("Europe/London"))
        beijing = datetime.fromisoformat(start).astimezone(ZoneInfo("Asia/Shanghai"))
        assert first.inner_text().startswith(london.strftime("%H:%M")), first.inner_text()
        assert london.strftime("%H:%M") != beijing.strftime("%H:%M")
        screenshot(page, "zone-week-1366")
        first.click()
        expect(page.get_by_text(LONDON)).to_be_visible()
        page.locator("#f-title").fill("伦敦时间预约测试")
        page.get_by_role("button", name="提交预约").click()
        page.wait_for_url(re.compile(r"/bookings"))
        card = page.locator("li.card", has_text="伦敦时间预约测试")
        expect(card).to_contain_text(LONDON)
        screenshot(page, "zone-bookings-1366")
        card.get_by_role("link", name="改期").click()
        expect(page.get_by_text("日期和时间按伦敦时间填写")).to_be_visible()
        screenshot(page, "zone-reschedule-1366")
        reschedule = page.url

        phone = new_page(viewport=PHONE)
        log_in(phone, "beilin")
        for path, name in (
            ("/account", "zone-account-390"),
            ("/experts/D00001", "zone-week-390"),
            ("/bookings", "zone-bookings-390"),
            (reschedule, "zone-reschedule-390"),
        ):
            phone.goto(path)
            # every page names the zone in Chinese, never by its IANA name
            expect(phone.locator("main")).not_to_contain_text("Europe/London")
            if path == "/account":
                expect(phone.get_by_label("时区", exact=True)).to_have_value("Europe/London")
                expect(phone.locator("#f-timezone option:checked")).to_have_text("伦敦时间")
            else:
                expect(phone.locator("main")).to_contain_text(LONDON)
            overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path} scrolls sideways by {overflow}px at 390 px"
            screenshot(phone, name, full_page=path != "/bookings")
    finally:
        set_zone(page, "Asia/Shanghai")  # the demo server is shared with other journeys
