"""The two longest lists on a phone (session 6 leftovers): the directory's 20 result cards and
the audit log. At 390 px a directory card is four short lines with its one action (预约 for a
coordinator) and 上一页/下一页 are wide buttons that bring the next results to the top; the audit
log is a compact row per entry, 25 a page, its filters folded until opened."""

from __future__ import annotations

import contextlib
import re

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect

from tests.web.browser.conftest import LAPTOP, PHONE, log_in, screenshot

NEED = "初三学生考试焦虑，需要到校辅导"
# Four lines of text and the card's padding: about 113 px in Chromium at 390 px (was ~165).
CARD_MAX_PX = 125
AUDIT_ROW_MAX_PX = 100


def _heights(locator) -> list[float]:
    return locator.evaluate_all("els => els.map(e => e.getBoundingClientRect().height)")


def test_a_coordinator_reads_compact_directory_cards_and_pages_with_a_thumb(new_page):
    page = new_page(viewport=PHONE)
    log_in(page, "beilin")
    page.goto(f"/experts?q={NEED}")
    cards = page.locator("#results .expert-card")
    expect(cards).to_have_count(20)
    heights = _heights(cards)
    assert max(heights) <= CARD_MAX_PX, heights
    first = cards.first
    # name, title and organisation, specialties (the matched one first), the top reason
    expect(first.locator("h3")).to_be_visible()
    expect(first.locator(".org")).to_be_visible()
    expect(first.locator(".tag-specialty").first).to_contain_text("考试焦虑")
    expect(first.locator(".reasons").first).to_be_visible()
    # what gives way on a phone is on the profile the card opens
    expect(first.locator(".tag-format").first).to_be_hidden()
    action = first.get_by_role("link", name=re.compile("^预约"))
    expect(action).to_have_text("预约")
    box = action.bounding_box()
    assert box is not None and box["height"] >= 36 and box["width"] >= 44, box
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the directory scrolls sideways by {overflow}px"
    screenshot(page, "phone-directory-390")

    # 下一页: a wide button, and the next 20 start at the top of the screen
    pager = page.get_by_role("navigation", name="分页")
    following = pager.get_by_role("link", name="下一页")
    box = following.bounding_box()
    assert box is not None and box["height"] >= 44 and box["width"] >= 100, box
    following.click()
    page.wait_for_url(re.compile(r"page=2"))
    expect(pager.get_by_text("第 2 /")).to_be_visible()
    # htmx scrolls once the new page has settled: wait for it (up to 5 s), then state it
    results_top = "document.querySelector('#results').getBoundingClientRect().top"
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(
            f"() => {{ const t = {results_top}; return t >= -2 && t <= 60; }}", timeout=5000
        )
    top = page.evaluate(results_top)
    assert -2 <= top <= 60, f"the second page's results start {top}px from the top"

    # 预约 opens the expert's week of free slots
    cards.first.get_by_role("link", name=re.compile("^预约")).click()
    page.wait_for_url(re.compile(r"/experts/D\d+"))
    expect(page.locator("#next-slots")).to_be_visible()


def test_staff_see_the_same_cards_with_查看_and_the_laptop_keeps_the_details(new_page):
    page = new_page(viewport=LAPTOP)
    log_in(page, "staff")
    page.goto(f"/experts?q={NEED}")
    first = page.locator("#results .expert-card").first
    expect(first.get_by_role("link", name=re.compile("^查看"))).to_have_text("查看")
    expect(first.get_by_role("link", name=re.compile("^预约"))).to_have_count(0)
    # at 1366 px the service formats and 更多理由 stay on the card
    expect(first.locator(".tag-format").first).to_be_visible()
    expect(page.locator("#results .expert-card .card-more").first).to_be_visible()


