"""Browser journeys through the expert-pool console: staff add and verify an expert who then
appears in the directory's search; staff filter the pool and export it; staff import a small
JSONL file with one bad line and read the per-line report. Looked at at 1366 px and 390 px."""

from __future__ import annotations

import csv
import io
import json
import re
import time

from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.conftest import expert_record
from tests.web.browser.conftest import PHONE, log_in, nav_to, screenshot

DESKTOP = {"width": 1366, "height": 900}
NEW_NAME = "欧阳澈言"


def _overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def _total(page) -> int:
    return int(page.locator("#results strong").first.inner_text())


def test_staff_add_and_verify_an_expert_who_then_appears_in_directory_search(new_page):
    page = new_page(viewport=DESKTOP)
    log_in(page, "staff")
    nav_to(page, "专家管理")
    expect(page.get_by_role("heading", name="专家管理", level=1)).to_be_visible()
    page.get_by_role("link", name="添加专家").click()
    page.get_by_label(re.compile("^领域")).select_option(label="心理")
    page.get_by_label(re.compile("^工作单位")).fill("西安市雁塔区青少年心理中心")
    page.get_by_label(re.compile("^所在区县")).select_option(label="西安市 · 雁塔区")
    page.get_by_label("专长").fill("校园欺凌干预、同伴关系")
    page.get_by_label("线上").check()
    page.get_by_label("咨询").check()
    page.get_by_label("从业年限（年）").fill("十二")
    page.get_by_label("每月可服务时长（小时）").fill("16")
    page.get_by_role("button", name="添加专家").click()
    # Errors next to their fields, what was typed kept.
    expect(page.locator("#err-name")).to_be_visible()
    expect(page.locator("#err-years_experience")).to_be_visible()
    expect(page.get_by_label(re.compile("^工作单位"))).to_have_value("西安市雁塔区青少年心理中心")
    screenshot(page, "pool-add-errors-1366")
    page.get_by_label(re.compile("^姓名")).fill(NEW_NAME)
    page.get_by_label("从业年限（年）").fill("12")
    page.get_by_role("button", name="添加专家").click()
    expect(page.get_by_role("status").first).to_contain_text("专家已添加")
    page.get_by_role("button", name="认证该专家").click()
    expect(page.get_by_text(re.compile("已认证：.*staff.* 于 20"))).to_be_visible()
    screenshot(page, "pool-verified-1366")

    # The new expert reaches the directory's search through the index outbox.
    search = new_page(viewport=PHONE)
    log_in(search, "beilin")
    deadline = time.monotonic() + 30
    while True:
        search.goto(f"/experts?q={NEW_NAME}")
        if search.locator("main").get_by_text(NEW_NAME).count() or time.monotonic() > deadline:
            break
        time.sleep(1)
    expect(search.locator("main").get_by_text(NEW_NAME).first).to_be_visible()
    screenshot(search, "pool-new-expert-in-directory-390")
    assert _overflow(search) <= 0

    # Back in the pool, the newest change is first, verified by staff.
    page.goto("/expert-pool")
    first = page.locator("#results tbody tr").first
    expect(first).to_contain_text(NEW_NAME)
    expect(first).to_contain_text("已认证")


def test_staff_filter_the_pool_table_and_export_it(new_page):
    page = new_page(viewport=DESKTOP, accept_downloads=True)
    log_in(page, "staff")
    page.goto("/expert-pool")
    everyone = _total(page)
    assert everyone >= 600
    screenshot(page, "pool-table-1366", full_page=False)
    page.get_by_label("领域").select_option(label="心理")
    expect(page).to_have_url(re.compile("domain=psychology"))
    page.get_by_label("城市").select_option(label="宝鸡市")
    expect(page).to_have_url(re.compile("city=%E5%AE%9D%E9%B8%A1%E5%B8%82|city=宝鸡市"))
    expect(page.locator("#results tbody tr").first).to_contain_text("宝鸡市")
    filtered = _total(page)
    assert 0 < filtered < everyone
    for row in page.locator("#results tbody tr").all():
        expect(row).to_contain_text("心理")
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    rows = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8-sig"))))
    assert rows[0][:3] == ["编号", "姓名", "领域"]
    assert len(rows) - 1 == filtered
    assert {r[2] for r in rows[1:]} == {"心理"} and {r[6] for r in rows[1:]} == {"宝鸡市"}
    with page.expect_download() as download:
        page.get_by_role("link", name="Excel").click()
    sheet = load_workbook(io.BytesIO(download.value.path().read_bytes()))["专家库"]
    assert sheet.max_row - 2 == filtered

    phone = new_page(viewport=PHONE)
    log_in(phone, "staff")
    phone.goto("/expert-pool?domain=psychology&city=宝鸡市")
    expect(phone.locator("#results tbody tr").first).to_be_visible()
    screenshot(phone, "pool-table-390")
    assert _overflow(phone) <= 0


def test_staff_import_a_small_jsonl_with_one_bad_line_and_read_the_report(new_page):
    page = new_page(viewport=DESKTOP)
    log_in(page, "staff")
    page.goto("/expert-pool")
    page.get_by_role("link", name="导入文件").click()
    lines = [
        expert_record(id="JR001", name="导入甲"),
        expert_record(id="JR002", name="导入乙", years_experience=-3),
        expert_record(
            id="JR003",
            name="导入丙",
            region={"province": "陕西省", "city": "宝鸡市", "district": "渭滨区"},
        ),
    ]
    content = "\n".join(json.dumps(r, ensure_ascii=False) for r in lines).encode()
    page.get_by_label("文件（.jsonl 或 .csv）").set_input_files(
        {"name": "experts.jsonl", "mimeType": "application/jsonl", "buffer": content}
    )
    page.get_by_role("button", name="开始导入").click()
    report = page.locator("section[aria-labelledby=report-title]")
    expect(report).to_contain_text("experts.jsonl")
    expect(report.locator(".stats")).to_contain_text("新增2")
    expect(report.locator("tbody tr")).to_have_count(1)
    expect(report.locator("tbody tr")).to_contain_text("第 2 行")
    expect(report.locator("tbody tr")).to_contain_text("JR002")
    screenshot(page, "pool-import-report-1366")
    # A file of the wrong type is refused in place.
    page.get_by_label("文件（.jsonl 或 .csv）").set_input_files(
        {"name": "photo.png", "mimeType": "image/png", "buffer": b"\x89PNG\r\n\x1a\n"}
    )
    page.get_by_role("button", name="开始导入").click()
    expect(page.locator("#err-file")).to_contain_text("只能导入 .jsonl 或 .csv 文件")

    phone = new_page(viewport=PHONE)
    log_in(phone, "staff")
    phone.goto("/expert-pool/import")
    phone.get_by_label("文件（.jsonl 或 .csv）").set_input_files(
        {"name": "again.jsonl", "mimeType": "application/jsonl", "buffer": content}
    )
    phone.get_by_role("button", name="开始导入").click()
    expect(phone.locator("section[aria-labelledby=report-title] tbody tr")).to_contain_text(
        "第 2 行"
    )
    screenshot(phone, "pool-import-report-390")
    assert _overflow(phone) <= 0
