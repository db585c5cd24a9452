import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlmodel import select

from marketplace.audit.models import AuditEntry
from marketplace.clock import utcnow
from marketplace.login_sessions.models import LoginSession
from marketplace.login_sessions.service import hash_token
from tests.web.pages.conftest import form_token, logged_in, login, put_cookie
from web.routes.pages_auth import safe_next
from web.sessions import COOKIE_NAME


def _cookie_header(response, name=COOKIE_NAME) -> str:
    return next(h for h in response.headers.get_list("set-cookie") if h.startswith(name + "="))


def _row_of(client, session) -> LoginSession:
    from itsdangerous import URLSafeSerializer

    raw = client.cookies[COOKIE_NAME]
    token = URLSafeSerializer(
        client.app.state.settings.secret_key, salt="heart.session-cookie"
    ).loads(raw)
    return session.exec(
        select(LoginSession).where(LoginSession.token_hash == hash_token(token))
    ).one()


def test_login_page_is_a_chinese_form_with_labelled_fields(client):
    page = client.get("/login")
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text
    assert re.search(r'<label for="username">用户名\s*<span class="required-mark"', page.text)
    assert re.search(r'<label for="password">密码\s*<span class="required-mark"', page.text)


def test_good_credentials_set_an_httponly_lax_session_cookie_and_redirect(client, staff_user):
    response = login(client, staff_user.username, next_path="/audit")
    assert response.status_code == 303
    assert response.headers["location"] == "/audit"
    cookie = _cookie_header(response).lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    assert client.get("/").status_code == 200


def test_the_cookie_is_secure_when_the_site_is_served_over_https(app, staff_user):
    with TestClient(app, base_url="https://testserver") as secure_client:
        response = login(secure_client, staff_user.username)
    assert "secure" in _cookie_header(response).lower()


def test_a_wrong_password_shows_the_form_again_and_opens_no_session(client, staff_user):
    response = login(client, staff_user.username, password="wrong-pass-1")
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text
    assert COOKIE_NAME not in response.cookies
    assert client.get("/", follow_redirects=False).status_code == 303


def test_login_is_refused_without_the_login_form_token(client, staff_user):
    client.get("/login")
    response = client.post(
        "/login",
        data={"username": staff_user.username, "password": "test-pass-2026"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert COOKIE_NAME not in response.cookies


def test_repeated_failures_lock_that_username_from_that_address_even_for_the_right_password(
    client, staff_user, district_user
):
    for _ in range(5):
        assert login(client, staff_user.username, password="wrong-pass-1").status_code == 401
    locked = login(client, staff_user.username)
    assert locked.status_code == 429
    assert "登录失败次数过多" in locked.text
    assert COOKIE_NAME not in locked.cookies
    assert login(client, district_user.username).status_code == 303


def test_logging_in_again_issues_a_new_session_id_and_ends_the_old_one(client, session, staff_user):
    logged_in(client, staff_user)
    first_cookie = client.cookies[COOKIE_NAME]
    first_row = _row_of(client, session)
    # The browser still carries the old (or a planted) session cookie when the form is posted.
    client.cookies.delete(COOKIE_NAME)
    login_form = client.get("/login").text
    put_cookie(client, COOKIE_NAME, first_cookie)
    response = client.post(
        "/login",
        data={
            "username": staff_user.username,
            "password": "test-pass-2026",
            "csrf_token": form_token(login_form),
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert client.cookies[COOKIE_NAME] != first_cookie
    session.refresh(first_row)
    assert first_row.revoked_at is not None
    put_cookie(client, COOKIE_NAME, first_cookie)
    assert client.get("/", follow_redirects=False).status_code == 303


def test_logout_ends_the_session_so_a_copied_cookie_opens_nothing(client, session, staff_user):
    logged_in(client, staff_user)
    copied = client.cookies[COOKIE_NAME]
    token = form_token(client.get("/").text)
    response = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login"
    put_cookie(client, COOKIE_NAME, copied)
    assert client.get("/", follow_redirects=False).status_code == 303
    actions = session.exec(
        select(AuditEntry.action).where(AuditEntry.entity_id == str(staff_user.id))
    ).all()
    assert {"session.login", "session.logout"} <= set(actions)


def test_logout_is_not_possible_over_get(client, staff_user):
    logged_in(client, staff_user)
    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200


def test_an_idle_session_expires_and_the_login_page_says_so(client, session, staff_user):
    logged_in(client, staff_user)
    row = _row_of(client, session)
    row.last_seen_at = utcnow() - timedelta(minutes=61)
    session.add(row)
    session.commit()  # ends the test's savepoint, so the refused request's rollback keeps it
    response = client.get("/audit", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Faudit&expired=1"
    assert "登录已过期" in client.get(response.headers["location"]).text


def test_a_session_ends_at_its_absolute_expiry_even_when_active(client, session, staff_user):
    logged_in(client, staff_user)
    row = _row_of(client, session)
    row.expires_at = utcnow() - timedelta(seconds=1)
    session.add(row)
    session.commit()  # ends the test's savepoint, so the refused request's rollback keeps it
    assert client.get("/", follow_redirects=False).status_code == 303


def test_a_tampered_cookie_is_ignored(client, staff_user):
    logged_in(client, staff_user)
    value = client.cookies[COOKIE_NAME]
    # change one whole signature character (the last one may carry only padding bits, and the
    # old "xx" suffix was a no-op whenever the signature already ended that way)
    changed = "A" if value[-5] != "A" else "B"
    put_cookie(client, COOKIE_NAME, value[:-5] + changed + value[-4:])
    assert client.get("/", follow_redirects=False).status_code == 303


def test_after_login_only_same_site_paths_are_followed():
    assert safe_next("/experts?q=王") == "/experts?q=王"
    for hostile in (
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
        "/\x0b/evil.example",
        "/ /evil.example",
        None,
    ):
        assert safe_next(hostile) == "/"


def test_a_next_path_with_a_tab_is_not_followed_after_login(client, staff_user):
    # "/\t/evil.example" reads as "//evil.example" to a browser that drops the tab.
    response = login(client, staff_user.username, next_path="/\t/evil.example")
    assert response.status_code == 303 and response.headers["location"] == "/"
    client.cookies.clear()
    page = client.get("/login", params={"next": "/\t/evil.example"})
    assert 'name="next" value="/"' in page.text
