"""Session services: request, confirm, decline, cancel, reschedule, complete, rate. They flush, never commit."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from booking import access, ical
from booking.feeds.service import booking_ics
from booking.notifications.service import notify
from booking.schedule.service import check_slot, lock_expert
from booking.sessions.history import audit_booking, snapshot
from booking.sessions.models import (
    CHARGED_KINDS,
    LIVE_STATUSES,
    Booking,
    BookingCreate,
    BookingKind,
    BookingPublic,
    BookingRating,
    BookingStatus,
    RatingCreate,
)
from booking.trainings.models import TrainingRegistration
from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, covers, reach
from marketplace.accounts.service import actor_for
from marketplace.audit.service import record
from marketplace.clock import LOCAL_TZ, in_zone, utcnow
from marketplace.districts.models import District
from marketplace.errors import Conflict, Forbidden, InvalidInput, NotFound
from marketplace.requests.models import DistrictRequest, RequestStatus
from marketplace.requests.service import follow_on_status
from marketplace.vocabulary import ExpertStatus, Format, Role

OVERLAP_CONSTRAINT = "booking_session_no_overlap"
BOOKABLE_REQUEST_STATUSES = (
    RequestStatus.submitted.value,
    RequestStatus.matched.value,
    RequestStatus.scheduled.value,
)


def _flush_guarded(session: Session, booking: Booking) -> None:
    """Write the booking; an overlap refused by the database becomes a 409."""
    try:
        with session.begin_nested():
            session.add(booking)
            session.flush()
    except IntegrityError as exc:
        text = str(exc.orig)
        if OVERLAP_CONSTRAINT in text or "booking_overlap" in text:
            raise Conflict(messages.SLOT_TAKEN) from None
        raise


def create_booking(
    *,
    session: Session,
    data: BookingCreate,
    user: User,
    now: datetime | None = None,
    uid_domain: str = ical.UID_DOMAIN,
) -> Booking:
    """Request a session: a district books for itself, staff for any district; 409 when taken."""
    now = now or utcnow()
    if user.role == Role.district:
        if data.district_id is not None and data.district_id != user.district_id:
            raise Forbidden(messages.BOOKING_OWN_DISTRICT_ONLY)
        district_id = user.district_id
    else:
        district_id = data.district_id
    if district_id is None:
        raise InvalidInput(messages.BOOKING_NEEDS_DISTRICT)
    if not covers(session, user, Action.booking_create, district_id=district_id):
        raise Forbidden(messages.FORBIDDEN)
    return _book(session, data, district_id=district_id, user=user, now=now, uid_domain=uid_domain)


def book_offered_time(
    *,
    session: Session,
    data: BookingCreate,
    district_id: int,
    requested_by_user_id: int | None,
    user: User,
    now: datetime | None = None,
    uid_domain: str = ical.UID_DOMAIN,
) -> Booking:
    """The expert side books a time it offered for a district's request for a time: the district
    asked for this window, so the session is confirmed at once (the district may still cancel)."""
    return _book(
        session,
        data,
        district_id=district_id,
        user=user,
        now=now or utcnow(),
        created_by_user_id=requested_by_user_id,
        status=BookingStatus.confirmed,
        uid_domain=uid_domain,
    )


def _book(
    session: Session,
    data: BookingCreate,
    *,
    district_id: int,
    user: User,
    now: datetime,
    created_by_user_id: int | None = None,
    status: BookingStatus = BookingStatus.requested,
    uid_domain: str = ical.UID_DOMAIN,
) -> Booking:
    """Check the expert, the slot and the linked request, then write, audit and notify."""
    if session.get(District, district_id) is None:
        raise NotFound(messages.DISTRICT_NOT_FOUND.format(name=district_id))
    expert = lock_expert(session, data.expert_id)
    if expert.status != ExpertStatus.active:
        raise InvalidInput(messages.EXPERT_NOT_BOOKABLE)
    if data.kind.value not in expert.service_types:
        raise InvalidInput(
            messages.EXPERT_NO_SERVICE.format(kind=messages.BOOKING_KIND_LABELS[data.kind])
        )
    if data.format.value not in expert.formats:
        raise InvalidInput(
            messages.EXPERT_NO_FORMAT.format(format=messages.FORMAT_LABELS[data.format])
        )
    check_slot(session, expert, data.start, data.end, now=now, kind=data.kind)
    if data.request_id is not None:
        check_request(session, data.request_id, district_id)
    booking = Booking(
        uid=ical.session_uid(uuid.uuid4().hex, uid_domain),
        expert_id=expert.id,
        district_id=district_id,
        request_id=data.request_id,
        kind=data.kind.value,
        format=data.format.value,
        title=data.title,
        description=data.description,
        start_at=data.start,
        end_at=data.end,
        capacity=data.capacity,
        status=status.value,
        created_by_user_id=created_by_user_id or user.id,
        created_at=now,
        updated_at=now,
    )
    _flush_guarded(session, booking)
    record(
        session=session,
        actor=actor_for(user),
        action="booking.create",
        entity_type="booking",
        entity_id=str(booking.id),
        after=snapshot(booking),
    )
    if status == BookingStatus.confirmed:
        notify(session, booking, "confirmation")
    else:
        notify(session, booking, "request", sides=("expert", "district"))
    if booking.request_id is not None:
        _schedule_request(session, booking.request_id, user)
    return booking


def check_request(session: Session, request_id: int, district_id: int) -> None:
    """A booking may name only an open request of the district it is booked for."""
    request = session.get(DistrictRequest, request_id)
    if request is None or request.district_id != district_id:
        raise InvalidInput(messages.BOOKING_REQUEST_UNKNOWN)
    if request.status not in BOOKABLE_REQUEST_STATUSES:
        raise InvalidInput(
            messages.BOOKING_REQUEST_CLOSED.format(
                status=messages.REQUEST_STATUS_LABELS.get(request.status, request.status)
            )
        )


def _schedule_request(session: Session, request_id: int, user: User) -> None:
    """The request is 已排期 once as many experts as it asked for have a live session for it."""
    request = session.get(DistrictRequest, request_id)
    if request is None or request.status == RequestStatus.scheduled.value:
        return
    booked = session.exec(
        select(func.count(func.distinct(Booking.expert_id))).where(
            Booking.request_id == request_id, col(Booking.status).in_(LIVE_STATUSES)
        )
    ).one()
    if booked >= request.experts_needed:
        follow_on_status(
            session=session, request_id=request_id, status=RequestStatus.scheduled, user=user
        )


def bookings_for_request(*, session: Session, request_id: int) -> list[Booking]:
    """The sessions booked for a request, soonest first."""
    return list(
        session.exec(
            select(Booking)
            .where(Booking.request_id == request_id)
            .order_by(col(Booking.start_at), col(Booking.id))
        ).all()
    )


def get_booking(*, session: Session, booking_id: int, user: User) -> Booking:
    """A booking the user may see (a party to it, a center reaching its district, or any
    district for a training); 404 otherwise."""
    booking = session.get(Booking, booking_id)
    if booking is None or not access.can_see(session, user, booking):
        raise NotFound(messages.BOOKING_NOT_FOUND.format(id=booking_id))
    return booking


_Row = TypeVar("_Row")


def _readable(
    query: SelectOfScalar[_Row], session: Session, user: User, *, district_id: Any, expert_id: Any
) -> SelectOfScalar[_Row]:
    """`query` narrowed to the sessions `user` may read (the policy's `booking.read`): a
    district its own, an expert theirs, a center its districts', province staff all. The two
    columns name the district and the expert of each row."""
    if user.role == Role.district:
        return query.where(district_id == user.district_id)
    if user.role == Role.expert:
        return query.where(expert_id == user.expert_id)
    districts = reach(session, user, Action.booking_read)
    return query if districts is None else query.where(col(district_id).in_(sorted(districts)))


def list_bookings(
    *,
    session: Session,
    user: User,
    status: BookingStatus | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 500,
    newest_first: bool = False,
) -> list[Booking]:
    """Bookings by role: a district's own, an expert's own, a city center's districts', every
    booking for province staff (see the policy's `booking.read`); soonest first, or with
    `newest_first` the latest first (so a limit keeps the recent past, not the oldest)."""
    query = _readable(
        select(Booking),
        session,
        user,
        district_id=col(Booking.district_id),
        expert_id=col(Booking.expert_id),
    )
    if status is not None:
        query = query.where(Booking.status == status.value)
    if start is not None:
        query = query.where(Booking.end_at > start)
    if end is not None:
        query = query.where(Booking.start_at < end)
    order = (
        (col(Booking.start_at).desc(), col(Booking.id).desc())
        if newest_first
        else (col(Booking.start_at), col(Booking.id))
    )
    return list(session.exec(query.order_by(*order).limit(limit)).all())


def lock_booking(session: Session, booking_id: int, user: User, action: Action | None) -> Booking:
    """The booking, locked, once the policy lets `user` do `action` on it (404 for one they
    may not see, 403 for one they see but may not change this way; None: seeing is enough)."""
    booking = session.exec(
        select(Booking).where(Booking.id == booking_id).with_for_update()
    ).first()
    if booking is None:
        raise NotFound(messages.BOOKING_NOT_FOUND.format(id=booking_id))
    if action is None:
        if not access.can_see(session, user, booking):
            raise NotFound(messages.BOOKING_NOT_FOUND.format(id=booking_id))
    else:
        access.require(session, user, action, booking)
    return booking


def _transition(
    session: Session, booking: Booking, *, allowed_from: tuple[str, ...], to: str
) -> dict:
    if booking.status not in allowed_from:
        raise Conflict(
            messages.BOOKING_BAD_TRANSITION.format(
                status=messages.BOOKING_STATUS_LABELS.get(booking.status, booking.status)
            )
        )
    before = snapshot(booking)
    booking.status = to
    booking.sequence += 1
    booking.updated_at = utcnow()
    session.add(booking)
    return before


def confirm_booking(*, session: Session, booking_id: int, user: User) -> Booking:
    """The expert (or staff) accepts a requested session."""
    booking = lock_booking(session, booking_id, user, Action.booking_respond)
    before = _transition(
        session, booking, allowed_from=(BookingStatus.requested,), to=BookingStatus.confirmed
    )
    session.flush()
    audit_booking(session, user, "booking.confirm", booking, before)
    notify(session, booking, "confirmation")
    return booking


def decline_booking(*, session: Session, booking_id: int, reason: str, user: User) -> Booking:
    """The expert (or staff) declines a requested session, with a reason."""
    booking = lock_booking(session, booking_id, user, Action.booking_respond)
    before = _transition(
        session, booking, allowed_from=(BookingStatus.requested,), to=BookingStatus.declined
    )
    booking.decline_reason = reason
    session.flush()
    audit_booking(session, user, "booking.decline", booking, before)
    notify(session, booking, "declined", extra=f"原因：{reason}")
    return booking


def cancel_booking(*, session: Session, booking_id: int, reason: str, user: User) -> Booking:
    """Either party (or staff) cancels a live session, with a reason; the slot is freed."""
    booking = lock_booking(session, booking_id, user, Action.booking_change)
    before = _transition(session, booking, allowed_from=LIVE_STATUSES, to=BookingStatus.cancelled)
    booking.cancel_reason = reason
    booking.cancelled_by = f"{user.role}:{user.username}"[:64]
    session.flush()
    audit_booking(session, user, "booking.cancel", booking, before)
    notify(session, booking, "cancellation", extra=f"原因：{reason}")
    return booking


def reschedule_booking(
    *,
    session: Session,
    booking_id: int,
    start: datetime,
    end: datetime,
    user: User,
    now: datetime | None = None,
) -> Booking:
    """Move a live session (same id and UID, new SEQUENCE); a district's move needs reconfirming.

    The expert cannot move a session on the district's behalf: their new time is a proposal
    (see `propose_new_time`) and the current time stays held until the district answers."""
    if user.role == Role.expert:
        return propose_new_time(
            session=session, booking_id=booking_id, start=start, end=end, user=user, now=now
        )
    now = now or utcnow()
    booking = _lock_live(session, booking_id, user)
    expert = lock_expert(session, booking.expert_id)
    check_slot(session, expert, start, end, now=now, kind=booking.kind, exclude_id=booking.id)
    before = snapshot(booking)
    booking.start_at, booking.end_at = start, end
    booking.proposed_start_at = booking.proposed_end_at = None
    booking.sequence += 1
    booking.updated_at = now
    if user.role == Role.district:
        booking.status = BookingStatus.requested.value
    _flush_guarded(session, booking)
    audit_booking(session, user, "booking.reschedule", booking, before)
    notify(session, booking, "change")
    return booking


def _lock_live(
    session: Session, booking_id: int, user: User, action: Action = Action.booking_change
) -> Booking:
    booking = lock_booking(session, booking_id, user, action)
    if booking.status not in LIVE_STATUSES:
        raise Conflict(
            messages.BOOKING_BAD_TRANSITION.format(
                status=messages.BOOKING_STATUS_LABELS.get(booking.status, booking.status)
            )
        )
    return booking


def _when(start: datetime, end: datetime) -> Callable[[str], str]:
    """A time range as each recipient reads it: in their zone, the zone named."""
    return lambda zone: f"{in_zone(start, zone)} — {in_zone(end, zone, '%H:%M', named=True)}"


def propose_new_time(
    *,
    session: Session,
    booking_id: int,
    start: datetime,
    end: datetime,
    user: User,
    now: datetime | None = None,
) -> Booking:
    """The expert side proposes a new time; the district accepts or declines it.

    The district's mail carries a REQUEST for the proposed time (next SEQUENCE, TENTATIVE, their
    PARTSTAT NEEDS-ACTION), so their calendar shows the proposal until they answer."""
    now = now or utcnow()
    booking = _lock_live(session, booking_id, user, Action.booking_respond)
    expert = lock_expert(session, booking.expert_id)
    check_slot(session, expert, start, end, now=now, kind=booking.kind, exclude_id=booking.id)
    before = snapshot(booking)
    booking.proposed_start_at, booking.proposed_end_at = start, end
    booking.sequence += 1
    booking.updated_at = now
    session.add(booking)
    session.flush()
    audit_booking(session, user, "booking.propose", booking, before)
    notify(
        session,
        booking,
        "proposal",
        extra=lambda zone: messages.PROPOSAL_MAIL.format(when=_when(start, end)(zone)),
        sides=("district",),
        dedupe_suffix=f":{start.isoformat()}",
        ics=booking_ics(session=session, booking=booking, proposal=True),
    )
    return booking


def _lock_proposal(session: Session, booking_id: int, user: User) -> Booking:
    # The district side answers the expert's proposal (Action.booking_create: book for it).
    booking = _lock_live(session, booking_id, user, Action.booking_create)
    if booking.proposed_start_at is None or booking.proposed_end_at is None:
        raise Conflict(messages.PROPOSAL_NONE)
    return booking


def accept_proposal(
    *, session: Session, booking_id: int, user: User, now: datetime | None = None
) -> Booking:
    """The district takes the expert's proposed time: the session moves there, confirmed."""
    now = now or utcnow()
    booking = _lock_proposal(session, booking_id, user)
    start, end = booking.proposed_start_at, booking.proposed_end_at
    assert start is not None and end is not None  # checked by _lock_proposal
    expert = lock_expert(session, booking.expert_id)
    check_slot(session, expert, start, end, now=now, kind=booking.kind, exclude_id=booking.id)
    before = snapshot(booking)
    booking.start_at, booking.end_at = start, end
    booking.proposed_start_at = booking.proposed_end_at = None
    booking.status = BookingStatus.confirmed.value
    booking.sequence += 1
    booking.updated_at = now
    _flush_guarded(session, booking)
    audit_booking(session, user, "booking.proposal_accept", booking, before)
    notify(session, booking, "change")
    return booking


def decline_proposal(
    *, session: Session, booking_id: int, user: User, now: datetime | None = None
) -> Booking:
    """The district keeps the current time: the expert is told, and the district's calendar gets
    the session back at that time (a REQUEST with the next SEQUENCE replaces the proposal)."""
    booking = _lock_proposal(session, booking_id, user)
    before = snapshot(booking)
    declined_start, declined_end = booking.proposed_start_at, booking.proposed_end_at
    assert declined_start is not None and declined_end is not None  # checked by _lock_proposal
    booking.proposed_start_at = booking.proposed_end_at = None
    booking.sequence += 1
    booking.updated_at = now or utcnow()
    session.add(booking)
    session.flush()
    audit_booking(session, user, "booking.proposal_decline", booking, before)
    declined = _when(declined_start, declined_end)
    notify(
        session,
        booking,
        "move_declined",
        extra=lambda zone: messages.PROPOSAL_DECLINED_MAIL.format(when=declined(zone)),
        sides=("expert", "district"),
        dedupe_suffix=f":{declined_start.isoformat()}",
    )
    return booking


def _require_started(booking: Booking, now: datetime) -> None:
    if now < booking.start_at:
        raise InvalidInput(messages.BOOKING_NOT_STARTED)


def complete_booking(
    *, session: Session, booking_id: int, user: User, now: datetime | None = None
) -> Booking:
    """Mark a confirmed session as held; supervision and training draw on the district's package."""
    booking = lock_booking(session, booking_id, user, Action.booking_respond)
    _require_started(booking, now or utcnow())
    before = _transition(
        session, booking, allowed_from=(BookingStatus.confirmed,), to=BookingStatus.completed
    )
    if booking.kind in CHARGED_KINDS:
        booking.charged = _charge_district_package(session=session, booking=booking, user=user)
    session.flush()
    audit_booking(session, user, "booking.complete", booking, before)
    return booking


def mark_no_show(
    *, session: Session, booking_id: int, user: User, now: datetime | None = None
) -> Booking:
    """Record that the district side did not attend a confirmed session."""
    booking = lock_booking(session, booking_id, user, Action.booking_respond)
    _require_started(booking, now or utcnow())
    before = _transition(
        session, booking, allowed_from=(BookingStatus.confirmed,), to=BookingStatus.no_show
    )
    session.flush()
    audit_booking(session, user, "booking.no_show", booking, before)
    return booking


def _charge_district_package(*, session: Session, booking: Booking, user: User) -> bool:
    """The single call site into procured-service allocation: charge the session's hours, as
    `user` (who marked the session held)."""
    from marketplace.allocation.service import consume_supervision_hours  # lazy: sibling domain

    hours = (booking.end_at - booking.start_at).total_seconds() / 3600
    return consume_supervision_hours(
        session=session,
        district_id=booking.district_id,
        hours=hours,
        reference=f"booking:{booking.id}:{booking.uid}",
        user=user,
    )


def seats_taken(*, session: Session, booking_id: int) -> int:
    total = session.exec(
        select(func.coalesce(func.sum(TrainingRegistration.participants), 0)).where(
            TrainingRegistration.booking_id == booking_id
        )
    ).one()
    return int(total)


def list_ratings(
    *, session: Session, user: User, booking_ids: list[int] | None = None, limit: int = 200
) -> list[BookingRating]:
    """Ratings by role: of an expert's sessions, of a district's own, every rating for staff."""
    query = _readable(
        select(BookingRating).join(Booking, col(Booking.id) == BookingRating.booking_id),
        session,
        user,
        district_id=col(BookingRating.district_id),
        expert_id=col(Booking.expert_id),
    )
    if booking_ids is not None:
        query = query.where(col(BookingRating.booking_id).in_(booking_ids or [0]))
    return list(session.exec(query.order_by(col(BookingRating.id).desc()).limit(limit)).all())


def rate_booking(
    *, session: Session, booking_id: int, data: RatingCreate, user: User
) -> BookingRating:
    """The booking district rates a completed session once."""
    booking = session.get(Booking, booking_id)
    if booking is None or not access.can_see(session, user, booking):
        raise NotFound(messages.BOOKING_NOT_FOUND.format(id=booking_id))
    if not access.may(session, user, Action.booking_rate, booking):
        raise Forbidden(messages.FORBIDDEN)
    if booking.status != BookingStatus.completed:
        raise InvalidInput(messages.RATING_NEEDS_COMPLETED)
    if session.exec(select(BookingRating).where(BookingRating.booking_id == booking_id)).first():
        raise Conflict(messages.RATING_EXISTS)
    rating = BookingRating(
        booking_id=booking_id,
        district_id=booking.district_id,
        score=data.score,
        feedback=data.feedback,
    )
    try:
        with session.begin_nested():
            session.add(rating)
            session.flush()
    except IntegrityError:
        raise Conflict(messages.RATING_EXISTS) from None
    record(
        session=session,
        actor=actor_for(user),
        action="booking.rate",
        entity_type="booking",
        entity_id=str(booking_id),
        after={"score": data.score, "feedback": data.feedback},
    )
    return rating


def public_view(*, session: Session, booking: Booking) -> BookingPublic:
    """The API shape, with times in Asia/Shanghai."""
    return BookingPublic(
        id=booking.id or 0,
        uid=booking.uid,
        sequence=booking.sequence,
        expert_id=booking.expert_id,
        district_id=booking.district_id,
        request_id=booking.request_id,
        kind=BookingKind(booking.kind),
        format=Format(booking.format),
        title=booking.title,
        description=booking.description,
        status=BookingStatus(booking.status),
        start=booking.start_at.astimezone(LOCAL_TZ),
        end=booking.end_at.astimezone(LOCAL_TZ),
        capacity=booking.capacity,
        seats_taken=seats_taken(session=session, booking_id=booking.id or 0)
        if booking.kind == BookingKind.training
        else None,
        decline_reason=booking.decline_reason,
        cancel_reason=booking.cancel_reason,
        cancelled_by=booking.cancelled_by,
        escalated_at=booking.escalated_at,
        created_at=booking.created_at,
        updated_at=booking.updated_at,
        proposed_start=booking.proposed_start_at.astimezone(LOCAL_TZ)
        if booking.proposed_start_at
        else None,
        proposed_end=booking.proposed_end_at.astimezone(LOCAL_TZ)
        if booking.proposed_end_at
        else None,
    )
