"""Dozens of parallel bookings of one slot on a committed database: exactly one wins."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from sqlmodel import Session, select

from booking import locking
from booking.schedule import service as schedule_service
from booking.schedule.models import AvailabilityUpdate
from booking.sessions import service as sessions_service
from booking.sessions.models import BookingCreate
from booking.trainings import service as trainings_service
from booking.trainings.models import RegistrationCreate
from marketplace.accounts.models import User
from marketplace.db import make_engine, run_migrations, session_scope
from marketplace.errors import Conflict
from marketplace.vocabulary import Role
from tests.booking.conftest import (
    ALL_KINDS,
    WORKDAY,
    add_experts,
    future_weekday,
    local,
    quick_user,
)
from tests.conftest import expert_record, make_settings, seed_reference

THREADS = 24


def prepared_engine(url: str, tmp_path: Path):
    engine = make_engine(make_settings(tmp_path, url))
    run_migrations(engine)
    seed_reference(engine)
    with session_scope(engine) as session:
        add_experts(
            session, expert_record(id="BK1", service_types=ALL_KINDS, monthly_capacity_hours=200)
        )
        staff = quick_user(session, Role.staff, "staff@example.org")
        coordinators = [
            quick_user(session, Role.district, f"d{i}@example.org").id for i in range(THREADS)
        ]
        schedule_service.set_availability(
            session=session, expert_id="BK1", data=AvailabilityUpdate(**WORKDAY), user=staff
        )
    return engine, coordinators


def race(engine, user_ids, attempt) -> tuple[int, int, list[str]]:
    barrier = threading.Barrier(len(user_ids))
    wins, conflicts, errors = [], [], []

    def run(user_id: int) -> None:
        barrier.wait()
        try:
            with locking.serialized_session(engine) as session:
                attempt(session, session.get(User, user_id))
            wins.append(user_id)
        except Conflict as exc:
            conflicts.append(exc.message)
        except Exception as exc:  # noqa: BLE001
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=run, args=(uid,)) for uid in user_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return len(wins), len(conflicts), errors


def test_parallel_requests_for_one_slot_yield_exactly_one_booking(fresh_database_url, tmp_path):
    engine, user_ids = prepared_engine(fresh_database_url, tmp_path)
    start = local(future_weekday(), 10)

    def attempt(session: Session, user: User) -> None:
        data = BookingCreate(
            expert_id="BK1",
            start=start,
            end=start + timedelta(hours=1),
            kind="supervision",
            format="online",
            title="并发测试",
        )
        sessions_service.create_booking(session=session, data=data, user=user)

    try:
        wins, conflicts, errors = race(engine, user_ids, attempt)
        assert (wins, conflicts, errors) == (1, THREADS - 1, [])
        with Session(engine) as session:
            assert len(sessions_service.list_bookings(session=session, user=_staff(session))) == 1
    finally:
        engine.dispose()


def test_parallel_registrations_never_exceed_training_capacity(fresh_database_url, tmp_path):
    engine, user_ids = prepared_engine(fresh_database_url, tmp_path)
    start = local(future_weekday(), 10)
    with locking.serialized_session(engine) as session:
        training = sessions_service.create_booking(
            session=session,
            user=session.get(User, user_ids[0]),
            data=BookingCreate(
                expert_id="BK1",
                start=start,
                end=start + timedelta(hours=3),
                kind="training",
                format="online",
                title="全员培训",
                capacity=50,
            ),
        )
        training_id = training.id

    def attempt(session: Session, user: User) -> None:
        trainings_service.register_for_training(
            session=session,
            booking_id=training_id,
            user=user,
            data=RegistrationCreate(school="某校", participants=10),
        )

    try:
        wins, conflicts, errors = race(engine, user_ids, attempt)
        assert (wins, conflicts, errors) == (5, THREADS - 5, [])
        with Session(engine) as session:
            assert sessions_service.seats_taken(session=session, booking_id=training_id) == 50
    finally:
        engine.dispose()


def _staff(session: Session) -> User:
    return session.exec(select(User).where(User.role == "staff")).one()
