"""Crawl every page each demo role reaches from its navigation (plus the inbox and account
pages), at 1366 px and 390 px: no horizontal overflow, no 建设中/正在建设 placeholder, no English
enum list in an error, and no axe-core violation of impact serious or critical.

axe-core comes from npm (scripts/test installs it into ~/.cache/heart-ci/axe; HEART_AXE points
at another axe.min.js). Screenshots: test-output/screenshots/crawl-<role>-<page>-<width>.png.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.web.browser.conftest import log_in, screenshot

AXE = Path(
    os.environ.get(
        "HEART_AXE", Path.home() / ".cache/heart-ci/axe/node_modules/axe-core/axe.min.js"
    )
)
WIDTHS = {"1366": {"width": 1366, "height": 900}, "390": {"width": 390, "height": 844}}
ROLES = ("admin", "staff", "beilin", "expert")
EXTRA_PAGES = ("/notifications", "/account")
PLACEHOLDER = re.compile("建设中|正在建设")
# An enum error as pydantic writes it: "取值必须是 'supervision', 'training' 之一" or "Input should be".
ENGLISH_ENUM = re.compile(r"'[a-z_]+', '[a-z_]+'|Input should be")


def _axe_source() -> str:
    if not AXE.exists():
        if os.environ.get("CI"):
            pytest.fail(f"axe-core missing at {AXE}: scripts/test installs it with npm")
        pytest.skip(f"axe-core not installed at {AXE} (npm install axe-core, see scripts/test)")
    return AXE.read_text(encoding="utf-8")


def _nav_paths(page) -> list[str]:
    links = page.locator("nav[aria-label='主导航'] a").evaluate_all(
        "els => els.map(a => a.getAttribute('href'))"
    )
    return list(dict.fromkeys([*links, *EXTRA_PAGES]))


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.strip("/").lower()) or "home"


@pytest.mark.parametrize("role", ROLES)
def test_every_page_of_every_role_fits_says_no_placeholder_and_passes_axe(new_page, role):
    axe = _axe_source()
    problems: list[str] = []
    first = new_page(viewport=WIDTHS["1366"], bypass_csp=True)
    log_in(first, role)
    paths = _nav_paths(first)
    assert len(paths) >= 4, paths
    cookies = first.context.cookies()
    for width, viewport in WIDTHS.items():
        page = first if width == "1366" else new_page(viewport=viewport, bypass_csp=True)
        if page is not first:
            page.context.add_cookies(cookies)
        for path in paths:
            page.goto(path)
            page.wait_for_load_state("networkidle")
            where = f"{role} {path} @{width}px"
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if overflow > 0:
                problems.append(f"{where}: {overflow}px horizontal overflow")
            text = page.inner_text("body")
            if PLACEHOLDER.search(text):
                problems.append(f"{where}: placeholder text")
            if ENGLISH_ENUM.search(text):
                problems.append(f"{where}: English enum list")
            page.add_script_tag(content=axe)
            violations = page.evaluate(
                """async () => (await axe.run(document)).violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.length + ' × '
                               + v.nodes.slice(0, 2).map(n => n.target.join(' ')).join(' | '))"""
            )
            problems += [f"{where}: axe {v}" for v in violations]
            # The viewport as a person first sees it (full-page shots of the longest pages
            # time out on a loaded machine; the journeys take full-page ones).
            screenshot(page, f"crawl-{role}-{_slug(path)}-{width}", full_page=False)
    assert not problems, "\n".join(problems)
