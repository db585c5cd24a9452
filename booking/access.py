"""Who may act on booking records: the role checks every booking domain shares."""

from __future__ import annotations

from booking.sessions.models import Booking
from marketplace import messages
from marketplace.accounts.models import User
from marketplace.errors import Forbidden
from marketplace.vocabulary import Role

STAFF_ROLES = (Role.staff.value, Role.admin.value)


def is_staff(user: User) -> bool:
    return user.role in STAFF_ROLES


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
