"""The audit trail of a session: the snapshot every transition records."""

from __future__ import annotations

from sqlmodel import Session

from booking.sessions.models import Booking
from marketplace.accounts.models import User
from marketplace.accounts.service import actor_for
from marketplace.audit.service import record


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
    session: Session, user: User, action: str, booking: Booking, before: dict
) -> None:
    """Record a session's transition as done by `user` (a person or the system principal)."""
    record(
        session=session,
        actor=actor_for(user),
        action=action,
        entity_type="booking",
        entity_id=str(booking.id),
        before=before,
        after=snapshot(booking),
    )
