"""Booking e-mails: what each change sends to whom, reminders and crisis escalation."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from booking.access import STAFF_ROLES
from booking.feeds.service import active_users, booking_ics, email_of
from booking.notifications import inbox, outbox
from booking.sessions.history import audit_booking, snapshot
from booking.sessions.models import Booking, BookingKind, BookingStatus
from marketplace import messages
from marketplace.accounts.models import User
from marketplace.audit.service import Actor
from marketplace.clock import LOCAL_TZ, utcnow
from marketplace.vocabulary import Role

CRISIS_ESCALATION_MINUTES = 30


def _mail_body(booking: Booking, extra: str = "") -> str:
    return messages.MAIL_BODY.format(
        kind=messages.BOOKING_KIND_LABELS.get(booking.kind, booking.kind),
        title=booking.title,
        start=booking.start_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"),
        end=booking.end_at.astimezone(LOCAL_TZ).strftime("%H:%M"),
        format=messages.FORMAT_LABELS.get(booking.format, booking.format),
        status=messages.BOOKING_STATUS_LABELS.get(booking.status, booking.status),
        extra=extra,
    )


def notify(
    session: Session,
    booking: Booking,
    kind: str,
    *,
    extra: str = "",
    sides: tuple[str, ...] = ("expert", "district"),
    dedupe_suffix: str = "",
) -> int:
    inbox.notify_booking(session, booking, kind, sides=sides, dedupe_suffix=dedupe_suffix)
    recipients: list[User] = []
    if "expert" in sides:
        recipients += active_users(session, role=Role.expert.value, expert_id=booking.expert_id)
    if "district" in sides:
        recipients += active_users(
            session, role=Role.district.value, district_id=booking.district_id
        )
    if "staff" in sides:
        recipients += active_users(session, role=STAFF_ROLES)
    addresses = sorted({a for a in map(email_of, recipients) if a})
    if not addresses:
        return 0
    ics = booking_ics(session=session, booking=booking)
    method = (
        "CANCEL"
        if booking.status in (BookingStatus.cancelled, BookingStatus.declined)
        else "REQUEST"
    )
    subject = messages.MAIL_SUBJECTS[kind].format(title=booking.title)
    queued = 0
    for address in addresses:
        key = f"{kind}:{booking.id}:{booking.sequence}{dedupe_suffix}:{address}"
        queued += outbox.enqueue(
            session=session,
            kind=kind,
            recipient=address,
            subject=subject,
            body=_mail_body(booking, extra),
            dedupe_key=key,
            booking_id=booking.id,
            ics=ics,
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
    *, session: Session, now: datetime | None = None, after_minutes: int = CRISIS_ESCALATION_MINUTES
) -> list[Booking]:
    """Crisis requests no expert accepted within `after_minutes` are flagged and sent to staff."""
    now = now or utcnow()
    overdue = session.exec(
        select(Booking).where(
            Booking.kind == BookingKind.crisis_support.value,
            Booking.status == BookingStatus.requested.value,
            col(Booking.escalated_at).is_(None),
            Booking.created_at <= now - timedelta(minutes=after_minutes),
        )
    ).all()
    system = Actor.system("booking.escalation")
    for booking in overdue:
        before = snapshot(booking)
        booking.escalated_at = now
        session.add(booking)
        session.flush()
        audit_booking(session, system, "booking.escalate", booking, before | {"escalated_at": None})
        notify(session, booking, "escalation", sides=("staff",))
    return list(overdue)
