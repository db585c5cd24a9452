"""Browser journey: 西安市's staff pair an expert of 长安区 (南部片区) with 城六区片区 in the
city expert group; in the review of their batch match, that expert is shown to staff as a
member of the request's zone group for an onsite request from 碑林区 (城六区片区); the review
fits a laptop and a phone."""

from __future__ import annotations

from datetime import date, timedelta

from playwright.sync_api import expect
from sqlmodel import col, select

from marketplace.centers.models import CenterExpert
from marketplace.db import make_engine, session_scope
from marketplace.districts.models import District
from marketplace.experts.models import Expert
from tests.web.browser.conftest import PHONE, log_in, screenshot

WIDE = {"width": 1366, "height": 900}
REASON = "城六区片区专家组成员"


def _changan_expert(settings) -> str:
    """The name of an active 长安区 expert offering onsite supervision, in no expert group, whose
    name no other expert shares."""
    engine = make_engine(settings)
    try:
        with session_scope(engine) as session:
            members = set(session.exec(select(CenterExpert.expert_id)).all())
            experts = session.exec(
                select(Expert)
                .join(District, col(District.id) == Expert.district_id)
                .where(District.name == "长安区", Expert.status == "active")
                .order_by(col(Expert.id))
            ).all()
            for expert in experts:
                same_name = session.exec(select(Expert.id).where(Expert.name == expert.name)).all()
                if (
                    expert.id not in members
                    and "onsite" in expert.formats
                    and "supervision" in expert.service_types
                    and expert.monthly_capacity_hours >= 8
                    and len(same_name) == 1
                ):
                    return expert.name
    finally:
        engine.dispose()
    raise AssertionError("the demo has no 长安区 expert to pair")


def _named(page, items, name: str):
    """The items whose link reads exactly `name` (not a longer name containing it)."""
    return items.filter(has=page.get_by_role("link", name=name, exact=True))


def test_city_staff_see_a_zone_paired_member_marked_in_their_batch_review(new_page, demo_settings):
    name = _changan_expert(demo_settings)
    text = "浏览器测试：片区专家组——初中班主任团体辅导需要到校督导"
    coordinator = new_page()
    log_in(coordinator, "beilin")
    coordinator.goto("/requests/new")
    coordinator.get_by_label("需求描述").fill(text)
    coordinator.get_by_label("服务类型").select_option(label="督导")
    coordinator.get_by_label("服务方式").select_option(label="到校/线下")
    coordinator.get_by_label("所需小时数").fill("3")
    start = date.today() + timedelta(days=14)
    coordinator.get_by_label("最早日期").fill(start.isoformat())
    coordinator.get_by_label("最晚日期").fill((start + timedelta(days=30)).isoformat())
    coordinator.get_by_role("button", name="提交需求").click()
    expect(coordinator.get_by_role("status")).to_contain_text("需求已提交")

    staff = new_page(viewport=WIDE)
    log_in(staff, "xian")
    staff.goto("/expert-groups")
    staff.get_by_label("专家姓名").fill(name)
    staff.get_by_role("button", name="查找").click()
    candidate = _named(staff, staff.locator("#candidates li.card"), name).first
    candidate.get_by_role("checkbox", name="城六区片区").check()
    candidate.get_by_role("button", name="加入专家组").click()
    expect(staff.get_by_role("status")).to_contain_text("已将专家加入本市专家指导组")

    staff.goto("/matching")
    staff.get_by_role("button", name="运行批量匹配").click()
    expect(staff.get_by_role("status")).to_contain_text("批量匹配已完成", timeout=120_000)
    card = staff.locator("li.proposal-request").filter(has_text=text[:20])
    assigned = _named(staff, card.locator(".compact-list > li"), name)
    if assigned.count():
        expect(assigned.first).to_contain_text(REASON)
    else:
        search = card.locator("details.find-by-name").first
        search.locator("summary").click()
        expect(search.locator(".alternates-list li").first).to_be_visible(timeout=60_000)
        search.get_by_label("专家姓名").fill(name)
        search.get_by_role("button", name="查找").click()
        found = _named(staff, search.locator(".alternates-list li"), name)
        expect(found.first).to_contain_text(REASON, timeout=60_000)
    card.scroll_into_view_if_needed()
    screenshot(staff, "matching-zone-group-1366")

    phone = new_page(viewport=PHONE)
    log_in(phone, "xian")
    phone.goto(staff.url)
    card = phone.locator("li.proposal-request").filter(has_text=text[:20])
    if not _named(phone, card.locator(".compact-list > li"), name).count():
        search = card.locator("details.find-by-name").first
        search.locator("summary").click()
        expect(search.locator(".alternates-list li").first).to_be_visible(timeout=60_000)
        search.get_by_label("专家姓名").fill(name)
        search.get_by_role("button", name="查找").click()
    expect(card).to_contain_text(REASON, timeout=60_000)
    card.scroll_into_view_if_needed()
    screenshot(phone, "matching-zone-group-390")
    assert phone.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    staff.get_by_role("button", name="放弃方案").click()
    expect(staff.get_by_role("status")).to_contain_text("方案已放弃")
