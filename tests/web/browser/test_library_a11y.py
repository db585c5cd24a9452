"""Every library page as every role, on a phone and a laptop: no serious or critical axe-core
finding, nothing wider than the screen."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.web.browser.conftest import PHONE, log_in

AXE = Path(
    os.environ.get(
        "HEART_AXE_JS", Path.home() / ".cache/heart-ci/axe/node_modules/axe-core/axe.min.js"
    )
)
DESKTOP = {"width": 1366, "height": 900}
PAGES = {
    "beilin": ["/library", "/library?q=考试焦虑", "/experts?q=初三学生考前焦虑失眠"],
    "expert": ["/library", "/library/new"],
    "staff": ["/library", "/library/new"],
}


def _serious(page) -> list[str]:  # type: ignore[no-untyped-def]
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])})"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["390", "1366"])
def test_library_pages_pass_axe_and_fit_the_screen(new_page, viewport):
    if not AXE.exists():
        pytest.skip(f"axe-core not found at {AXE} (npm install axe-core)")
    problems = []
    for user, paths in PAGES.items():
        page = new_page(viewport=viewport, bypass_csp=True)
        log_in(page, user)
        page.goto("/library")
        detail = page.locator("a[href^='/library/']:not([href='/library/new'])").first
        paths = [*paths, detail.get_attribute("href")]
        for path in paths:
            page.goto(path)
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if overflow > 0:
                problems.append(f"{user} {path}: {overflow}px wider than the screen")
            problems += [f"{user} {path}: {v}" for v in _serious(page)]
    assert not problems, "\n".join(problems)
