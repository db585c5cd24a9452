"""In-app notifications of booking events, written with the event in the caller's transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlmodel import Session, col, select

from booking.sessions.models import Booking
from marketplace import messages
from marketplace.accounts.models import User
from marketplace.clock import DEFAULT_ZONE, in_zone
from marketplace.districts.models import District
from marketplace.experts.models import Expert
from marketplace.notifications.models import NotificationKind
from marketplace.notifications.service import notify, recipients

# The mail kinds of booking.notifications.service.notify, as inbox kinds.
KINDS = {
    "request": NotificationKind.booking_requested,
    "confirmation": NotificationKind.booking_confirmed,
    "declined": NotificationKind.booking_declined,
    "change": NotificationKind.booking_rescheduled,
    "cancellation": NotificationKind.booking_cancelled,
    "reminder": NotificationKind.booking_reminder,
    "escalation": NotificationKind.crisis_escalation,
    "proposal": NotificationKind.booking_move_proposed,
    "move_declined": NotificationKind.booking_move_declined,
}


def booking_link(booking: Booking) -> str:
    return f"/bookings#booking-{booking.id}"


def notify_booking(
    session: Session,
    booking: Booking,
    kind: str,
    *,
    sides: tuple[str, ...],
    dedupe_suffix: str = "",
    also_districts: Sequence[int] = (),
) -> int:
    """One inbox entry per concerned user (the expert's account, the district's coordinators,
    staff, and the coordinators of `also_districts`) for a booking event; the coordinator who asked for a session is not told they did."""
    expert = session.get(Expert, booking.expert_id)
    district = session.get(District, booking.district_id) if booking.district_id else None
    who = "，".join(
        part for part in (expert.name if expert else "", district.name if district else "") if part
    )
    users = recipients(
        session=session,
        expert_id=booking.expert_id if "expert" in sides else None,
        district_id=booking.district_id if "district" in sides else None,
        # The centers acting for the district: its city's staff and the province's.
        staff_of_district=booking.district_id if "staff" in sides else None,
    )
    for district_id in also_districts:  # districts registered for a training
        users += recipients(session=session, district_id=district_id)
    if kind == "request":
        users = [u for u in users if u != booking.created_by_user_id]
    # The title names the time, so each zone among the recipients gets its own wording.
    by_zone: dict[str, list[int]] = defaultdict(list)
    for user_id, timezone in zones_of(session, users):
        by_zone[timezone].append(user_id)
    added = 0
    for timezone, user_ids in sorted(by_zone.items()):
        named = timezone != DEFAULT_ZONE
        proposed = booking.proposed_start_at
        title = messages.NOTIFY_BOOKING[kind].format(
            title=booking.title,
            who=who,
            start=in_zone(booking.start_at, timezone, "%m-%d %H:%M", named=named),
            proposed=in_zone(proposed, timezone, "%m-%d %H:%M", named=named) if proposed else "",
        )
        added += notify(
            session=session,
            user_ids=user_ids,
            kind=KINDS[kind],
            title=title,
            link=booking_link(booking),
            dedupe_key=f"booking:{kind}:{booking.id}:{booking.sequence}{dedupe_suffix}",
        )
    return added


def zones_of(session: Session, user_ids: Sequence[int]) -> list[tuple[int, str]]:
    """(user id, time zone) of each of `user_ids`."""
    if not user_ids:
        return []
    rows = session.exec(select(User.id, User.timezone).where(col(User.id).in_(user_ids))).all()
    return [(i, z or DEFAULT_ZONE) for i, z in rows if i is not None]
