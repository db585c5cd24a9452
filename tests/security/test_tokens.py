"""Bearer tokens name a login session checked on every use: logout and revocation end them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from marketplace.accounts.service import TOKEN_ALGORITHM, set_password
from marketplace.audit.service import Actor
from marketplace.login_sessions.service import revoke_all_sessions
from marketplace.vocabulary import Role
from tests.conftest import TEST_PASSWORD, TEST_SECRET, make_user
from tests.web.pages.conftest import login

NEW_PASSWORD = "lantern-orchid-4417"


def token_for(client, username: str, password: str = TEST_PASSWORD) -> dict[str, str]:
    response = client.post("/api/auth/token", data={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def staff(session):
    user = make_user(session, Role.staff, username="tok-staff")
    session.commit()
    return user


def test_logout_revokes_the_token_and_only_that_token(client, staff):
    first = token_for(client, staff.username)
    second = token_for(client, staff.username)
    assert client.get("/api/me", headers=first).status_code == 200

    assert client.post("/api/auth/logout", headers=first).status_code == 204

    assert client.get("/api/me", headers=first).status_code == 401
    assert client.post("/api/auth/logout", headers=first).status_code == 401
    assert client.get("/api/me", headers=second).status_code == 200


def test_revoking_all_sessions_ends_every_token_and_page_session(client, session, staff):
    tokens = [token_for(client, staff.username) for _ in range(2)]
    assert login(client, staff.username).status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 200

    ended = revoke_all_sessions(
        session=session, user=staff, actor=Actor.system("test"), reason="deactivation"
    )
    session.commit()

    assert ended == 3
    for headers in tokens:
        assert client.get("/api/me", headers=headers).status_code == 401
    assert client.get("/", follow_redirects=False).status_code == 303
    assert token_for(client, staff.username)  # a new login works again


def test_a_password_change_ends_the_old_tokens_and_the_old_password(client, session, staff):
    old = token_for(client, staff.username)
    set_password(session=session, user=staff, password=NEW_PASSWORD, actor=Actor.system("t"))
    session.commit()
    assert client.get("/api/me", headers=old).status_code == 401
    refused = client.post(
        "/api/auth/token", data={"username": staff.username, "password": TEST_PASSWORD}
    )
    assert refused.status_code == 401
    assert client.get("/api/me", headers=token_for(client, staff.username, NEW_PASSWORD)).is_success


def _forge(claims: dict) -> dict[str, str]:
    now = datetime.now(UTC)
    payload = {"iat": now, "exp": now + timedelta(minutes=5), **claims}
    return {"Authorization": f"Bearer {jwt.encode(payload, TEST_SECRET, TOKEN_ALGORITHM)}"}


def test_a_signed_token_without_a_live_session_of_its_user_opens_nothing(client, session, staff):
    other = make_user(session, Role.admin, username="tok-admin")
    session.commit()
    own = token_for(client, staff.username)
    own_sid = jwt.decode(
        own["Authorization"].split()[1], TEST_SECRET, algorithms=[TOKEN_ALGORITHM]
    )["sid"]
    attempts = [
        {"sub": str(other.id), "ver": 0},  # an old-style token: no session at all
        {"sub": str(other.id), "ver": 0, "sid": own_sid},  # someone else's session
        {"sub": str(other.id), "ver": 0, "sid": str(own_sid)},
        {"sub": str(other.id), "ver": 0, "sid": 2**40},
        {"sub": str(other.id), "ver": 0, "sid": True},
    ]
    for claims in attempts:
        assert client.get("/api/me", headers=_forge(claims)).status_code == 401, claims


def test_a_password_that_the_policy_refuses_is_not_set(session, staff):
    from marketplace.errors import InvalidInput

    before = staff.password_hash, staff.token_version
    with pytest.raises(InvalidInput, match="太容易被猜到"):
        set_password(session=session, user=staff, password="password1", actor=Actor.system("t"))
    assert (staff.password_hash, staff.token_version) == before
