"""Factories for the procured-services tests (plain functions, HTTP and service level)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from marketplace.accounts.models import User
from marketplace.districts.service import find_district
from marketplace.services.service import today
from marketplace.vocabulary import Role
from tests.conftest import auth_headers


def quick_user(
    session, role: Role, *, district: str | None = None, username: str | None = None
) -> User:
    """A user row for bearer-token tests (no password hashing: these tests never log in)."""
    user = User(
        username=username or f"{role.value}-{uuid.uuid4().hex[:8]}",
        password_hash="!unusable",
        role=role.value,
        district_id=find_district(session=session, name=district).id if district else None,
    )
    session.add(user)
    session.flush()
    return user


def service_body(**overrides: object) -> dict:
    body = {
        "name": "专家督导小时包",
        "kind": "supervision_hours",
        "vendor": "陕西省心理卫生协会",
        "unit": "小时",
        "quantity": 10,
        "valid_from": (today() - timedelta(days=30)).isoformat(),
        "valid_to": (today() + timedelta(days=300)).isoformat(),
        "description": "面向学校心理教师的个案督导",
    }
    body.update(overrides)
    return body


class Actors:
    """A staff user and district coordinators, with their bearer headers."""

    def __init__(self, session, settings):
        self.session = session
        self.settings = settings
        self.staff = auth_headers(quick_user(session, Role.staff, username="staff-a"), settings)
        self.beilin = auth_headers(
            quick_user(session, Role.district, district="西安市/碑林区"), settings
        )
        self.yanta = auth_headers(
            quick_user(session, Role.district, district="西安市/雁塔区"), settings
        )

    def district(self, name: str) -> dict[str, str]:
        return auth_headers(quick_user(self.session, Role.district, district=name), self.settings)


def create_service(client, actors: Actors, **overrides: object) -> dict:
    response = client.post("/api/services", json=service_body(**overrides), headers=actors.staff)
    assert response.status_code == 201, response.text
    return response.json()


def apply(client, headers, service_id: int, quantity: float = 4, **extra: object) -> dict:
    body = {
        "service_id": service_id,
        "quantity": quantity,
        "purpose": "学校心理危机个案督导",
        **extra,
    }
    response = client.post("/api/applications", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()
