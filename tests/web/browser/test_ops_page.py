"""The admin's scheduled-jobs page in a real browser: reached from the menu, the jobs the running
server's scheduler recorded, "run now", and no sideways scrolling on a laptop or a phone."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from marketplace.accounts.models import UserCreate
from marketplace.accounts.principal import system_principal
from marketplace.accounts.service import create_user
from marketplace.db import make_engine, session_scope
from marketplace.vocabulary import Role
from tests.conftest import TEST_PASSWORD, make_settings
from tests.web.browser.conftest import LAPTOP, PHONE, log_in, nav_to, screenshot
from web.cli.common import initialise


@pytest.fixture(scope="module")
def ops_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app with its scheduler on (every job runs at start), over a fresh database."""
    import uvicorn

    from web.app import create_app

    settings = make_settings(
        tmp_path_factory.mktemp("ops-browser"),
        scheduler_enabled=True,
        scheduler_poll_seconds=0.2,
        scheduler_lease_seconds=2,
    )
    initialise(settings)
    engine = make_engine(settings)
    with session_scope(engine) as session:
        create_user(
            session=session,
            data=UserCreate(username="ops-admin", password=TEST_PASSWORD, role=Role.admin),
            user=system_principal("test"),
        )
    engine.dispose()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the web server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=15)
    sock.close()


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["laptop", "phone"])
def test_the_admin_sees_the_jobs_and_runs_one_now(browser, ops_server, viewport):
    context = browser.new_context(base_url=ops_server, viewport=viewport, locale="zh-CN")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        log_in(page, "ops-admin", TEST_PASSWORD)
        if viewport is LAPTOP:
            nav_to(page, "定时任务")
        else:
            page.goto("/admin/jobs")
        page.wait_for_url("**/admin/jobs")
        row = page.locator("#job-crisis_escalation")
        row.wait_for()
        assert "危机预约升级" in row.inner_text()
        assert page.locator("tbody tr[id^=job-]").count() == 8
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, overflow
        screenshot(page, f"ops-jobs-{viewport['width']}")
        row.get_by_role("button", name="立即运行").click()
        page.wait_for_url("**/admin/jobs")
        assert "已请求立即运行" in page.locator("#flash").inner_text()
    finally:
        context.close()
