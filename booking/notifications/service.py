"""Booking e-mails: what each change sends to whom, reminders and crisis escalation."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from booking.feeds.service import active_users, booking_ics, email_of, registrant_districts
from booking.notifications import inbox, outbox
from booking.sessions.history import audit_booking, snapshot
from booking.sessions.models import Booking, BookingKind, BookingStatus
from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, require
from marketplace.clock import DEFAULT_ZONE, in_zone, utcnow, zone_label
from marketplace.notifications.service import recipients
from marketplace.vocabulary import Role

CRISIS_ESCALATION_MINUTES = 30


# A mail's extra line: fixed text, or text that names a time and so is written per recipient zone.
Extra = str | Callable[[str], str]


def _mail_body(booking: Booking, extra: Extra = "", timezone: str = DEFAULT_ZONE) -> str:
    return messages.MAIL_BODY.format(
        kind=messages.BOOKING_KIND_LABELS.get(booking.kind, booking.kind),
        title=booking.title,
        start=in_zone(booking.start_at, timezone),
        end=in_zone(booking.end_at, timezone, "%H:%M"),
        zone=zone_label(timezone),
        format=messages.FORMAT_LABELS.get(booking.format, booking.format),
        status=messages.BOOKING_STATUS_LABELS.get(booking.status, booking.status),
        extra=extra(timezone) if callable(extra) else extra,
    )


def notify(
    session: Session,
    booking: Booking,
    kind: str,
    *,
    extra: Extra = "",
    sides: tuple[str, ...] = ("expert", "district"),
    dedupe_suffix: str = "",
    ics: bytes | None = None,
) -> int:
    """Queue the mail of one change, and its in-app notices. Attendees (the booking district
    and, for a training, every registered district) get the invitation (REQUEST or CANCEL, or
    `ics` when the change carries its own, such as a proposed new time); the organizer side
    (the expert) and staff get a notice with a PUBLISH copy, never a request to answer their
    own event. Each recipient reads the times in their own time zone."""
    registrants = registrant_districts(session, booking) if "district" in sides else []
    inbox.notify_booking(
        session,
        booking,
        kind,
        sides=sides,
        dedupe_suffix=dedupe_suffix,
        also_districts=registrants,
    )
    organizers: list[User] = []
    attendees: list[User] = []
    if "expert" in sides:
        organizers += active_users(session, role=Role.expert.value, expert_id=booking.expert_id)
    if "staff" in sides:
        # The centers acting for the district: its city's staff and the province's.
        staff_ids = recipients(session=session, staff_of_district=booking.district_id)
        organizers += session.exec(select(User).where(col(User.id).in_(staff_ids or [0]))).all()
    if "district" in sides:
        for district_id in [booking.district_id, *registrants]:
            attendees += active_users(session, role=Role.district.value, district_id=district_id)
    invited = sorted({a for a in map(email_of, attendees) if a})
    told = sorted({a for a in map(email_of, organizers) if a} - set(invited))
    if not invited and not told:
        return 0
    # One address may belong to several accounts; the first account's zone is the one used.
    zones: dict[str, str] = {}
    for user in [*attendees, *organizers]:
        address = email_of(user)
        if address:
            zones.setdefault(address, user.timezone or DEFAULT_ZONE)
    cancelled = booking.status in (BookingStatus.cancelled, BookingStatus.declined)
    subject = messages.MAIL_SUBJECTS[kind].format(title=booking.title)
    queued = 0
    for addresses, publish in ((invited, False), (told, True)):
        if not addresses:
            continue
        calendar = booking_ics(session=session, booking=booking, publish=publish)
        if ics is not None and not publish:
            calendar = ics
        method = "PUBLISH" if publish else "CANCEL" if cancelled else "REQUEST"
        for address in addresses:
            queued += outbox.enqueue(
                session=session,
                kind=kind,
                recipient=address,
                subject=subject,
                body=_mail_body(booking, extra, zones.get(address, DEFAULT_ZONE)),
                dedupe_key=f"{kind}:{booking.id}:{booking.sequence}{dedupe_suffix}:{address}",
                booking_id=booking.id,
                ics=calendar,
                ics_method=method,
            )
    session.flush()
    return queued


def enqueue_reminders(*, session: Session, now: datetime | None = None) -> int:
    """Queue the day-before reminder of every confirmed session starting within 24 hours."""
    now = now or utcnow()
    upcoming = session.exec(
        select(Booking).where(
            Booking.status == BookingStatus.confirmed.value,
            Booking.start_at > now,
            Booking.start_at <= now + timedelta(hours=24),
        )
    ).all()
    return sum(
        notify(session, b, "reminder", dedupe_suffix=f":{b.start_at.isoformat()}") for b in upcoming
    )


def escalate_unanswered_crisis(
    *,
    session: Session,
    user: User,
    now: datetime | None = None,
    after_minutes: int = CRISIS_ESCALATION_MINUTES,
) -> list[Booking]:
    """Crisis requests no expert accepted within `after_minutes` are flagged and sent to staff,
    by `user` (the system principal of the scheduler or `heart booking tick`)."""
    require(user, Action.booking_escalate)
    now = now or utcnow()
    overdue = session.exec(
        select(Booking).where(
            Booking.kind == BookingKind.crisis_support.value,
            Booking.status == BookingStatus.requested.value,
            col(Booking.escalated_at).is_(None),
            Booking.created_at <= now - timedelta(minutes=after_minutes),
        )
    ).all()
    for booking in overdue:
        before = snapshot(booking)
        booking.escalated_at = now
        session.add(booking)
        session.flush()
        audit_booking(session, user, "booking.escalate", booking, before | {"escalated_at": None})
        notify(session, booking, "escalation", sides=("staff",))
    return list(overdue)
