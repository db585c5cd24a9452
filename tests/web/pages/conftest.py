"""Helpers for the page tests: log in through the real login form, read the CSRF token."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from marketplace.accounts.models import User
from marketplace.accounts.principal import system_principal
from marketplace.experts.importing import import_experts
from marketplace.vocabulary import Role
from tests.conftest import TEST_PASSWORD, expert_record, make_user

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(html: str) -> str:
    match = _TOKEN.search(html)
    assert match, "no csrf_token field on the page"
    return match.group(1)


def login(client: TestClient, username: str, password: str = TEST_PASSWORD, next_path: str = "/"):
    """Submit the login form like a browser; returns the (redirect) response."""
    page = client.get("/login")
    return client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": form_token(page.text),
            "next": next_path,
        },
        follow_redirects=False,
    )


def session_token(client: TestClient) -> str:
    """The logged-in page's CSRF token (from the logout form of the shell)."""
    return form_token(client.get("/").text)


def import_records(session: Session, *records: dict) -> None:
    report = import_experts(
        session=session,
        lines=[json.dumps(r, ensure_ascii=False) for r in records],
        user=system_principal("t"),
    )
    assert not report.errors, report.errors


@pytest.fixture
def expert_user(session: Session) -> User:
    import_records(session, expert_record(id="P1", name="林晓", specialties=["心理危机干预"]))
    return make_user(session, Role.expert, username="expert-p1", expert_id="P1")


@pytest.fixture
def staff_user(session: Session) -> User:
    return make_user(session, Role.staff, username="staff-1")


@pytest.fixture
def district_user(session: Session) -> User:
    return make_user(session, Role.district, username="coord-1")


def put_cookie(client: TestClient, name: str, value: str) -> None:
    """Replace a cookie the way a browser (or an attacker planting it) would."""
    domains = {c.domain for c in client.cookies.jar if c.name == name} or {"testserver.local"}
    client.cookies.delete(name)
    for domain in domains:
        client.cookies.set(name, value, domain=domain)


def logged_in(client: TestClient, user: User) -> TestClient:
    client.cookies.clear()  # a fresh browser profile for each user
    response = login(client, user.username)
    assert response.status_code == 303, response.text
    return client
