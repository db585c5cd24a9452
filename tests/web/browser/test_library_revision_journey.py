"""The library after review, in a browser: staff return an expert's outline for changes, the
expert edits it on a phone (an error shown next to its field, then a file swapped) and submits
it again; staff publish it; the expert revises it with a change reason and the resource page
shows the version history; a coordinator narrows the directory's 资料 section by kind. Every
page looked at at 390 and 1366 px: nothing wider than the screen, no serious axe finding."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.marketplace.resource_support import make_docx, make_pdf
from tests.web.browser.conftest import PHONE, SCREENSHOTS, log_in, screenshot
from tests.web.browser.test_library_a11y import AXE, _serious

DESKTOP = {"width": 1366, "height": 900}
TITLE = "课间十分钟：小学生情绪小游戏课纲"


def _fits(page, name: str) -> None:  # type: ignore[no-untyped-def]
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name}: {overflow}px wider than the screen"
    if AXE.exists():
        assert _serious(page) == [], name
    screenshot(page, name)


def test_return_edit_resubmit_revise_and_read_the_history(new_page, tmp_path):
    outline = tmp_path / "outline.pdf"
    outline.write_bytes(make_pdf("Lesson outline: emotion games in the ten-minute break"))
    revised = tmp_path / "revised.docx"
    revised.write_bytes(make_docx("课间十分钟情绪小游戏（修订稿）", "第三个游戏：情绪温度计"))

    expert = new_page(viewport=PHONE, bypass_csp=True)
    log_in(expert, "expert")
    expert.goto("/library/new")
    expert.get_by_label("标题").fill(TITLE)
    expert.get_by_label("小学生").check()
    expert.get_by_label(re.compile("^文件")).set_input_files(str(outline))
    expert.get_by_role("button", name="提交审核").click()
    expect(expert.get_by_role("status").first).to_contain_text("资料已提交")
    resource_path = expert.url.split("//", 1)[1].split("/", 1)[1]

    staff = new_page(viewport=DESKTOP, bypass_csp=True)
    log_in(staff, "staff")
    staff.goto(f"/{resource_path}")
    staff.get_by_label(re.compile("意见或原因")).fill("请补充每个游戏的时长和注意事项")
    staff.get_by_role("button", name="退回修改").click()
    expect(staff.get_by_role("status").first).to_contain_text("已退回作者修改")

    expert.goto(f"/{resource_path}")
    expect(expert.get_by_text("请补充每个游戏的时长")).to_be_visible()
    expert.get_by_role("link", name="修改内容和文件").click()
    _fits(expert, "library-edit-390")
    expert.get_by_label("标题").fill("x")
    expert.get_by_role("button", name="保存并重新提交审核").click()
    expect(expert.locator("#err-title")).to_be_visible()
    _fits(expert, "library-edit-error-390")
    expert.get_by_label("标题").fill(TITLE)
    expert.get_by_label(re.compile("删除 ")).check()
    expert.get_by_label(re.compile("^添加文件")).set_input_files(str(revised))
    expert.get_by_role("button", name="保存并重新提交审核").click()
    expect(expert.get_by_role("status").first).to_contain_text("重新提交审核")
    expect(expert.get_by_role("link", name=re.compile("下载 .*\\.docx"))).to_be_visible()

    staff.goto(f"/{resource_path}")
    staff.get_by_role("button", name="通过并发布").click()
    expect(staff.get_by_role("status").first).to_contain_text("资料已发布")

    expert.goto(f"/{resource_path}")
    expert.get_by_label(re.compile("修订说明")).fill("增加了第三个游戏：情绪温度计")
    expert.get_by_role("button", name=re.compile("修订")).click()
    expect(expert.get_by_role("heading", name="修改资料")).to_be_visible()
    expect(expert.get_by_label(re.compile("修订说明"))).to_have_value(
        "增加了第三个游戏：情绪温度计"
    )
    expert.get_by_role("button", name="保存并重新提交审核").click()
    expect(expert.get_by_role("status").first).to_contain_text("重新提交审核")
    second_path = expert.url.split("//", 1)[1].split("/", 1)[1]

    staff.goto(f"/{second_path}")
    staff.get_by_role("button", name="通过并发布").click()
    expect(staff.get_by_role("status").first).to_contain_text("资料已发布")
    history = staff.get_by_role("region", name="版本历史")
    expect(history).to_contain_text("第 1 版")
    expect(history).to_contain_text("已被新版本取代")
    expect(history).to_contain_text("增加了第三个游戏：情绪温度计")
    _fits(staff, "library-history-1366")
    staff.set_viewport_size(PHONE)
    _fits(staff, "library-history-390")

    coordinator = new_page(viewport=PHONE, bypass_csp=True)
    log_in(coordinator, "beilin")
    coordinator.goto("/experts?q=" + "学生心理筛查用什么量表")
    facets = coordinator.locator(".resource-facets")
    expect(facets).to_be_visible()
    _fits(coordinator, "directory-material-facets-390")
    coordinator.locator("#found-resources").screenshot(
        path=str(SCREENSHOTS / "directory-material-section-390.png")
    )
    facets.get_by_role("link", name=re.compile("^测评量表 \\d+")).click()
    expect(coordinator.locator("#found-resources")).to_contain_text("不限类型")
    coordinator.set_viewport_size(DESKTOP)
    _fits(coordinator, "directory-material-facets-1366")
    coordinator.locator("#found-resources").screenshot(
        path=str(SCREENSHOTS / "directory-material-section-1366.png")
    )
    coordinator.goto("/library")
    _fits(coordinator, "library-facets-1366")
