"""Booking fixtures: one bookable expert with users on both sides, and time helpers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache

import pytest
from sqlmodel import Session

from booking.schedule import service as schedule_service
from booking.schedule.models import AvailabilityUpdate
from booking.sessions import service as sessions_service
from booking.sessions.models import Booking, BookingCreate
from marketplace.accounts.models import User
from marketplace.accounts.principal import system_principal
from marketplace.accounts.service import hash_password
from marketplace.clock import LOCAL_TZ, utcnow
from marketplace.districts.service import find_district
from marketplace.experts.importing import import_experts
from marketplace.vocabulary import Role
from tests.conftest import TEST_PASSWORD, auth_headers, expert_record

ALL_KINDS = ["supervision", "consultation", "crisis_support", "training"]


def future_weekday(days_ahead: int = 7) -> date:
    """A Monday-to-Friday date at least `days_ahead` days from today (Shanghai)."""
    day = utcnow().astimezone(LOCAL_TZ).date() + timedelta(days=days_ahead)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=LOCAL_TZ)


def book(
    session: Session,
    user: User,
    expert_id: str,
    start: datetime,
    *,
    title: str,
    kind: str = "supervision",
    hours: float = 1,
    now: datetime | None = None,
    **fields: object,
) -> Booking:
    """A session booked online through the service: `hours` long from `start`."""
    return sessions_service.create_booking(
        session=session,
        data=BookingCreate.model_validate(
            {
                "expert_id": expert_id,
                "start": start,
                "end": start + timedelta(hours=hours),
                "kind": kind,
                "format": "online",
                "title": title,
                **fields,
            }
        ),
        user=user,
        now=now,
    )


def add_experts(session: Session, *records: dict) -> None:
    report = import_experts(
        session=session,
        lines=[json.dumps(r, ensure_ascii=False) for r in records],
        user=system_principal("test"),
    )
    assert report.created == len(records), report


@lru_cache(maxsize=1)
def _password_hash() -> str:
    return hash_password(TEST_PASSWORD)


def quick_user(
    session: Session,
    role: Role,
    username: str,
    *,
    district: str = "西安市/碑林区",
    expert_id: str | None = None,
) -> User:
    """A user like tests.conftest.make_user, without paying for a fresh Argon2 hash each time."""
    district_id = (
        find_district(session=session, name=district).id if role == Role.district else None
    )
    user = User(
        username=username,
        display_name=username,
        password_hash=_password_hash(),
        role=role.value,
        district_id=district_id,
        expert_id=expert_id,
        # These fixture accounts registered the address their username spells, when it is one.
        email=username if "@" in username else None,
    )
    session.add(user)
    session.flush()
    return user


@dataclass
class World:
    expert_id: str
    expert_user: User
    other_expert_user: User
    district_user: User
    other_district_user: User
    staff: User


WORKDAY = {
    "timezone": "Asia/Shanghai",
    "weekly": [{"weekday": d, "start": "09:00", "end": "17:00"} for d in range(5)],
    "min_notice_minutes": 60,
}


@pytest.fixture
def world(session: Session) -> World:
    add_experts(
        session,
        expert_record(id="BK1", service_types=ALL_KINDS, monthly_capacity_hours=40),
        expert_record(
            id="BK2", name="另一位专家", service_types=["consultation"], formats=["online"]
        ),
    )
    w = World(
        expert_id="BK1",
        expert_user=quick_user(session, Role.expert, "bk1@example.org", expert_id="BK1"),
        other_expert_user=quick_user(session, Role.expert, "bk2@example.org", expert_id="BK2"),
        district_user=quick_user(session, Role.district, "beilin@example.org"),
        other_district_user=quick_user(
            session, Role.district, "yanta@example.org", district="西安市/雁塔区"
        ),
        staff=quick_user(session, Role.staff, "staff@example.org"),
    )
    schedule_service.set_availability(
        session=session, expert_id="BK1", data=AvailabilityUpdate(**WORKDAY), user=w.staff
    )
    # Released savepoint: a failing request's rollback (as in the app) keeps the fixture data.
    session.commit()
    return w


@pytest.fixture
def h(world, settings):
    """Authorization headers per role."""
    return {
        name: auth_headers(getattr(world, name), settings)
        for name in (
            "expert_user",
            "other_expert_user",
            "district_user",
            "other_district_user",
            "staff",
        )
    }
