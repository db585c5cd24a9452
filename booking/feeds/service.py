"""Calendar export services: a session's invitation and the subscription feeds."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlmodel import Session, col, select

from booking import ical
from booking.access import require_feed_owner
from booking.feeds.models import CalendarFeedToken
from booking.sessions.models import Booking, BookingKind, BookingStatus
from booking.trainings.models import TrainingRegistration
from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Owner
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
FEED_CANCELLED_DAYS = 30
GONE_STATUSES = (BookingStatus.cancelled.value, BookingStatus.declined.value)


def email_of(user: User) -> str | None:
    return user.email or None


def active_users(session: Session, *, role: str | tuple[str, ...], **where: object) -> list[User]:
    roles = (role,) if isinstance(role, str) else role
    query = select(User).where(col(User.role).in_(roles), User.is_active == True)  # noqa: E712
    for name, value in where.items():
        query = query.where(getattr(User, name) == value)
    return list(session.exec(query.order_by(col(User.id))).all())


def session_info(
    booking: Booking, district_name: str, organizer: ical.Party | None = None
) -> ical.SessionInfo:
    location = messages.FORMAT_LABELS.get(booking.format, booking.format)
    if booking.format == "onsite":
        location = f"{location}（{district_name}）"
    title = f"{messages.BOOKING_KIND_LABELS.get(booking.kind, booking.kind)}：{booking.title}"
    if booking.status in messages.FEED_TITLE_SUFFIX:
        title += messages.FEED_TITLE_SUFFIX[booking.status]
    return ical.SessionInfo(
        uid=booking.uid,
        sequence=booking.sequence,
        title=title,
        description=booking.description,
        start=booking.start_at,
        end=booking.end_at,
        status=booking.status,
        location=location,
        updated_at=booking.updated_at,
        organizer=organizer,
    )


def organizer_of(session: Session, booking: Booking, fallback: str | None = None) -> ical.Party:
    """The session's organizer: the expert, at their own address or else at `fallback` (the
    hub's sender address), so that ORGANIZER is always a real mailbox when one is known."""
    expert = session.get(Expert, booking.expert_id)
    expert_users = active_users(session, role=Role.expert.value, expert_id=booking.expert_id)
    email = next((e for e in map(email_of, expert_users) if e), None) or fallback
    return ical.Party(
        expert.name if expert else booking.expert_id, email, key=f"expert:{booking.expert_id}"
    )


def registrant_districts(session: Session, booking: Booking) -> list[int]:
    """Districts registered for a training (other than the one that booked it)."""
    if booking.kind != BookingKind.training:
        return []
    ids = session.exec(
        select(TrainingRegistration.district_id).where(
            TrainingRegistration.booking_id == booking.id
        )
    ).all()
    return sorted({i for i in ids if i != booking.district_id})


def booking_ics(
    *,
    session: Session,
    booking: Booking,
    publish: bool = False,
    organizer_fallback: str | None = None,
    proposal: bool = False,
) -> bytes:
    """The session's invitation: REQUEST while live, CANCEL once cancelled or declined (or a
    PUBLISH copy for the organizer). Trainings invite every registered district too.

    With `proposal`, the REQUEST a district receives when the expert proposes a new time: the
    same UID at the proposed DTSTART/DTEND with the booking's (already bumped) SEQUENCE,
    STATUS:TENTATIVE, the district's PARTSTAT NEEDS-ACTION, and a summary naming it a proposal."""
    district = session.get(District, booking.district_id)
    district_name = district.name if district else str(booking.district_id)
    organizer = organizer_of(session, booking, organizer_fallback)
    attendees = [
        ical.Party(u.display_name or u.username, email_of(u), key=f"user:{u.id}")
        for district_id in [booking.district_id, *registrant_districts(session, booking)]
        for u in active_users(session, role=Role.district.value, district_id=district_id)
        if email_of(u)
    ] or [ical.Party(district_name, None, key=f"district:{booking.district_id}")]
    cancelled = booking.status in (BookingStatus.cancelled, BookingStatus.declined)
    info = session_info(booking, district_name)
    if proposal and booking.proposed_start_at and booking.proposed_end_at:
        info = replace(
            info,
            start=booking.proposed_start_at,
            end=booking.proposed_end_at,
            status=BookingStatus.requested.value,
            title=messages.PROPOSAL_SUMMARY.format(title=info.title),
        )
    return ical.session_ics(
        info,
        organizer=organizer,
        attendees=attendees,
        cancelled=cancelled,
        publish=publish,
    )


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_feed_owner(session: Session, user: User, owner_type: str, owner_id: str) -> None:
    if owner_type == "expert":
        get_expert(session=session, expert_id=owner_id)
        require_feed_owner(session, user, Owner(expert_id=owner_id))
    elif owner_type == "district":
        if not owner_id.isdigit() or session.get(District, int(owner_id)) is None:
            raise NotFound(messages.DISTRICT_NOT_FOUND.format(name=owner_id))
        require_feed_owner(session, user, Owner(district_id=int(owner_id)))
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


def feed_for_token(
    *,
    session: Session,
    token: str,
    now: datetime | None = None,
    organizer_fallback: str | None = None,
) -> bytes:
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
        # Cancelled and declined sessions stay (as CANCELLED) long enough for every subscribed
        # calendar to remove them, then leave the feed.
        or_(
            col(Booking.status).not_in(GONE_STATUSES),
            Booking.updated_at >= now - timedelta(days=FEED_CANCELLED_DAYS),
        ),
    )
    if row.owner_type == "expert":
        query = query.where(Booking.expert_id == row.owner_id)
        expert = session.get(Expert, row.owner_id)
        name = f"HEART · {expert.name if expert else row.owner_id}"
    else:
        district_id = int(row.owner_id)
        registered = select(TrainingRegistration.booking_id).where(
            TrainingRegistration.district_id == district_id
        )
        query = query.where(
            or_(Booking.district_id == district_id, col(Booking.id).in_(registered))
        )
        district = session.get(District, district_id)
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
    return ical.feed_ics(
        name,
        [
            session_info(
                b, names.get(b.district_id, ""), organizer_of(session, b, organizer_fallback)
            )
            for b in bookings
        ],
    )
