"""Account pages: admins manage accounts from the browser; everyone changes their own password."""

from __future__ import annotations

import re

import pytest
from sqlmodel import select

from marketplace.accounts.models import User
from marketplace.vocabulary import Role
from tests.conftest import TEST_PASSWORD, make_user
from tests.web.pages.conftest import form_token, logged_in, login


@pytest.fixture
def admin(session):
    user = make_user(session, Role.admin, username="admin-1")
    session.commit()
    return user


def _user(session, username: str) -> User:
    session.expire_all()
    return session.exec(select(User).where(User.username == username)).one()


def test_staff_and_coordinators_cannot_open_the_account_pages(client, staff_user, district_user):
    for user in (staff_user, district_user):
        logged_in(client, user)
        assert client.get("/users").status_code == 403
        assert client.get("/users/new").status_code == 403


def test_an_admin_creates_a_coordinator_with_a_temporary_password_who_must_change_it(
    client, session, admin
):
    logged_in(client, admin)
    page = client.get("/users/new")
    assert "西安市 · 雁塔区" in page.text  # a district picker, not ids
    created = client.post(
        "/users",
        data={
            "csrf_token": form_token(page.text),
            "username": "yanta-coord",
            "display_name": "雁塔区王老师",
            "role": "district",
            "district": "西安市/雁塔区",
            "email": "wang@yanta.example.cn",
        },
    )
    assert created.status_code == 200 and "账号已创建" in created.text
    temporary = re.search(r'<p class="temp-password"><code>([^<]+)</code>', created.text)[1]
    account = _user(session, "yanta-coord")
    assert (account.role, account.must_change_password) == ("district", True)
    assert "雁塔区王老师" in client.get("/users", params={"q": "雁塔"}).text

    client.cookies.clear()
    assert login(client, "yanta-coord", temporary).status_code == 303
    forced = client.get("/requests", follow_redirects=False)
    assert forced.status_code == 303 and forced.headers["location"] == "/account/password"
    form = client.get("/account/password")
    assert "管理员已为您重置密码" in form.text
    changed = client.post(
        "/account/password",
        data={
            "csrf_token": form_token(form.text),
            "old_password": temporary,
            "new_password": "Quiet-Harbor-7315",
            "new_password_again": "Quiet-Harbor-7315",
        },
        follow_redirects=False,
    )
    assert changed.status_code == 303 and changed.headers["location"] == "/account"
    assert client.get("/requests").status_code == 200  # the fresh session works
    assert _user(session, "yanta-coord").must_change_password is False


def test_account_form_errors_stay_next_to_their_fields(client, session, admin):
    logged_in(client, admin)
    page = client.get("/users/new")
    response = client.post(
        "/users",
        data={
            "csrf_token": form_token(page.text),
            "username": "x y",
            "role": "district",
            "email": "not-an-address",
        },
    )
    assert response.status_code == 422
    assert 'id="err-username"' in response.text and 'id="err-email"' in response.text
    missing = client.post(
        "/users",
        data={"csrf_token": form_token(page.text), "username": "no-district", "role": "district"},
    )
    assert missing.status_code == 422 and 'id="err-district"' in missing.text


