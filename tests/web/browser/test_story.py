"""The whole story in Chromium, with screenshots at 1366 and 390 px (test-output/screenshots/):
a coordinator searches by need and books from a profile's week view, files a request; staff
confirm a batch match; the coordinator sees the assignment on the request page and books the
assigned expert from there; the expert sees who and why and confirms; both see the
notification in the inbox; the session's .ics downloads and parses."""

from __future__ import annotations

import re
from datetime import date

import icalendar
from playwright.sync_api import expect

from tests.web.browser.conftest import PHONE, file_online_request, log_in, screenshot

DESKTOP = {"width": 1366, "height": 900}
STORY_PASSWORD = "story-expert-2026!"


def both_widths(page, name: str) -> None:
    """Screenshots of the page as it is, at 1366 px and at 390 px; no sideways scrolling."""
    for label, size in (("1366", DESKTOP), ("390", PHONE)):
        page.set_viewport_size(size)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} scrolls sideways at {label} px by {overflow} px"
        screenshot(page, f"story-{name}-{label}")
    page.set_viewport_size(DESKTOP)


def _book_first_slot(page, title: str) -> None:
    """On a profile: the first free slot of the shown week (or a later one), booked."""
    slots = page.locator("#next-slots a.slot")
    for _ in range(4):
        if slots.count():
            break
        page.get_by_role("link", name="下一周 →").click()
    expect(slots.first).to_be_visible()
    slots.first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("预约")
    page.get_by_label("主题").fill(title)
    page.get_by_role("button", name="提交预约").click()


def _account_for(settings, expert_id: str) -> str:
    """The demo has one expert account (D00001); another assigned expert gets one here."""
    from sqlmodel import select

    from marketplace.accounts.models import User, UserCreate
    from marketplace.accounts.principal import system_principal
    from marketplace.accounts.service import create_user
    from marketplace.db import make_engine, session_scope
    from marketplace.vocabulary import Role

    engine = make_engine(settings)
    try:
        with session_scope(engine) as session:
            found = session.exec(
                select(User).where(User.role == Role.expert.value, User.expert_id == expert_id)
            ).first()
            if found is not None:
                return found.username
            username = f"story-{expert_id.lower()}"
            create_user(
                session=session,
                data=UserCreate(
                    username=username,
                    password=STORY_PASSWORD,
                    role=Role.expert,
                    expert_id=expert_id,
                    display_name="故事专家",
                ),
                user=system_principal("browser-story"),
            )
            return username
    finally:
        engine.dispose()


def test_the_whole_story_from_a_need_to_a_confirmed_session(new_page, demo_settings):
    coordinator = new_page(viewport=DESKTOP)
    log_in(coordinator, "beilin")

    # 1. Search by need: explained hits, each with its reasons.
    coordinator.goto("/experts")
    coordinator.get_by_label("描述需求或输入专家姓名").fill("初中生考试焦虑，失眠，需要线上督导")
    coordinator.get_by_role("button", name="搜索").click()
    first = coordinator.locator("#results .expert-card").first
    expect(first).to_be_visible()
    expect(first.locator(".reasons li").first).to_be_visible()
    both_widths(coordinator, "01-search")

    # 2. Book from the profile's week view.
    first.locator("h3 a, h2 a").first.click()
    expect(coordinator.locator("#next-slots")).to_be_visible()
    both_widths(coordinator, "02-profile-week")
    _book_first_slot(coordinator, "故事：考试焦虑个案咨询")
    expect(coordinator.get_by_role("status")).to_contain_text("等待专家确认")

    # 3. File a request.
    text = "故事：七年级学生考试焦虑与厌学，需要线上督导班主任四次"
    file_online_request(coordinator, text, hours=4, starts_in_days=2, window_days=40)
    request_url = coordinator.url
    assert re.search(r"/requests/\d+$", request_url)

    # 4. Staff run and confirm a batch match.
    staff = new_page(viewport=DESKTOP)
    log_in(staff, "staff")
    staff.goto("/matching")
    staff.get_by_role("button", name="运行批量匹配").click()
    expect(staff.get_by_role("status")).to_contain_text("批量匹配已完成", timeout=180_000)
    expect(staff.locator("li.proposal-request").filter(has_text=text[:20])).to_be_visible()
    staff.get_by_role("button", name="确认方案").click()
    expect(staff.get_by_role("status")).to_contain_text("方案已确认")

    # 5. The request page shows the assignment; the coordinator books the assigned expert.
    coordinator.goto(request_url)
    assigned = coordinator.locator("#assigned li.assigned-expert").first
    expect(assigned).to_be_visible()
    expect(assigned.locator(".reasons li").first).to_be_visible()
    name = assigned.locator("h3").inner_text().strip()
    href = assigned.locator("h3 a").get_attribute("href") or ""
    expert_id = href.rsplit("/", 1)[-1]
    both_widths(coordinator, "03-request-assigned")
    username = _account_for(demo_settings, expert_id)  # before booking: the expert is told
    assigned.get_by_role("link", name=f"预约 {name}").click()
    expect(coordinator).to_have_url(re.compile(rf"/experts/{expert_id}\?request_id=\d+"))
    title = "故事：为需求预约已分配的专家"
    _book_first_slot(coordinator, title)
    expect(coordinator).to_have_url(request_url)
    expect(coordinator.locator("#request-bookings")).to_contain_text(title)
    both_widths(coordinator, "04-request-booked")

    # 6. The expert sees who and why, and confirms.
    expert = new_page(viewport=DESKTOP)
    log_in(expert, username, None if username == "expert" else STORY_PASSWORD)
    expert.goto("/bookings")
    card = expert.locator("#results li.card").filter(has_text=title)
    expect(card).to_contain_text("碑林区")
    expect(card).to_contain_text(text[:12])  # the request's own words
    expect(card).to_contain_text("督导")
    both_widths(expert, "05-expert-before-confirming")
    card.get_by_role("button", name="确认").click()
    expect(expert.get_by_role("status")).to_contain_text("已确认该预约")

    # 7. Both see it in the inbox.
    expert.goto("/notifications")
    expect(expert.locator("main")).to_contain_text(f"新的预约申请：{title}")
    both_widths(expert, "06-expert-inbox")
    coordinator.goto("/notifications")
    expect(coordinator.locator("main")).to_contain_text(f"预约已确认：{title}")
    both_widths(coordinator, "07-coordinator-inbox")

    # 8. The session's .ics downloads and parses.
    coordinator.goto("/bookings")
    booked = coordinator.locator("#results li.card").filter(has_text=title)
    expect(booked).to_contain_text("已确认")
    with coordinator.expect_download() as download:
        booked.get_by_role("link", name="下载 .ics").click()
    calendar = icalendar.Calendar.from_ical(download.value.path().read_bytes())
    events = calendar.walk("VEVENT")
    assert len(events) == 1 and title in str(events[0]["SUMMARY"])
    assert events[0]["DTSTART"].dt.date() >= date.today()
