"""The library journey in a browser: an expert submits a lesson outline PDF, staff publish it, a
coordinator's need search shows it under 资料 with a reason, the coordinator downloads it, and
the report counts the download. Looked at at 1366 px and on a 390 px phone."""

from __future__ import annotations

import re
import time

from playwright.sync_api import expect

from tests.marketplace.resource_support import make_pdf
from tests.web.browser.conftest import PHONE, log_in, screenshot

DESKTOP = {"width": 1366, "height": 900}
TITLE = "考场呼吸操：初一期中考试前的情绪调节课纲"
NEED = "初一学生期中考试前很紧张，想找教考场呼吸操的课"


def _overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_submit_publish_find_download_and_count(new_page, tmp_path):
    outline = tmp_path / "outline.pdf"
    outline.write_bytes(make_pdf("Lesson outline: breathing practice before the exam"))

    expert = new_page(viewport=DESKTOP)
    log_in(expert, "expert")
    expert.get_by_role("navigation", name="主导航").get_by_role("link", name="资料库").click()
    expert.get_by_role("link", name="提交资料").click()
    expert.get_by_label("标题").fill(TITLE)
    expert.get_by_label("简介").fill(
        "初一学生考前紧张的两课时辅导：考场呼吸操、积极自我对话与考前作息安排。"
    )
    expert.get_by_label("教师").check()
    expert.get_by_label("初中生").check()
    expert.get_by_label("专长领域（可多选）").select_option(["学业压力与考试焦虑"])
    expert.get_by_label(re.compile("^文件")).set_input_files(str(outline))
    screenshot(expert, "library-new-1366")
    expert.get_by_role("button", name="提交审核").click()
    expect(expert.get_by_role("status").first).to_contain_text("资料已提交")
    expect(expert.get_by_role("heading", name=TITLE, level=1)).to_be_visible()
    resource_url = expert.url

    staff = new_page(viewport=DESKTOP)
    log_in(staff, "staff")
    staff.goto("/library")
    expect(staff.get_by_role("heading", name=re.compile("待审核"))).to_be_visible()
    staff.get_by_role("link", name=TITLE).first.click()
    screenshot(staff, "library-review-1366")
    staff.get_by_role("button", name="通过并发布").click()
    expect(staff.get_by_role("status").first).to_contain_text("资料已发布")

    coordinator = new_page(viewport=PHONE)
    log_in(coordinator, "beilin")
    coordinator.goto("/experts")
    found = None
    for _ in range(20):  # the server drains the search outbox every second
        coordinator.get_by_label(re.compile("需求|关键词|搜索")).first.fill(NEED)
        coordinator.get_by_role("button", name="搜索", exact=True).click()
        coordinator.wait_for_load_state("networkidle")
        section = coordinator.locator("#found-resources")
        if section.count() and section.get_by_role("link", name=re.compile("考场呼吸操")).count():
            found = section
            break
        time.sleep(0.5)
    assert found is not None, "the published outline never appeared under 资料"
    card = found.locator(
        "li.card", has=coordinator.get_by_role("link", name=re.compile("考场呼吸操"))
    )
    expect(card.locator(".reasons")).to_contain_text("学业压力与考试焦虑")
    found.scroll_into_view_if_needed()
    screenshot(coordinator, "directory-three-kinds-390")
    assert _overflow(coordinator) <= 0
    card.get_by_role("link", name=re.compile("考场呼吸操")).click()
    expect(coordinator.get_by_role("heading", name=TITLE, level=1)).to_be_visible()
    screenshot(coordinator, "library-detail-390")
    assert _overflow(coordinator) <= 0
    with coordinator.expect_download() as download_info:
        coordinator.get_by_role("link", name=re.compile("^下载")).first.click()
    download = download_info.value
    assert download.suggested_filename.endswith(".pdf")
    assert open(download.path(), "rb").read().startswith(b"%PDF-")

    staff.goto("/reports")
    section = staff.locator("section, div").filter(has_text="资料库使用情况").last
    expect(section).to_contain_text("碑林区")
    screenshot(staff, "reports-library-1366")
    staff.goto(resource_url)
    expect(staff.get_by_text(re.compile(r"下载 1 次"))).to_be_visible()


def test_library_pages_fit_a_phone_and_a_laptop(new_page):
    for viewport, suffix in ((PHONE, "390"), (DESKTOP, "1366")):
        page = new_page(viewport=viewport)
        log_in(page, "beilin")
        page.goto("/library")
        expect(page.get_by_role("heading", name="资料库", level=1)).to_be_visible()
        screenshot(page, f"library-list-{suffix}")
        assert _overflow(page) <= 0
        page.get_by_role("link", name=re.compile("SDQ")).first.click()
        expect(page.get_by_role("heading", name="量表信息")).to_be_visible()
        screenshot(page, f"library-scale-{suffix}")
        assert _overflow(page) <= 0