def test_an_admin_edits_deactivates_and_reactivates_an_account_and_its_session_ends(
    client, session, admin, district_user
):
    from fastapi.testclient import TestClient

    other = TestClient(client.app)
    logged_in(other, district_user)
    assert other.get("/requests").status_code == 200
    logged_in(client, admin)
    page = client.get(f"/users/{district_user.id}")
    token = form_token(page.text)
    saved = client.post(
        f"/users/{district_user.id}",
        data={
            "csrf_token": token,
            "display_name": "碑林区李老师",
            "role": "district",
            "district": "西安市/碑林区",
            "phone": "13912345678",
        },
    )
    assert saved.status_code == 200 and "账号已保存" in saved.text
    assert _user(session, district_user.username).phone == "13912345678"
    off = client.post(f"/users/{district_user.id}/deactivate", data={"csrf_token": token})
    assert "账号已停用" in off.text
    gone = other.get("/requests", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
    on = client.post(f"/users/{district_user.id}/reactivate", data={"csrf_token": token})
    assert "账号已恢复启用" in on.text
    assert login(other, district_user.username, TEST_PASSWORD).status_code == 303


def test_an_admin_cannot_demote_or_deactivate_themself_from_the_page(client, session, admin):
    logged_in(client, admin)
    page = client.get(f"/users/{admin.id}")
    assert f'action="/users/{admin.id}/deactivate"' not in page.text
    response = client.post(
        f"/users/{admin.id}",
        data={"csrf_token": form_token(page.text), "role": "staff", "display_name": "管理员"},
    )
    assert response.status_code == 403 and 'id="err-role"' in response.text
    assert _user(session, "admin-1").role == "admin"


def test_a_password_reset_shows_the_temporary_password_once_and_ends_the_old_one(
    client, session, admin, district_user
):
    logged_in(client, admin)
    token = form_token(client.get(f"/users/{district_user.id}").text)
    reset = client.post(f"/users/{district_user.id}/reset-password", data={"csrf_token": token})
    assert reset.status_code == 200
    temporary = re.search(r'<p class="temp-password"><code>([^<]+)</code>', reset.text)[1]
    assert temporary not in client.get(f"/users/{district_user.id}").text
    client.cookies.clear()
    assert login(client, district_user.username, TEST_PASSWORD).status_code != 303
    assert login(client, district_user.username, temporary).status_code == 303


def test_everyone_changes_their_own_password_with_errors_in_place(client, session, expert_user):
    logged_in(client, expert_user)
    assert 'href="/account/password"' in client.get("/account").text
    form = client.get("/account/password")
    token = form_token(form.text)

    def change(old: str, new: str, again: str):  # the password form, as the user submits it
        data = {"old_password": old, "new_password": new, "new_password_again": again}
        return client.post("/account/password", data={"csrf_token": token, **data})

    wrong = change("not-mine-1", "Maple-Lantern-5521", "Maple-Lantern-5521")
    assert wrong.status_code == 422 and 'id="err-old_password"' in wrong.text
    mismatch = change(TEST_PASSWORD, "Maple-Lantern-5521", "Maple-Lantern-5522")
    assert mismatch.status_code == 422 and 'id="err-new_password_again"' in mismatch.text
    weak = change(TEST_PASSWORD, "password1", "password1")
    assert weak.status_code == 422 and 'id="err-new_password"' in weak.text
    done = change(TEST_PASSWORD, "Maple-Lantern-5521", "Maple-Lantern-5521")
    assert done.status_code == 200 and "密码已修改" in done.text
    client.cookies.clear()
    assert login(client, expert_user.username, "Maple-Lantern-5521").status_code == 303


def test_an_admin_creates_city_staff_and_observers_for_a_center_picked_on_the_page(
    client, session, admin
):
    logged_in(client, admin)
    page = client.get("/users/new")
    assert "西安市资源中心" in page.text and "省级资源中心" in page.text  # a center picker
    token = form_token(page.text)
    missing = client.post(
        "/users", data={"csrf_token": token, "username": "hz-staff", "role": "city_staff"}
    )
    assert missing.status_code == 422 and 'id="err-center"' in missing.text
    assert "--center" not in missing.text  # a command-line option means nothing on a page
    for username, role, center in (
        ("hz-staff", "city_staff", "汉中市"),
        ("xa-obs", "observer", "西安市"),
    ):
        created = client.post(
            "/users",
            data={"csrf_token": token, "username": username, "role": role, "center": center},
        )
        assert created.status_code == 200 and "账号已创建" in created.text, username
        account = _user(session, username)
        assert account.role == role and account.center_id is not None


def test_an_admin_moves_an_account_to_another_center_on_its_edit_page(client, session, admin):
    from marketplace.accounts.models import UserCreate
    from marketplace.accounts.principal import system_principal
    from marketplace.accounts.service import create_user
    from marketplace.centers.service import center_named, province_center

    observer = create_user(
        session=session,
        data=UserCreate(
            username="xa-reader", password=TEST_PASSWORD, role=Role.observer, center="西安市"
        ),
        user=system_principal("test"),
    )
    session.commit()
    logged_in(client, admin)
    page = client.get(f"/users/{observer.id}")
    picker = page.text.split('id="f-center"')[1].split("</select>")[0]
    assert '<option value="西安市" selected>' in picker and "宝鸡市资源中心" in picker
    token = form_token(page.text)
    base = {"csrf_token": token, "display_name": "西安读者", "timezone": "Asia/Shanghai"}
    moved = client.post(
        f"/users/{observer.id}", data={**base, "role": "observer", "center": "宝鸡市"}
    )
    assert moved.status_code == 200 and "账号已保存" in moved.text
    assert _user(session, "xa-reader").center_id == center_named(session=session, name="宝鸡市").id
    # City staff need a city center: the province's or none is refused next to the picker,
    # and the page keeps what was picked.
    for center in (province_center(session=session).name, ""):
        refused = client.post(
            f"/users/{observer.id}", data={**base, "role": "city_staff", "center": center}
        )
        assert refused.status_code == 422, center
        error = re.search(r'<p class="field-error" id="err-center"[^>]*>([^<]+)</p>', refused.text)
        assert error and "市级资源中心" in error.group(1) and "--" not in error.group(1)
        assert 'aria-invalid="true"' in refused.text.split('id="f-center"')[1].split(">")[0]
    assert _user(session, "xa-reader").role == "observer"
    # A coordinator works for a district, not a center: the center goes with the old role.
    coordinator = client.post(
        f"/users/{observer.id}",
        data={**base, "role": "district", "district": "西安市/碑林区", "center": ""},
    )
    assert coordinator.status_code == 200
    account = _user(session, "xa-reader")
    assert account.role == "district" and account.center_id is None


def test_a_page_answering_a_form_post_names_the_address_it_stands_for(client, session, admin):
    logged_in(client, admin)
    token = form_token(client.get("/users/new").text)
    bad = {"csrf_token": token, "username": "hz-2", "role": "city_staff"}

    def page_url(response) -> str | None:  # type: ignore[no-untyped-def]
        found = re.search(r'<meta name="page-url" content="([^"]*)">', response.text)
        return found.group(1) if found else None

    # A refused form: the page it was on (from the Referer), query kept.
    refused = client.post(
        "/users", data=bad, headers={"Referer": "http://testserver/users/new?from=list"}
    )
    assert refused.status_code == 422 and page_url(refused) == "/users/new?from=list"
    # Another site's Referer, an htmx post (htmx keeps the page's address) and a GET name none.
    assert (
        page_url(client.post("/users", data=bad, headers={"Referer": "http://evil.example/x"}))
        is None
    )
    assert page_url(client.post("/users", data=bad, headers={"HX-Request": "true"})) is None
    assert page_url(client.get("/users/new")) is None
    # A result rendered by the POST names the record's own page.
    created = client.post(
        "/users",
        data={**bad, "center": "汉中市"},
        headers={"Referer": "http://testserver/users/new"},
    )
    assert created.status_code == 200 and "账号已创建" in created.text
    assert page_url(created) == f"/users/{_user(session, 'hz-2').id}"