def test_the_audit_log_is_a_compact_row_per_entry_on_a_phone(new_page):
    page = new_page(viewport=PHONE)
    log_in(page, "staff")
    page.goto("/audit")
    rows = page.locator("#results tbody tr")
    count = rows.count()
    assert 1 <= count <= 25
    heights = _heights(rows)
    assert max(heights) <= AUDIT_ROW_MAX_PX, heights
    # the filters fold until opened, and filter in place once opened
    filters = page.locator("details.more-filters")
    expect(filters).not_to_have_attribute("open", "")
    expect(page.get_by_label("操作", exact=True)).to_be_hidden()
    screenshot(page, "phone-audit-390")
    filters.locator("summary").click()
    page.get_by_label("操作", exact=True).fill("登录")
    expect(page.locator("#results tbody tr").first).to_contain_text("登录")
    page.wait_for_url(re.compile(r"action="))
    # come back to the filtered list: the filters stay open and say what is chosen
    page.reload()
    expect(filters).to_have_attribute("open", "")
    expect(filters.locator("summary")).to_contain_text("已选 1 项")
    # an opened entry's details take the row's width
    opened = page.locator("#results tbody tr details").first
    opened.locator("summary").click()
    width = opened.evaluate("e => e.getBoundingClientRect().width")
    assert width >= 300, f"the opened details are {width}px wide"
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the audit log scrolls sideways by {overflow}px"


def test_the_reports_district_list_is_three_short_lines_a_district_on_a_phone(new_page):
    page = new_page(viewport=PHONE)
    log_in(page, "staff")
    page.goto("/reports")
    rows = page.locator("table.district-table tbody tr")
    expect(rows.first).to_be_visible()
    heights = _heights(rows)
    assert max(heights) <= 90, heights  # a five-line labelled card was about 200 px
    first = rows.first
    # each figure keeps its label, written before it (a CSS ::before, not text of the cell)
    labels = {
        cell: first.locator(cell).evaluate("e => getComputedStyle(e, '::before').content")
        for cell in (".dt-net", ".dt-used", ".dt-per")
    }
    assert labels == {".dt-net": '"净分配："', ".dt-used": '"已使用："', ".dt-per": '"每万名学生 "'}
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the report scrolls sideways by {overflow}px"


def test_the_expert_pool_is_a_few_lines_an_expert_on_a_phone(new_page):
    page = new_page(viewport=PHONE)
    log_in(page, "staff")
    page.goto("/expert-pool")
    rows = page.locator("table.pool-table tbody tr")
    expect(rows.first).to_be_visible()
    heights = _heights(rows)
    # four lines (five when the organisation wraps); a seven-line labelled card was about 265 px
    assert max(heights) <= 130, heights
    expect(rows.first.get_by_role("link", name="编辑")).to_be_visible()
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the pool scrolls sideways by {overflow}px"


def test_the_library_is_short_cards_with_its_filters_folded_on_a_phone(new_page):
    page = new_page(viewport=PHONE)
    log_in(page, "staff")
    page.goto("/library")
    cards = page.locator("#results li.resource-card")
    expect(cards.first).to_be_visible()
    # title, tags, two lines of summary, one of specialties, the counts: ~190 px (was ~300)
    heights = _heights(cards)
    assert max(heights) <= 230, heights
    filters = page.locator("form.library-filters details.more-filters")
    expect(filters).not_to_have_attribute("open", "")
    expect(page.get_by_label("类型", exact=True)).to_be_hidden()
    expect(page.get_by_label("按需求搜索")).to_be_visible()  # the search box stays out
    expect(page.locator(".resource-facets")).to_be_hidden()  # the counts repeat the filters
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the library scrolls sideways by {overflow}px"
    height = page.evaluate("document.documentElement.scrollHeight")
    # ~1,000 px of page around ~200 px a card (the twelve demo resources: 3,212 px, ~4,400
    # before); other journeys of the run may have published more
    assert height <= 1_000 + 200 * cards.count(), (height, cards.count())
    screenshot(page, "phone-library-390")
