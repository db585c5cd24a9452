"""Browser journeys through the staff and admin consoles (accounts, approvals, navigation),
looked at at 1366 px and on a 390 px phone."""

from __future__ import annotations

import re
import urllib.request
from urllib.error import HTTPError

from playwright.sync_api import expect

from tests.web.browser.conftest import PHONE, log_in, screenshot

DESKTOP = {"width": 1366, "height": 900}


def _nav_rows(page) -> int:
    """How many rows the top-level entries of the main navigation take."""
    tops = page.locator(".main-nav > ul > li").evaluate_all(
        "items => items.map(li => Math.round(li.getBoundingClientRect().top))"
    )
    return len(set(tops))


def _api_status(base_url: str, path: str, token: str) -> int:
    request = urllib.request.Request(base_url + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
            return response.status
    except HTTPError as exc:
        return exc.code


def _token(base_url: str, username: str, password: str) -> str:
    import json
    from urllib.parse import urlencode

    body = urlencode({"username": username, "password": password}).encode()
    with urllib.request.urlopen(base_url + "/api/auth/token", data=body, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())["access_token"]


def test_the_menu_fits_one_row_at_1366_px_for_every_role(new_page):
    for username in ("admin", "staff", "beilin", "expert"):
        page = new_page(viewport=DESKTOP)
        log_in(page, username)
        screenshot(page, f"nav-1366-{username}", full_page=False)
        assert _nav_rows(page) == 1, username
        header = page.locator(".header-inner").bounding_box()
        assert header and header["height"] < 80, (username, header)
        if username == "staff":
            expect(page.get_by_role("link", name="培训报名")).to_be_hidden()
            page.get_by_text("预约与培训").click()
            expect(page.get_by_role("link", name="培训报名")).to_be_visible()
            screenshot(page, "nav-1366-staff-menu-open", full_page=False)


def test_an_admin_creates_a_coordinator_resets_a_password_and_deactivates_a_user(
    new_page, live_server
):
    admin = new_page(viewport=DESKTOP)
    log_in(admin, "admin")
    admin.get_by_text("管理", exact=True).click()
    admin.get_by_role("link", name="账号管理").click()
    expect(admin.get_by_role("heading", name="账号管理", level=1)).to_be_visible()
    admin.get_by_role("link", name="新建账号").click()
    admin.get_by_label("用户名").fill("lianhu-coord")
    admin.get_by_label("显示名").fill("莲湖区 赵老师")
    admin.get_by_label(re.compile("^角色")).select_option(label="区县协调员")
    admin.get_by_label(re.compile("所属区县")).select_option(label="西安市 · 莲湖区")
    admin.get_by_label("邮箱").fill("zhao@lianhu.example.cn")
    admin.get_by_role("button", name="创建账号").click()
    expect(admin.get_by_role("status").first).to_contain_text("账号已创建")
    temporary = admin.locator(".temp-password code").inner_text()
    screenshot(admin, "account-created")

    coordinator = new_page(viewport=PHONE)
    log_in(coordinator, "lianhu-coord", temporary)
    expect(coordinator).to_have_url(re.compile("/account/password$"))
    coordinator.get_by_label("临时密码").fill(temporary)
    coordinator.get_by_label(re.compile("^新密码")).fill("Lotus-Lake-Bridge-62")
    coordinator.get_by_label("再次输入新密码").fill("Lotus-Lake-Bridge-62")
    coordinator.get_by_role("button", name="保存新密码").click()
    expect(coordinator.get_by_role("status")).to_contain_text("密码已修改")
    screenshot(coordinator, "password-changed-phone")

    # The new coordinator is logged in (page session) and holds a bearer token.
    token = _token(live_server, "lianhu-coord", "Lotus-Lake-Bridge-62")
    assert _api_status(live_server, "/api/me", token) == 200
    admin.goto("/users?q=lianhu")
    admin.locator("#results").get_by_role("link", name=re.compile("莲湖区")).click()
    admin.get_by_role("button", name="重置密码").click()
    expect(admin.locator("#temporary-password")).to_contain_text("临时密码")
    assert _api_status(live_server, "/api/me", token) == 401
    coordinator.goto("/requests")
    expect(coordinator).to_have_url(re.compile("/login"))

    second = admin.locator(".temp-password code").inner_text()
    log_in(coordinator, "lianhu-coord", second)
    token = _token(live_server, "lianhu-coord", second)
    assert _api_status(live_server, "/api/me", token) == 200
    admin.get_by_role("button", name="停用账号").click()
    expect(admin.get_by_role("status")).to_contain_text("账号已停用")
    screenshot(admin, "account-deactivated")
    assert _api_status(live_server, "/api/me", token) == 401
    coordinator.goto("/account/password")
    expect(coordinator).to_have_url(re.compile("/login"))
    admin.get_by_role("button", name="恢复启用").click()
    expect(admin.get_by_role("status")).to_contain_text("已恢复启用")

    phone = new_page(viewport=PHONE)
    log_in(phone, "admin")
    phone.goto("/users")
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    screenshot(phone, "users-phone")


def test_staff_approve_the_suggested_amount_beside_its_context(new_page):
    coordinator = new_page()
    log_in(coordinator, "beilin")
    coordinator.goto("/services")
    coordinator.locator("main").get_by_role("link", name="申请", exact=True).first.click()
    coordinator.get_by_label(re.compile("申请数量")).fill("3")
    coordinator.get_by_label("用途说明").fill("浏览器测试：按公平建议审批")
    coordinator.get_by_role("button", name="提交申请").click()
    expect(coordinator.get_by_role("status")).to_contain_text("申请已提交")

    staff = new_page(viewport=DESKTOP)
    log_in(staff, "staff")
    staff.goto("/applications?status=submitted")
    card = staff.locator("#results li.card").filter(has_text="浏览器测试：按公平建议审批")
    expect(card.locator(".decision-context")).to_contain_text("公平分配建议")
    expect(card.locator(".decision-context")).to_contain_text("本学期已获批")
    field = card.get_by_label(re.compile("批准数量"))
    suggested = field.input_value()
    assert suggested
    field.fill("")
    card.get_by_role("button", name="批准").click()
    card = staff.locator("#results li.card").filter(has_text="浏览器测试：按公平建议审批")
    expect(card.locator(".field-error")).to_contain_text("请填写批准数量")
    screenshot(staff, "approval-error-in-place")
    service_name = card.locator("h3").inner_text()
    card.get_by_label(re.compile("批准数量")).fill(suggested)
    card.get_by_role("button", name="批准").click()
    expect(staff.get_by_role("status")).to_contain_text("已批准该申请")

    staff.goto("/reports")
    staff.get_by_label("区县分配表：服务").select_option(label=service_name)
    staff.get_by_role("button", name="生成报表").click()
    staff.wait_for_load_state("networkidle")  # the report replaces the page's first map
    tile = staff.locator(".tile-map-wide g").filter(has_text="碑林")  # the laptop layout
    expect(tile.locator("title")).to_contain_text("每万名学生")
    assert tile.locator("rect").get_attribute("fill") != "#ffffff"
    staff.locator(".tile-map-wide").scroll_into_view_if_needed()
    screenshot(staff, "report-tile-map", full_page=False)
    phone = new_page(viewport=PHONE)
    log_in(phone, "staff")
    for path, name in (("/applications", "applications-phone"), ("/reports", "report-phone")):
        phone.goto(path)
        assert phone.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
        screenshot(phone, name, full_page=path != "/reports")
