"""Accounts carry a validated e-mail address and phone number; mail goes to that address."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlmodel import Session, select
from typer.testing import CliRunner

from booking.notifications.models import BookingNotification
from booking.schedule import service as schedule_service
from booking.schedule.models import AvailabilityUpdate
from marketplace.accounts.models import User, UserCreate
from marketplace.accounts.principal import system_principal
from marketplace.accounts.service import create_user
from marketplace.db import make_engine, run_migrations
from marketplace.vocabulary import Role
from tests.booking.conftest import ALL_KINDS, WORKDAY, add_experts, book, future_weekday, local
from tests.conftest import (
    TEST_PASSWORD,
    TEST_SECRET,
    auth_headers,
    expert_record,
    make_settings,
    make_user,
)


def _create(session: Session, **fields: object) -> User:
    return create_user(
        session=session,
        data=UserCreate(username="c1", password=TEST_PASSWORD, role=Role.staff, **fields),
        user=system_principal("test"),
    )


def test_a_user_is_created_with_a_normalised_email_and_phone(session):
    user = _create(session, email=" Li.Hua@Example.ORG ", phone=" 138 0000 0000 ")
    assert (user.email, user.phone) == ("Li.Hua@example.org", "138 0000 0000")


@pytest.mark.parametrize("email", ["li.hua", "li@hua", "a b@example.org", "x@@example.org"])
def test_a_malformed_email_is_refused_in_chinese(session, email):
    with pytest.raises(ValueError, match="邮箱格式不正确"):
        _create(session, email=email)


@pytest.mark.parametrize("phone", ["12", "电话", "12345678901234567", "12000000000"])
def test_a_malformed_phone_is_refused_in_chinese(session, phone):
    with pytest.raises(ValueError, match="电话号码格式不正确"):
        _create(session, phone=phone)


def test_the_owner_edits_their_contact_details_through_the_api(client, session, settings):
    user = make_user(session, Role.district)
    headers = auth_headers(user, settings)
    changed = client.patch("/api/me", json={"email": "coord@beilin.edu.cn"}, headers=headers)
    assert changed.status_code == 200
    assert changed.json()["email"] == "coord@beilin.edu.cn"
    phone = client.patch("/api/me", json={"phone": "029-87654321"}, headers=headers).json()
    assert (phone["email"], phone["phone"]) == ("coord@beilin.edu.cn", "029-87654321")
    assert client.get("/api/me", headers=headers).json()["phone"] == "029-87654321"
    cleared = client.patch("/api/me", json={"email": ""}, headers=headers).json()
    assert cleared["email"] is None and cleared["phone"] == "029-87654321"


def test_a_bad_address_through_the_api_is_a_422_in_chinese(client, session, settings):
    user = make_user(session, Role.staff)
    response = client.patch(
        "/api/me", json={"email": "not-an-address"}, headers=auth_headers(user, settings)
    )
    assert response.status_code == 422
    assert "邮箱格式不正确" in response.text


def test_mail_goes_to_the_email_field_not_to_an_address_like_username(session):
    add_experts(session, expert_record(id="MX1", service_types=ALL_KINDS))
    staff = make_user(session, Role.staff)
    schedule_service.set_availability(
        session=session, expert_id="MX1", data=AvailabilityUpdate(**WORKDAY), user=staff
    )
    expert = make_user(session, Role.expert, username="mx1@old.example.org", expert_id="MX1")
    coordinator = make_user(session, Role.district, username="beilin-coord")
    coordinator.email = "coord@beilin.edu.cn"
    session.add(coordinator)
    book(session, coordinator, "MX1", local(future_weekday(), 10), title="个案督导")
    recipients = session.exec(select(BookingNotification.recipient)).all()
    assert recipients == ["coord@beilin.edu.cn"]
    assert expert.email is None  # an address-like username alone receives nothing


def test_the_cli_creates_an_account_with_contact_details(fresh_database_url, tmp_path):
    from web.cli import app

    env = {
        "HEART_ENVIRONMENT": "production",
        "HEART_SECRET_KEY": TEST_SECRET,
        "HEART_DATABASE_URL": fresh_database_url,
        "HEART_DATA_DIR": str(tmp_path / "data"),
    }
    runner = CliRunner()
    assert runner.invoke(app, ["init"], env=env).exit_code == 0
    args = ["users", "create", "wang", "--role", "staff", "--password", TEST_PASSWORD]
    bad = runner.invoke(app, [*args, "--email", "wang@"], env=env)
    assert bad.exit_code != 0 and "邮箱格式不正确" in bad.output
    ok = runner.invoke(
        app, [*args, "--email", "wang@example.org", "--phone", "13900000000"], env=env
    )
    assert ok.exit_code == 0, ok.output
    engine = make_engine(make_settings(tmp_path, fresh_database_url))
    with Session(engine) as session:
        user = session.exec(select(User).where(User.username == "wang")).one()
        assert (user.email, user.phone) == ("wang@example.org", "13900000000")
    engine.dispose()


def test_the_migration_keeps_mail_flowing_to_address_like_usernames(fresh_database_url, tmp_path):
    engine = make_engine(make_settings(tmp_path, fresh_database_url))
    run_migrations(engine, "0007")
    with engine.begin() as connection:
        for name in ("li@school.example.org", "plain-name"):
            connection.execute(
                text(
                    "INSERT INTO user_account (username, display_name, password_hash, role, "
                    "is_active, token_version, created_at) "
                    "VALUES (:u, :u, 'x', 'staff', true, 0, CURRENT_TIMESTAMP)"
                ),
                {"u": name},
            )
    run_migrations(engine)
    with Session(engine) as session:
        emails = {u.username: u.email for u in session.exec(select(User)).all()}
    engine.dispose()
    assert emails == {"li@school.example.org": "li@school.example.org", "plain-name": None}
