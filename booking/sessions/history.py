"""The audit trail of a session: the snapshot every transition records."""

from __future__ import annotations

from sqlmodel import Session

from booking.sessions.models import Booking
from marketplace.accounts.models import User
from marketplace.accounts.service import actor_for
from marketplace.audit.service import Actor, record


def snapshot(booking: Booking) -> dict:
    return {
        "status": booking.status,
        "start": booking.start_at.isoformat(),
        "end": booking.end_at.isoformat(),
        "sequence": booking.sequence,
        "expert_id": booking.expert_id,
        "district_id": booking.district_id,
    }


def audit_booking(
    session: Session, user: User | Actor, action: str, booking: Booking, before: dict
) -> None:
    actor = user if isinstance(user, Actor) else actor_for(user)
    record(
        session=session,
        actor=actor,
        action=action,
        entity_type="booking",
        entity_id=str(booking.id),
        before=before,
        after=snapshot(booking),
    )
