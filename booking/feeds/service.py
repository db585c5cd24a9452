"""Calendar export services: a session's invitation and the subscription feeds."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from booking import ical
from booking.access import require_district_owner, require_expert_editor
from booking.feeds.models import CalendarFeedToken
from booking.sessions.models import Booking, BookingStatus
from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.service import actor_for
from marketplace.audit.service import record
from marketplace.clock import utcnow
from marketplace.districts.models import District
from marketplace.errors import InvalidInput, NotFound
from marketplace.experts.models import Expert
from marketplace.experts.service import get_expert
from marketplace.vocabulary import Role

FEED_PAST_DAYS = 90
FEED_MAX_SESSIONS = 2000


def email_of(user: User) -> str | None:
    return user.email or None


def active_users(session: Session, *, role: str | tuple[str, ...], **where: object) -> list[User]:
    roles = (role,) if isinstance(role, str) else role
    query = select(User).where(col(User.role).in_(roles), User.is_active == True)  # noqa: E712
    for name, value in where.items():
        query = query.where(getattr(User, name) == value)
    return list(session.exec(query.order_by(col(User.id))).all())


def session_info(booking: Booking, district_name: str) -> ical.SessionInfo:
    location = messages.FORMAT_LABELS.get(booking.format, booking.format)
    if booking.format == "onsite":
        location = f"{location}（{district_name}）"
    return ical.SessionInfo(
        uid=booking.uid,
        sequence=booking.sequence,
        title=f"{messages.BOOKING_KIND_LABELS.get(booking.kind, booking.kind)}：{booking.title}",
        description=booking.description,
        start=booking.start_at,
        end=booking.end_at,
        status=booking.status,
        location=location,
        updated_at=booking.updated_at,
    )


def booking_ics(*, session: Session, booking: Booking) -> bytes:
    """The session's invitation: REQUEST while live, CANCEL once cancelled or declined."""
    expert = session.get(Expert, booking.expert_id)
    district = session.get(District, booking.district_id)
    district_name = district.name if district else str(booking.district_id)
    expert_users = active_users(session, role=Role.expert.value, expert_id=booking.expert_id)
    organizer_email = next((e for e in map(email_of, expert_users) if e), None)
    organizer = ical.Party(
        expert.name if expert else booking.expert_id,
        organizer_email,
        key=f"expert:{booking.expert_id}",
    )
    attendees = [
        ical.Party(u.display_name or u.username, email_of(u), key=f"user:{u.id}")
        for u in active_users(session, role=Role.district.value, district_id=booking.district_id)
        if email_of(u)
    ] or [ical.Party(district_name, None, key=f"district:{booking.district_id}")]
    cancelled = booking.status in (BookingStatus.cancelled, BookingStatus.declined)
    return ical.session_ics(
        session_info(booking, district_name),
        organizer=organizer,
        attendees=attendees,
        cancelled=cancelled,
    )


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_feed_owner(session: Session, user: User, owner_type: str, owner_id: str) -> None:
    if owner_type == "expert":
        get_expert(session=session, expert_id=owner_id)
        require_expert_editor(user, owner_id)
    elif owner_type == "district":
        if not owner_id.isdigit() or session.get(District, int(owner_id)) is None:
            raise NotFound(messages.DISTRICT_NOT_FOUND.format(name=owner_id))
        require_district_owner(user, int(owner_id))
    else:
        raise InvalidInput(messages.VALIDATION_FAILED)


def revoke_feed_tokens(*, session: Session, owner_type: str, owner_id: str, user: User) -> int:
    """Revoke every live subscription URL of an expert or a district."""
    _check_feed_owner(session, user, owner_type, owner_id)
    rows = session.exec(
        select(CalendarFeedToken).where(
            CalendarFeedToken.owner_type == owner_type,
            CalendarFeedToken.owner_id == owner_id,
            col(CalendarFeedToken.revoked_at).is_(None),
        )
    ).all()
    now = utcnow()
    for row in rows:
        row.revoked_at = now
        session.add(row)
    session.flush()
    if rows:
        record(
            session=session,
            actor=actor_for(user),
            action="feed.revoke",
            entity_type=owner_type,
            entity_id=owner_id,
            after={"revoked": len(rows)},
        )
    return len(rows)


def issue_feed_token(*, session: Session, owner_type: str, owner_id: str, user: User) -> str:
    """A new secret subscription token (older ones are revoked); only its hash is stored."""
    revoke_feed_tokens(session=session, owner_type=owner_type, owner_id=owner_id, user=user)
    token = secrets.token_urlsafe(32)
    session.add(
        CalendarFeedToken(owner_type=owner_type, owner_id=owner_id, token_hash=_hash_token(token))
    )
    session.flush()
    record(
        session=session,
        actor=actor_for(user),
        action="feed.issue",
        entity_type=owner_type,
        entity_id=owner_id,
        after={"issued": True},
    )
    return token


def feed_for_token(*, session: Session, token: str, now: datetime | None = None) -> bytes:
    """The subscription calendar a live token opens; NotFound for unknown or revoked tokens."""
    row = session.exec(
        select(CalendarFeedToken).where(
            CalendarFeedToken.token_hash == _hash_token(token),
            col(CalendarFeedToken.revoked_at).is_(None),
        )
    ).first()
    if row is None:
        raise NotFound(messages.FEED_NOT_FOUND)
    now = now or utcnow()
    query = select(Booking).where(
        Booking.start_at >= now - timedelta(days=FEED_PAST_DAYS),
        Booking.start_at < now + timedelta(days=366),
    )
    if row.owner_type == "expert":
        query = query.where(Booking.expert_id == row.owner_id)
        expert = session.get(Expert, row.owner_id)
        name = f"HEART · {expert.name if expert else row.owner_id}"
    else:
        query = query.where(Booking.district_id == int(row.owner_id))
        district = session.get(District, int(row.owner_id))
        name = f"HEART · {district.name if district else row.owner_id}"
    bookings = session.exec(query.order_by(col(Booking.start_at)).limit(FEED_MAX_SESSIONS)).all()
    names = (
        {
            d.id: d.name
            for d in session.exec(
                select(District).where(col(District.id).in_({b.district_id for b in bookings}))
            ).all()
        }
        if bookings
        else {}
    )
    return ical.feed_ics(name, [session_info(b, names.get(b.district_id, "")) for b in bookings])
