"""Who may act on booking records: every check asks the one policy
(marketplace.accounts.permissions) about the booking's owners (its district and its expert)."""

from __future__ import annotations

from sqlmodel import Session

from booking.sessions.models import Booking, BookingKind
from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import (
    Action,
    Owner,
    Scope,
    permits,
    scope_of,
    sees_everything,
)
from marketplace.errors import Forbidden, NotFound


def is_staff(user: User) -> bool:
    """Whether `user` acts on every booking (scope `all` for bookings in the policy)."""
    return sees_everything(user, Action.booking_read)


def reads_as_center(user: User) -> bool:
    """Whether `user` reads bookings as a center (every district or their region's), not as a
    party to them: such reads are written to the audit log."""
    return scope_of(user, Action.booking_read) in (Scope.all, Scope.region)


def owner_of(booking: Booking) -> Owner:
    return Owner(district_id=booking.district_id, expert_id=booking.expert_id)


def may(session: Session, user: User, action: Action, booking: Booking) -> bool:
    """Whether the policy lets `user` do `action` on `booking`."""
    return permits(session, user, action, owner_of(booking))


def can_see(session: Session, user: User, booking: Booking) -> bool:
    """A party to the booking, a center reaching its district, or any district for a training
    (every district registers its schools)."""
    every_district = booking.kind == BookingKind.training
    return permits(
        session,
        user,
        Action.booking_read,
        Owner(booking.district_id, booking.expert_id, every_district=every_district),
    )


def require(session: Session, user: User, action: Action, booking: Booking) -> None:
    """404 for a booking the user may not see at all (its existence is not disclosed), 403 for
    one they see but may not do `action` on."""
    if not can_see(session, user, booking):
        raise NotFound(messages.BOOKING_NOT_FOUND.format(id=booking.id))
    if not may(session, user, action, booking):
        raise Forbidden(messages.FORBIDDEN)


def require_expert_editor(session: Session, user: User, expert_id: str) -> None:
    if not permits(session, user, Action.expert_edit, Owner(expert_id=expert_id)):
        raise Forbidden(messages.FORBIDDEN)


def require_feed_owner(session: Session, user: User, owner: Owner) -> None:
    if not permits(session, user, Action.calendar_feed, owner):
        raise Forbidden(messages.FORBIDDEN)
