"""Password guessing over HTTP: spoofed X-Forwarded-For, many workers, per username and address,
and lockout abuse: guessing a user's password from elsewhere never locks them out of their place.

Failed logins are counted in the database, so every worker process (here: separate apps with
their own engines on one database) sees the same counts; a proxy header is believed only from
HEART_TRUSTED_PROXIES.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from marketplace.db import make_engine, run_migrations, session_scope
from marketplace.vocabulary import Role
from tests.conftest import TEST_PASSWORD, make_settings, make_user, seed_reference
from tests.web.pages.conftest import form_token
from web.app import create_app


@pytest.fixture
def database(fresh_database_url, tmp_path):
    settings = make_settings(tmp_path, fresh_database_url)
    engine = make_engine(settings)
    run_migrations(engine)
    seed_reference(engine)
    with session_scope(engine) as session:
        for name in ("alice", "bob", "carol", "dave"):
            make_user(session, Role.staff, username=name)
    engine.dispose()
    return fresh_database_url


def worker(database_url, tmp_path, **overrides) -> TestClient:
    """One more 'worker process': its own app and engine on the shared database."""
    settings = make_settings(tmp_path, database_url, **overrides)
    app = create_app(settings)
    return TestClient(app)


def token(client: TestClient, username: str, password: str, **headers: str) -> int:
    return client.post(
        "/api/auth/token", data={"username": username, "password": password}, headers=headers
    ).status_code


def test_failures_spread_over_workers_add_up(database, tmp_path):
    with (
        worker(database, tmp_path / "a", login_max_failures=3) as one,
        worker(database, tmp_path / "b", login_max_failures=3) as two,
        worker(database, tmp_path / "c", login_max_failures=3) as three,
    ):
        codes = [token(w, "alice", "wrong-guess-1") for w in (one, two, three)]
        assert codes == [401, 401, 401]
        # The fourth try is refused by every worker, even with the right password.
        for w in (one, two, three):
            assert token(w, "alice", TEST_PASSWORD) == 429
        assert token(two, "bob", TEST_PASSWORD) == 200


def test_a_spoofed_forwarded_for_does_not_reset_the_count(database, tmp_path):
    with worker(database, tmp_path, login_max_failures=100, login_max_failures_per_address=4) as w:
        for i, user in enumerate(("alice", "bob", "carol", "dave")):
            assert token(w, user, "wrong-guess-1", **{"X-Forwarded-For": f"10.9.0.{i}"}) == 401
        # Without trusted proxies the header is ignored: the same client is refused.
        assert token(w, "alice", TEST_PASSWORD, **{"X-Forwarded-For": "10.9.9.9"}) == 429


def test_behind_a_trusted_proxy_each_client_address_counts_on_its_own(database, tmp_path):
    # The TestClient's peer is "testclient": trusted here, like a reverse proxy's address.
    with worker(
        database,
        tmp_path,
        login_max_failures=100,
        login_max_failures_per_address=3,
        trusted_proxies="testclient",
    ) as w:
        for user in ("alice", "bob", "carol"):
            assert token(w, user, "wrong-guess-1", **{"X-Forwarded-For": "10.1.1.1"}) == 401
        assert token(w, "dave", TEST_PASSWORD, **{"X-Forwarded-For": "10.1.1.1"}) == 429
        # Another client behind the same proxy is not affected...
        assert token(w, "dave", TEST_PASSWORD, **{"X-Forwarded-For": "10.2.2.2"}) == 200
        # ...and a client cannot hide behind an address it prepends itself.
        spoofed = {"X-Forwarded-For": "10.3.3.3, 10.1.1.1"}
        assert token(w, "dave", TEST_PASSWORD, **spoofed) == 429


def page_login(client: TestClient, username: str, password: str, address: str) -> int:
    """The login form, submitted like a browser behind the trusted proxy from `address`."""
    forwarded = {"X-Forwarded-For": address}
    page = client.get("/login", headers=forwarded)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": form_token(page.text)},
        headers=forwarded,
        follow_redirects=False,
    ).status_code


@pytest.mark.parametrize("how", ["api", "page"])
def test_an_attacker_hammering_a_user_from_one_address_does_not_lock_the_user_out(
    database, tmp_path, how
):
    attacker, office = "10.6.6.6", "10.8.8.8"
    with worker(database, tmp_path, trusted_proxies="testclient") as w:

        def attempt(password: str, address: str) -> int:
            if how == "api":
                return token(w, "carol", password, **{"X-Forwarded-For": address})
            return page_login(w, "carol", password, address)

        assert [attempt("wrong-guess-1", attacker) for _ in range(5)] == [401] * 5
        # The attacker's address is throttled for carol, even with the right password...
        assert [attempt(f"wrong-guess-{i}", attacker) for i in range(20)] == [429] * 20
        assert attempt(TEST_PASSWORD, attacker) == 429
        # ...while carol, from an address she has never used before, logs in.
        assert attempt(TEST_PASSWORD, office) == (200 if how == "api" else 303)


def test_guessing_from_many_addresses_waits_only_where_the_user_never_logged_in(database, tmp_path):
    home = {"X-Forwarded-For": "10.8.8.8"}
    with worker(
        database,
        tmp_path,
        login_max_failures=3,
        login_max_failures_per_user=6,
        trusted_proxies="testclient",
    ) as w:
        assert token(w, "carol", TEST_PASSWORD, **home) == 200  # carol's usual place
        for i in range(6):  # a botnet: one guess from each of many addresses
            assert token(w, "carol", "wrong-guess-1", **{"X-Forwarded-For": f"10.7.0.{i}"}) == 401
        # The username now waits at addresses it never logged in from...
        assert token(w, "carol", TEST_PASSWORD, **{"X-Forwarded-For": "10.7.0.99"}) == 429
        assert token(w, "carol", "wrong-guess-2", **{"X-Forwarded-For": "10.7.0.98"}) == 429
        # ...but not at home, and other users are not affected.
        assert token(w, "carol", TEST_PASSWORD, **home) == 200
        assert token(w, "dave", TEST_PASSWORD, **{"X-Forwarded-For": "10.7.0.99"}) == 200


def test_a_users_own_typos_are_forgotten_when_they_log_in(database, tmp_path):
    office = {"X-Forwarded-For": "10.8.8.8"}
    with worker(database, tmp_path, login_max_failures=3, trusted_proxies="testclient") as w:
        for _ in range(2):
            assert [token(w, "dave", "wrong-guess-1", **office) for _ in range(2)] == [401] * 2
            assert token(w, "dave", TEST_PASSWORD, **office) == 200
