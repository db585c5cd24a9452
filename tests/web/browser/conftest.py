"""Browser journeys: the real app under uvicorn on a loopback port, over a demo database
(`heart demo`'s builder: 600 experts, one user per role), driven by Debian's Chromium.

Playwright never downloads a browser here: it launches /usr/bin/chromium (HEART_CHROMIUM to
override). Screenshots go to test-output/screenshots/ (gitignored).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, make_settings

playwright_sync = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("HEART_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = REPO / "test-output" / "screenshots"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/web/browser/" in item.nodeid:
            item.add_marker(pytest.mark.browser)


def _open_demo_expert(settings) -> None:
    """The demo expert D00001 works 09:00-17:00 every day, so the booking journey finds slots."""
    from sqlmodel import select

    from booking.schedule.models import AvailabilityUpdate
    from booking.schedule.service import set_availability
    from marketplace.accounts.models import User
    from marketplace.db import make_engine, session_scope

    engine = make_engine(settings)
    try:
        with session_scope(engine) as session:
            staff = session.exec(select(User).where(User.username == "staff")).one()
            weekly = [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(7)]
            set_availability(
                session=session,
                expert_id="D00001",
                data=AvailabilityUpdate(weekly=weekly),
                user=staff,
            )
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def demo_settings(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The settings of the served demo (journeys that need an extra account use its database)."""
    from web.cli import build_demo

    data_dir = tmp_path_factory.mktemp("browser-demo")
    # Drain the search outbox in the background as `heart serve` does, so that what a journey
    # publishes becomes searchable.
    settings = make_settings(data_dir, search_drain_seconds=1)
    build_demo(settings)
    _open_demo_expert(settings)
    return settings


@pytest.fixture(scope="session")
def live_server(demo_settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app served by uvicorn over a fresh demo database; yields its base URL."""
    import uvicorn

    from web.app import create_app

    settings = demo_settings
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the web server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser, live_server):
    """Open pages in fresh browser profiles (own cookies); closes them after the test."""
    contexts = []

    def _open(*, viewport: dict | None = None, javascript: bool = True, **options):
        context = browser.new_context(
            base_url=live_server,
            viewport=viewport or LAPTOP,
            locale="zh-CN",
            java_script_enabled=javascript,
            **options,
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield _open
    for context in contexts:
        context.close()


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def log_in(page, username: str, password: str | None = None) -> None:
    """Log in through the login form, as a person would."""
    from web.cli import DEMO_PASSWORD

    page.goto("/login")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(password or DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(lambda url: "/login" not in url)


def nav_to(page, label: str, *, exact: bool = False) -> None:
    """Follow a main-menu link, opening its group menu first when it sits in one."""
    nav = page.get_by_role("navigation", name="主导航")
    link = nav.get_by_role("link", name=label, exact=exact)
    if not link.is_visible():
        inner = page.locator(f'a:text-is("{label}")')  # hidden links are not in the a11y tree
        nav.locator("details.nav-group").filter(has=inner).locator("summary").click()
    link.click()


def file_online_request(
    page, text: str, *, hours: int, starts_in_days: int, window_days: int = 30
) -> None:
    """File an online supervision (督导) request through the form, as a coordinator would."""
    from datetime import date, timedelta

    from playwright.sync_api import expect

    page.goto("/requests/new")
    page.get_by_label("需求描述").fill(text)
    page.get_by_label("服务类型").select_option(label="督导")
    page.get_by_label("服务方式").select_option(label="线上")
    page.get_by_label("所需小时数").fill(str(hours))
    start = date.today() + timedelta(days=starts_in_days)
    page.get_by_label("最早日期").fill(start.isoformat())
    page.get_by_label("最晚日期").fill((start + timedelta(days=window_days)).isoformat())
    page.get_by_role("button", name="提交需求").click()
    expect(page.get_by_role("status")).to_contain_text("需求已提交")
