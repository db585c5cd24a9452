"""Accounts API: only admins manage accounts; everyone changes their own password; deactivation,
reset and password change make existing tokens and sessions fail at once."""

from __future__ import annotations

import pytest

from marketplace.vocabulary import Role
from tests.conftest import TEST_PASSWORD, auth_headers, make_user
from tests.web.allocation_support import quick_user
from tests.web.pages.conftest import logged_in


def _token(client, username: str, password: str) -> dict[str, str]:
    response = client.post("/api/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def admin(session):
    user = make_user(session, Role.admin, username="admin-1")
    session.commit()
    return user


@pytest.fixture
def target(session, admin):
    user = make_user(session, Role.district, username="coord-x", district="西安市/碑林区")
    session.commit()  # keep the setup when a refused request rolls its transaction back
    return user


ROUTES = [
    ("GET", "/api/users", None),
    ("POST", "/api/users", {"username": "nc", "password": "Pass-2026-x", "role": "admin"}),
    ("GET", "/api/users/{id}", None),
    ("PATCH", "/api/users/{id}", {"role": "admin"}),
    ("POST", "/api/users/{id}/deactivate", None),
    ("POST", "/api/users/{id}/reactivate", None),
    ("POST", "/api/users/{id}/reset-password", None),
    ("POST", "/api/users/{id}/logout", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_only_admins_reach_the_account_routes(client, session, settings, method, path, body):
    target = quick_user(session, Role.district, district="西安市/碑林区")
    session.commit()
    callers = {
        "anonymous": {},
        **{
            role.value: auth_headers(quick_user(session, role), settings)
            for role in (Role.staff, Role.expert)
        },
        "district": auth_headers(
            quick_user(session, Role.district, district="西安市/雁塔区"), settings
        ),
    }
    session.commit()
    for caller, headers in callers.items():
        response = client.request(method, path.format(id=target.id), json=body, headers=headers)
        assert response.status_code == (401 if caller == "anonymous" else 403), caller
    session.expire_all()
    assert (target.role, target.is_active, target.token_version) == ("district", True, 0)


def test_an_admin_creates_a_coordinator_lists_and_edits_it(client, session, settings, admin):
    headers = auth_headers(admin, settings)
    created = client.post(
        "/api/users",
        json={
            "username": "coord-yanta",
            "password": "Yanta-Orchard-5521",
            "role": "district",
            "district": "西安市/雁塔区",
            "display_name": "雁塔区协调员",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    assert created.json()["district_name"] == "雁塔区"
    listed = client.get("/api/users", params={"role": "district", "q": "雁塔"}, headers=headers)
    assert [u["username"] for u in listed.json()["items"]] == ["coord-yanta"]
    changed = client.patch(
        f"/api/users/{user_id}",
        json={
            "display_name": "雁塔区心理教研员",
            "email": "yanta@example.cn",
            "phone": "029-88886666",
        },
        headers=headers,
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["display_name"], body["email"], body["phone"]) == (
        "雁塔区心理教研员",
        "yanta@example.cn",
        "029-88886666",
    )
    assert _token(client, "coord-yanta", "Yanta-Orchard-5521")


def test_a_role_change_must_fit_its_binding(client, session, settings, admin, target):
    headers = auth_headers(admin, settings)
    to_expert = client.patch(f"/api/users/{target.id}", json={"role": "expert"}, headers=headers)
    assert to_expert.status_code == 422 and "专家" in to_expert.json()["detail"]
    to_staff = client.patch(f"/api/users/{target.id}", json={"role": "staff"}, headers=headers)
    assert to_staff.status_code == 200
    assert (to_staff.json()["role"], to_staff.json()["district_id"]) == ("staff", None)
    back = client.patch(
        f"/api/users/{target.id}",
        json={"role": "district", "district": "宝鸡市/渭滨区"},
        headers=headers,
    )
    assert back.json()["district_name"] == "渭滨区"


def test_an_admin_cannot_deactivate_or_demote_themself(client, settings, admin):
    headers = auth_headers(admin, settings)
    assert client.post(f"/api/users/{admin.id}/deactivate", headers=headers).status_code == 403
    demote = client.patch(f"/api/users/{admin.id}", json={"role": "staff"}, headers=headers)
    assert demote.status_code == 403
    assert client.get("/api/me", headers=headers).json()["role"] == "admin"


def test_deactivation_ends_the_users_token_and_page_session_at_once(
    client, session, settings, admin, target
):
    their_token = _token(client, target.username, TEST_PASSWORD)
    logged_in(client, target)
    assert client.get("/requests").status_code == 200
    assert client.get("/api/me", headers=their_token).status_code == 200
    response = client.post(
        f"/api/users/{target.id}/deactivate", headers=auth_headers(admin, settings)
    )
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert client.get("/api/me", headers=their_token).status_code == 401
    page = client.get("/requests", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    refused = client.post(
        "/api/auth/token", data={"username": target.username, "password": TEST_PASSWORD}
    )
    assert refused.status_code == 401
    back = client.post(f"/api/users/{target.id}/reactivate", headers=auth_headers(admin, settings))
    assert back.json()["is_active"] is True
    assert _token(client, target.username, TEST_PASSWORD)


def test_a_forced_logout_revokes_tokens_but_the_password_still_works(
    client, settings, admin, target
):
    their_token = _token(client, target.username, TEST_PASSWORD)
    response = client.post(f"/api/users/{target.id}/logout", headers=auth_headers(admin, settings))
    assert response.status_code == 200
    assert client.get("/api/me", headers=their_token).status_code == 401
    assert _token(client, target.username, TEST_PASSWORD)


def test_a_reset_password_is_temporary_and_opens_only_the_change_form(
    client, settings, admin, target
):
    their_token = _token(client, target.username, TEST_PASSWORD)
    reset = client.post(
        f"/api/users/{target.id}/reset-password", headers=auth_headers(admin, settings)
    )
    assert reset.status_code == 200
    temporary = reset.json()["temporary_password"]
    assert client.get("/api/me", headers=their_token).status_code == 401
    refused = client.post(
        "/api/auth/token", data={"username": target.username, "password": TEST_PASSWORD}
    )
    assert refused.status_code == 401
    headers = _token(client, target.username, temporary)
    assert client.get("/api/me", headers=headers).json()["must_change_password"] is True
    blocked = client.get("/api/requests", headers=headers)
    assert blocked.status_code == 403 and "请先设置新密码" in blocked.json()["detail"]
    changed = client.post(
        "/api/me/password",
        json={"old_password": temporary, "new_password": "Harbor-Violet-8813"},
        headers=headers,
    )
    assert changed.status_code == 200
    fresh = {"Authorization": f"Bearer {changed.json()['access_token']}"}
    assert client.get("/api/requests", headers=fresh).status_code == 200
    assert client.get("/api/requests", headers=headers).status_code == 401


def test_changing_ones_own_password_needs_the_current_one_and_ends_other_sessions(
    client, session, settings, target
):
    old_token = _token(client, target.username, TEST_PASSWORD)
    wrong = client.post(
        "/api/me/password",
        json={"old_password": "not-it-1", "new_password": "Lantern-Quiet-4127"},
        headers=old_token,
    )
    assert wrong.status_code == 422 and wrong.json()["detail"] == "当前密码不正确"
    weak = client.post(
        "/api/me/password",
        json={"old_password": TEST_PASSWORD, "new_password": "short"},
        headers=old_token,
    )
    assert weak.status_code == 422
    assert client.get("/api/me", headers=old_token).status_code == 200  # refusals revoke nothing
    logged_in(client, target)
    changed = client.post(
        "/api/me/password",
        json={"old_password": TEST_PASSWORD, "new_password": "Lantern-Quiet-4127"},
        headers=old_token,
    )
    assert changed.status_code == 200
    assert client.get("/api/me", headers=old_token).status_code == 401
    assert client.get("/requests", follow_redirects=False).status_code == 303  # page session
    assert _token(client, target.username, "Lantern-Quiet-4127")


def test_a_password_change_verifies_the_old_password_while_another_writer_holds_the_lock(
    tmp_path, monkeypatch
):
    """Argon2 runs on a read session: a wrong old password is answered while the database's
    write lock is held elsewhere, and a right one is written once the lock is free."""
    import threading
    import time

    from fastapi.testclient import TestClient
    from sqlmodel import Session

    import web.deps
    from marketplace.db import make_engine, run_migrations, serialized_write
    from tests.conftest import make_settings, seed_reference
    from web.app import create_app

    monkeypatch.setattr(web.deps, "WRITE_WAIT_SECONDS", 20.0)
    settings = make_settings(tmp_path, f"sqlite:///{tmp_path / 'lock.db'}")
    engine = make_engine(settings)
    run_migrations(engine)
    seed_reference(engine)
    with Session(engine) as setup:
        make_user(setup, Role.district, username="coord-lock")
        setup.commit()
    app = create_app(settings)
    app.state.engine = engine
    with TestClient(app) as client:
        headers = _token(client, "coord-lock", TEST_PASSWORD)
        held, release = threading.Event(), threading.Event()

        def writer() -> None:
            with serialized_write(engine):
                held.set()
                release.wait(20)

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            assert held.wait(10)
            started = time.monotonic()
            wrong = client.post(
                "/api/me/password",
                json={"old_password": "not-it-9", "new_password": "Lantern-Quiet-4127"},
                headers=headers,
            )
            assert wrong.status_code == 422
            assert wrong.json()["field"] == "old_password"
            assert time.monotonic() - started < 10  # not after the writer's 20 s
            # The right one queues behind the writer and lands once it lets go.
            threading.Timer(0.5, release.set).start()
            right = client.post(
                "/api/me/password",
                json={"old_password": TEST_PASSWORD, "new_password": "Lantern-Quiet-4127"},
                headers=headers,
            )
        finally:
            release.set()
            thread.join()
        assert right.status_code == 200, right.text
        assert client.get("/api/me", headers=headers).status_code == 401
        fresh = {"Authorization": f"Bearer {right.json()['access_token']}"}
        assert client.get("/api/me", headers=fresh).status_code == 200
        _token(client, "coord-lock", "Lantern-Quiet-4127")
    engine.dispose()
