"""An observer (an education-bureau reader) is offered nothing they cannot do: every link and
every form on every page they can reach answers them, never with a 403."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urldefrag, urljoin, urlsplit

import pytest

from tests.security.conftest import Matrix, rolled_back

# Where a crawl stops: downloads, logout and static files are not pages that offer actions.
_SKIP = re.compile(r"^/(static/|logout|api/feeds/)|\.(ics|csv|xlsx|pdf|png|svg)$")


class _Offers(HTMLParser):
    """The links and forms of a page (forms with their fields' default values)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.forms: list[tuple[str, str, dict[str, str]]] = []
        self._form: tuple[str, str, dict[str, str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("href"):
            self.links.append(a["href"])
        for attr in ("hx-get", "hx-post"):
            if a.get(attr):
                method = "GET" if attr == "hx-get" else "POST"
                self.forms.append((method, a[attr], {}))
        if tag == "form":
            self._form = (a.get("method", "get").upper(), a.get("action", ""), {})
            self.forms.append(self._form)
        elif tag in ("input", "textarea", "select") and self._form is not None and a.get("name"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self._form[2].setdefault(a["name"], a.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


def _local(base: str, href: str) -> str | None:
    url = urldefrag(urljoin(base, href)).url
    parts = urlsplit(url)
    if parts.scheme not in ("", "http", "https") or parts.netloc not in ("", "testserver"):
        return None
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return None if _SKIP.search(parts.path) else path


def _shape(url: str) -> str:
    """A URL without its query values: the next week or month of a page is the same offer."""
    parts = urlsplit(url)
    keys = sorted({pair.split("=", 1)[0] for pair in parts.query.split("&") if pair})
    return parts.path + ("?" + "&".join(keys) if keys else "")


def _walk(
    matrix: Matrix, actor: str, limit: int = 200, *, post: bool = True
) -> dict[tuple[str, str], tuple[str, int]]:
    """Every link and form reachable from the home page as `actor`: (method, url shape) →
    (the page offering it, the status it answered)."""
    headers = matrix.world.headers[actor]
    seen: dict[tuple[str, str], tuple[str, int]] = {}
    queued: set[str] = {"/"}
    queue = ["/"]
    while queue and len(seen) < limit:
        page = queue.pop(0)
        with rolled_back(matrix):
            response = matrix.client.get(page, headers=headers, follow_redirects=True)
        seen[("GET", _shape(page))] = (page, response.status_code)
        if "text/html" not in response.headers.get("content-type", ""):
            continue
        offers = _Offers()
        offers.feed(response.text)
        for href in offers.links:
            url = _local(page, href)
            if url and _shape(url) not in queued:
                queued.add(_shape(url))
                queue.append(url)
        for method, action, fields in offers.forms:
            url = _local(page, action or page)
            if url is None or (method, _shape(url)) in seen:
                continue
            if method == "GET":
                if _shape(url) not in queued:
                    queued.add(_shape(url))
                    queue.append(url)
                continue
            if not post:
                continue
            with rolled_back(matrix):
                posted = matrix.client.post(
                    url, data=fields, headers=headers, follow_redirects=False
                )
            seen[(method, _shape(url))] = (page, posted.status_code)
    return seen


@pytest.mark.parametrize("actor", ["observer_own", "observer_other"])
def test_an_observer_is_offered_no_link_or_form_that_refuses_them(matrix, actor):
    seen = _walk(matrix, actor)
    assert len(seen) > 10, seen  # the walk reached the observer's pages
    refused = {key: where for key, where in seen.items() if where[1] in (401, 403)}
    assert not refused, refused


def test_only_a_district_is_offered_to_apply_for_or_withdraw_a_service(matrix):
    pages = {
        actor: matrix.client.get("/applications", headers=matrix.world.headers[actor]).text
        for actor in ("district_own", "observer_own", "city_own")
    }
    assert "申请新的服务" in pages["district_own"]
    assert "撤回申请" in pages["district_own"]
    for actor in ("observer_own", "city_own"):
        assert "申请新的服务" not in pages[actor], actor
        assert "撤回申请" not in pages[actor], actor
    assert "（只读）" in pages["observer_own"]


@pytest.mark.parametrize("actor", ["city_own", "city_other"])
def test_a_city_centers_staff_are_offered_no_link_that_refuses_them(matrix, actor):
    # e.g. 修改 on the province's services, which only the province's staff may change
    seen = _walk(matrix, actor, post=False)
    assert len(seen) > 10, seen
    refused = {key: where for key, where in seen.items() if where[1] in (401, 403)}
    assert not refused, refused
