"""A coordinator's bookings as a calendar: a week of sessions day by day (a month on a laptop),
each leading to its card in the list, the list a tab away; at 390 px the week reads as an agenda
(days stacked, a day without sessions one short line) and nothing overflows. The list itself is
compact on a phone: what has ended is folded under its heading."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.web.browser.conftest import LAPTOP, PHONE, log_in, screenshot


def _week_with_sessions(page) -> None:
    """Step forward from the week the calendar opens on to one with a session (demo data)."""
    for _ in range(4):
        if page.locator(".cal-entry").count():
            return
        page.get_by_role("link", name="下一周 →").click()
        expect(page.locator("#cal-title")).to_be_visible()
    raise AssertionError("no session in the demo's next weeks")


def test_a_coordinator_reads_the_week_and_opens_a_session_from_it(new_page):
    page = new_page(viewport=LAPTOP)
    log_in(page, "beilin")
    page.goto("/bookings")
    page.get_by_role("navigation", name="预约视图").get_by_role("link", name="周视图").click()
    expect(page).to_have_url(re.compile(r"view=week"))
    expect(page.locator("#cal-title")).to_contain_text("场")
    days = page.locator(".cal-grid > .cal-day")
    expect(days).to_have_count(7)
    _week_with_sessions(page)
    # On a laptop the seven days sit side by side.
    tops = days.evaluate_all("els => els.map(e => Math.round(e.getBoundingClientRect().top))")
    assert len(set(tops)) == 1, tops
    screenshot(page, "bookings-week-1366")
    entry = page.locator(".cal-entry a").first
    title = entry.locator(".cal-title").inner_text()
    entry.click()
    expect(page).to_have_url(re.compile(r"/bookings\?.*#booking-\d+$|/bookings#booking-\d+$"))
    anchor = page.url.split("#")[1]
    card = page.locator(f"#{anchor}")
    expect(card).to_be_visible()
    expect(card.locator("h3")).to_have_text(title)
    expect(card.get_by_role("link", name="下载 .ics")).to_be_visible()

    page.get_by_role("navigation", name="预约视图").get_by_role("link", name="月视图").click()
    expect(page.locator("#cal-title")).to_contain_text("月")
    assert page.locator(".cal-grid > .cal-day").count() in (28, 35, 42)
    screenshot(page, "bookings-month-1366")


def test_at_390_px_the_week_is_an_agenda_and_the_list_is_compact(new_page):
    page = new_page(viewport=PHONE)
    log_in(page, "beilin")
    page.goto("/bookings?view=week")
    _week_with_sessions(page)
    days = page.locator(".cal-grid > .cal-day")
    lefts = days.evaluate_all("els => els.map(e => Math.round(e.getBoundingClientRect().left))")
    assert len(set(lefts)) == 1, lefts  # stacked, one column
    empty = page.locator(".cal-grid > .cal-day.empty")
    if empty.count():
        assert max(empty.evaluate_all("els => els.map(e => e.getBoundingClientRect().height)")) < 45
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    expect(page.get_by_role("link", name="月视图")).to_be_hidden()  # the month is for laptops
    screenshot(page, "bookings-week-390")

    page.goto("/bookings")
    ended = page.locator("details.ended")
    if ended.count():
        expect(ended).not_to_have_attribute("open", "")  # folded on a phone
    cards = page.locator("#results li.booking-card")
    heights = cards.evaluate_all("els => els.map(e => e.getBoundingClientRect().height)")
    assert heights and max(heights) < 300, heights
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    screenshot(page, "bookings-list-390")
