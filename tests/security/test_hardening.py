"""Hardening at the public surface: security headers and a CSP the pages live within, generic
500s without traces or secrets, the password policy, and login throttling on the API too."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from marketplace.accounts.models import UserCreate
from marketplace.accounts.principal import system_principal
from marketplace.accounts.service import create_user
from marketplace.errors import InvalidInput
from marketplace.vocabulary import Role
from tests.conftest import TEST_PASSWORD, TEST_SECRET, auth_headers, make_user
from tests.web.pages.conftest import login
from web.deps import get_current_user

# An inline script, i.e. one the CSP (script-src 'self') would block; a JSON data block
# (<script type="application/json">, the form messages of forms.js) is data, never run.
INLINE_SCRIPT = re.compile(
    r"<script(?![^>]*\bsrc=)(?![^>]*\btype=\"application/json\")[^>]*>", re.IGNORECASE
)
INLINE_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"\sstyle\s*=", re.IGNORECASE)


def test_pages_and_api_carry_the_security_headers(client):
    for path in ("/login", "/api/health", "/static/app.css"):
        headers = client.get(path).headers
        policy = headers["content-security-policy"]
        assert "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"
        assert headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("role", [Role.staff, Role.district, Role.expert])
def test_every_page_works_within_the_policy_no_inline_script_handler_or_style(
    client, session, role
):
    from tests.conftest import expert_record
    from tests.web.pages.conftest import import_records

    expert_id = None
    if role == Role.expert:
        import_records(session, expert_record(id="H1"))
        expert_id = "H1"
    user = make_user(session, role, expert_id=expert_id)
    assert login(client, user.username).status_code == 303
    home = client.get("/")
    assert home.status_code == 200
    # htmx needs no inline script: the CSRF token rides on <body hx-headers=...>.
    assert re.search(r"<body[^>]*hx-headers='[^']*X-CSRF-Token", home.text)
    links = set(re.findall(r'<a [^>]*href="(/[^"#?]*)"', home.text)) - {"/logout"}
    for path in sorted(links | {"/", "/experts"}):
        page = client.get(path)
        assert page.status_code < 500, path
        for pattern in (INLINE_SCRIPT, INLINE_HANDLER, STYLE_ATTRIBUTE):
            assert not pattern.search(page.text), f"{path}: {pattern.pattern}"
        assert "javascript:" not in page.text, path


@pytest.fixture
def crashing_client(app, session):
    """An app whose user lookup fails unexpectedly, with a secret in the exception text."""

    def explode():
        raise RuntimeError(f"postgresql://heart:hunter2@db/heart {TEST_SECRET}")

    app.dependency_overrides[get_current_user] = explode
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize("path", ["/api/me", "/experts"])
def test_an_internal_error_answers_a_generic_500_without_trace_or_secret(crashing_client, path):
    response = crashing_client.get(path, headers={"Authorization": "Bearer x"})
    assert response.status_code == 500
    for leak in ("Traceback", "RuntimeError", "hunter2", TEST_SECRET, 'File "', "postgresql://"):
        assert leak not in response.text
    if path.startswith("/api/"):
        assert response.json() == {"detail": "服务器内部错误，请稍后重试"}


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1", "至少"),
        ("onlyletters", "常见单词"),
        ("1234567890", "常见密码"),
        ("password1", "常见密码"),
        ("Passw0rd!", "常见密码"),
        ("qwertyuiop1", "常见密码"),
        ("weakling2026", "包含用户名"),
        ("20261204", "年份或日期"),
    ],
)
def test_weak_and_guessable_passwords_are_refused_with_the_reason(session, password, reason):
    with pytest.raises(InvalidInput, match=reason):
        create_user(
            session=session,
            data=UserCreate(username="weakling", password=password, role=Role.staff),
            user=system_principal("test"),
        )


@pytest.mark.parametrize("password", ["test-pass-2026", "heart-demo-2026", "马上 river 7 灯塔"])
def test_long_uncommon_passwords_pass_the_policy(session, password):
    user = create_user(
        session=session,
        data=UserCreate(username="strong", password=password, role=Role.staff),
        user=system_principal("test"),
    )
    assert user.id is not None


def test_the_token_api_is_throttled_like_the_login_page(client, session, settings):
    user = make_user(session, Role.staff, username="throttled")
    other = make_user(session, Role.staff, username="not-throttled")
    session.commit()  # released savepoint: the refused logins' rollbacks keep these users
    form = {"username": "throttled", "password": "wrong-password-1"}
    codes = [
        client.post("/api/auth/token", data=form).status_code
        for _ in range(settings.login_max_failures)
    ]
    assert codes == [401] * settings.login_max_failures
    locked = client.post(
        "/api/auth/token", data={"username": "throttled", "password": TEST_PASSWORD}
    )
    assert locked.status_code == 429 and "分钟后再试" in locked.json()["detail"]
    # Another username from the same address is not locked out.
    ok = client.post(
        "/api/auth/token", data={"username": other.username, "password": TEST_PASSWORD}
    )
    assert ok.status_code == 200
    assert client.get("/api/me", headers=auth_headers(user, settings)).status_code == 200
