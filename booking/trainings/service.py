"""Training services: open trainings, registrations up to capacity."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from booking import access
from booking.sessions.models import LIVE_STATUSES, Booking, BookingKind
from booking.sessions.service import get_booking, lock_booking, seats_taken
from booking.trainings.models import RegistrationCreate, TrainingRegistration
from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, require
from marketplace.accounts.service import actor_for
from marketplace.audit.service import record
from marketplace.clock import utcnow
from marketplace.errors import Conflict, InvalidInput


def register_for_training(
    *, session: Session, booking_id: int, data: RegistrationCreate, user: User
) -> TrainingRegistration:
    """A district registers a school's participants for a training; never over capacity."""
    require(user, Action.training_register)  # a district registers its own schools
    district_id = user.district_id
    assert district_id is not None  # scope own_district requires the user's district
    booking = lock_booking(session, booking_id, user, None)
    if booking.kind != BookingKind.training:
        raise InvalidInput(messages.TRAINING_ONLY)
    if booking.status not in LIVE_STATUSES:
        raise Conflict(
            messages.BOOKING_BAD_TRANSITION.format(
                status=messages.BOOKING_STATUS_LABELS.get(booking.status, booking.status)
            )
        )
    left = (booking.capacity or 0) - seats_taken(session=session, booking_id=booking_id)
    if data.participants > left:
        raise Conflict(messages.TRAINING_FULL.format(left=max(left, 0)))
    registration = TrainingRegistration(
        booking_id=booking_id,
        district_id=district_id,
        school=data.school,
        participants=data.participants,
    )
    session.add(registration)
    session.flush()
    record(
        session=session,
        actor=actor_for(user),
        action="training.register",
        entity_type="booking",
        entity_id=str(booking_id),
        after={
            "registration_id": registration.id,
            "school": data.school,
            "participants": data.participants,
            "district_id": user.district_id,
        },
    )
    return registration


def list_registrations(
    *, session: Session, booking_id: int, user: User
) -> list[TrainingRegistration]:
    """Registrations of a training: all for its parties, a district's own for other districts."""
    booking = get_booking(session=session, booking_id=booking_id, user=user)
    query = select(TrainingRegistration).where(TrainingRegistration.booking_id == booking.id)
    if not access.may(session, user, Action.booking_read, booking):
        query = query.where(TrainingRegistration.district_id == user.district_id)
    return list(session.exec(query.order_by(col(TrainingRegistration.id))).all())


def list_open_trainings(
    *, session: Session, user: User, now: datetime | None = None, limit: int = 200
) -> list[Booking]:
    """Live trainings not yet started, open to every district (and shown to staff)."""
    require(user, Action.booking_create)
    query = select(Booking).where(
        Booking.kind == BookingKind.training.value,
        col(Booking.status).in_(LIVE_STATUSES),
        Booking.start_at > (now or utcnow()),
    )
    return list(
        session.exec(query.order_by(col(Booking.start_at), col(Booking.id)).limit(limit)).all()
    )
