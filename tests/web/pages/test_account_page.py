"""我的账号: the time zone is chosen by its Chinese name (北京时间, 伦敦时间); the IANA name is what is
stored, and a zone not in the list is typed under 其他时区 with its error next to it."""

from __future__ import annotations

import re

from sqlmodel import Session

from tests.web.pages.conftest import form_token, logged_in


def _visible(html: str) -> str:
    body = html.split("<main", 1)[1]
    return re.sub(r"<[^>]+>", " ", body)


def _save(client, page: str, **fields: str):
    return client.post(
        "/account",
        data={"csrf_token": form_token(page), "email": "", "phone": "", **fields},
        follow_redirects=False,
    )


def test_the_account_page_names_zones_in_chinese_and_stores_the_iana_name(
    client, session: Session, district_user
):
    logged_in(client, district_user)
    page = client.get("/account").text
    assert '<option value="Asia/Shanghai" selected>北京时间</option>' in page
    assert '<option value="Europe/London">伦敦时间</option>' in page
    assert "Asia/Shanghai" not in _visible(page) and "Europe/London" not in _visible(page)
    assert _save(client, page, timezone="Europe/London").status_code == 303
    session.refresh(district_user)
    assert district_user.timezone == "Europe/London"
    again = client.get("/account").text
    assert '<option value="Europe/London" selected>伦敦时间</option>' in again


def test_a_zone_outside_the_list_is_typed_and_its_error_stands_next_to_it(
    client, session: Session, district_user
):
    logged_in(client, district_user)
    page = client.get("/account").text
    bad = _save(client, page, timezone="Asia/Shanghai", timezone_other="Mars/Olympus")
    assert bad.status_code == 422
    other = re.search(r'<input id="f-timezone_other"[^>]*>', bad.text).group(0)
    assert 'value="Mars/Olympus"' in other and 'aria-invalid="true"' in other
    assert re.search(
        r'id="f-timezone_other".*?<p class="field-error" id="err-timezone">', bad.text, re.S
    )
    session.refresh(district_user)
    assert district_user.timezone == "Asia/Shanghai"
    assert (
        _save(client, page, timezone="Asia/Shanghai", timezone_other="Europe/Rome").status_code
        == 303
    )
    session.refresh(district_user)
    assert district_user.timezone == "Europe/Rome"
    # Saved, the typed zone is listed and chosen by its Chinese name; the text field is empty.
    shown = client.get("/account").text
    assert '<option value="Europe/Rome" selected>罗马时间</option>' in shown
    assert 'value=""' in re.search(r'<input id="f-timezone_other"[^>]*>', shown).group(0)
    assert '<details class="field">' in shown
    assert ">Europe/Rome<" not in shown  # only the hint's example spells an IANA name


def test_a_zone_is_typed_by_its_citys_chinese_name(client, session: Session, district_user):
    logged_in(client, district_user)
    page = client.get("/account").text
    assert (
        _save(client, page, timezone="Asia/Shanghai", timezone_other="加德满都").status_code == 303
    )
    session.refresh(district_user)
    assert district_user.timezone == "Asia/Kathmandu"
    assert (
        '<option value="Asia/Kathmandu" selected>加德满都时间</option>'
        in client.get("/account").text
    )
    # as pages show it, with 时间, reads the same
    assert (
        _save(client, page, timezone="Asia/Shanghai", timezone_other="罗马时间").status_code == 303
    )
    session.refresh(district_user)
    assert district_user.timezone == "Europe/Rome"
