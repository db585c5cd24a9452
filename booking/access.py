"""Who may act on booking records: the role checks every booking domain shares, asked of the
one policy (marketplace.accounts.permissions)."""

from __future__ import annotations

from booking.sessions.models import Booking
from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import POLICY, Action, Scope, sees_everything
from marketplace.errors import Forbidden
from marketplace.vocabulary import Role

# The roles that see every booking (province staff, admins): staff mail goes to them.
STAFF_ROLES = tuple(
    sorted(role.value for role, scope in POLICY[Action.booking_read].items() if scope is Scope.all)
)


def is_staff(user: User) -> bool:
    """Whether `user` acts on every booking (scope `all` for bookings in the policy)."""
    return sees_everything(user, Action.booking_read)


def require_expert_editor(user: User, expert_id: str) -> None:
    if not (is_staff(user) or (user.role == Role.expert and user.expert_id == expert_id)):
        raise Forbidden(messages.FORBIDDEN)


def require_district_owner(user: User, district_id: int) -> None:
    if not (is_staff(user) or (user.role == Role.district and user.district_id == district_id)):
        raise Forbidden(messages.FORBIDDEN)


def is_expert_side(user: User, booking: Booking) -> bool:
    return is_staff(user) or (user.role == Role.expert and user.expert_id == booking.expert_id)


def is_party(user: User, booking: Booking) -> bool:
    return is_expert_side(user, booking) or (
        user.role == Role.district and user.district_id == booking.district_id
    )
