"""Pages: what happens to a booked session afterwards: reschedule (same booking, new time),
the district's rating and feedback, and trainings that districts register schools for. The
one-click transitions (complete, no-show, a proposal's answer) are in booking_transitions.

Over booking.sessions (and booking.trainings): it checks the parties, the slot and every status transition.
"""

from __future__ import annotations

import secrets
from datetime import datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel import Session

from booking import access
from booking.schedule.service import list_slots
from booking.sessions.models import BookingKind, RatingCreate, Reschedule
from booking.sessions.service import (
    get_booking,
    list_ratings,
    public_view,
    rate_booking,
    reschedule_booking,
)
from booking.trainings.models import RegistrationCreate
from booking.trainings.service import list_open_trainings, list_registrations, register_for_training
from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action
from marketplace.clock import LOCAL_TZ, utcnow, zone
from marketplace.errors import Conflict, Forbidden, InvalidInput
from marketplace.experts.service import get_expert
from marketplace.validation import RecordId, parse_day, parse_moment
from marketplace.vocabulary import Role
from web.deps import SessionDep, performs
from web.pages import (
    DistrictPage,
    PageUser,
    field_errors,
    mark_sent,
    redirect_with_flash,
    sent_before,
)
from web.templating import render

router = APIRouter(include_in_schema=False)

FormText = Annotated[str, Form()]
SLOT_DAYS = 14
MAX_SLOT_CHOICES = 12


# --- reschedule ----------------------------------------------------------------------------


def _parse_local(day: str, clock: str, timezone: str) -> datetime | None:
    """A day and a clock time as the viewer typed them, in their own zone."""
    parsed = parse_day(day)
    try:
        return (
            datetime.combine(parsed, time.fromisoformat(clock), zone(timezone)) if parsed else None
        )
    except ValueError:
        return None


def _reschedule_page(
    request: Request,
    session: Session,
    user: User,
    booking_id: int,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    booking = get_booking(session=session, booking_id=booking_id, user=user)
    view = public_view(session=session, booking=booking)
    if not access.may(session, user, Action.booking_change, booking):
        raise Forbidden(messages.FORBIDDEN)  # a training's guest district may not move it
    minutes = int((booking.end_at - booking.start_at).total_seconds() // 60)
    today = utcnow().astimezone(LOCAL_TZ).date()
    try:
        slots = list_slots(
            session=session,
            expert_id=booking.expert_id,
            start_day=today,
            end_day=today + timedelta(days=SLOT_DAYS - 1),
            duration_minutes=minutes,
            kind=BookingKind(booking.kind),
        )[:MAX_SLOT_CHOICES]
    except InvalidInput:
        slots = []
    if form is None:
        start = view.start.astimezone(zone(user.timezone))
        form = {
            "day": start.date().isoformat(),
            "start_time": start.strftime("%H:%M"),
            "end_time": view.end.astimezone(zone(user.timezone)).strftime("%H:%M"),
        }
    return render(
        request,
        "bookings/reschedule.html",
        {
            "booking": view,
            "expert": get_expert(session=session, expert_id=booking.expert_id),
            "form": form,
            "errors": errors or {},
            "slots": slots,
            "nonce": form.get("form_nonce") or secrets.token_urlsafe(16),
            "needs_reconfirm": user.role == Role.district.value,
            "is_expert_proposal": user.role == Role.expert.value,
        },
        status_code=status_code,
    )


@router.get(
    "/bookings/{booking_id}/reschedule",
    summary="改期",
    dependencies=[performs(Action.booking_change)],
)
def reschedule_page(
    request: Request,
    booking_id: RecordId,
    session: SessionDep,
    user: PageUser,
    start: Annotated[str, Query(max_length=40)] = "",
    end: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    form = None
    if start and end:  # a free slot picked from the list
        s, e = parse_moment(start), parse_moment(end)
        if s is not None and e is not None:
            s, e = s.astimezone(zone(user.timezone)), e.astimezone(zone(user.timezone))
            form = {
                "day": s.date().isoformat(),
                "start_time": s.strftime("%H:%M"),
                "end_time": e.strftime("%H:%M"),
            }
    return _reschedule_page(request, session, user, booking_id, form)


@router.post(
    "/bookings/{booking_id}/reschedule",
    summary="提交改期",
    dependencies=[performs(Action.booking_change)],
)
def submit_reschedule(
    request: Request,
    booking_id: RecordId,
    session: SessionDep,
    user: PageUser,
    day: FormText = "",
    start_time: FormText = "",
    end_time: FormText = "",
    form_nonce: FormText = "",
) -> Response:
    get_booking(session=session, booking_id=booking_id, user=user)  # who may, before anything
    if sent_before(request, form_nonce):
        return redirect_with_flash("/bookings", "duplicate_submission")
    form = {
        "day": day[:10],
        "start_time": start_time[:5],
        "end_time": end_time[:5],
        "form_nonce": form_nonce[:64],
    }
    errors: dict[str, str] = {}
    start, end = (
        _parse_local(form["day"], form["start_time"], user.timezone),
        _parse_local(form["day"], form["end_time"], user.timezone),
    )
    if _parse_local(form["day"], "00:00", user.timezone) is None:
        errors["day"] = messages.DATE_INVALID
    else:
        if start is None:
            errors["start_time"] = messages.CLOCK_INVALID
        if end is None:
            errors["end_time"] = messages.CLOCK_INVALID
    if not errors:
        try:
            data = Reschedule(start=start, end=end)  # type: ignore[arg-type]
        except ValidationError as exc:
            errors["end_time"] = next(iter(field_errors(exc).values()), messages.TIME_RANGE_ORDER)
    if errors:
        errors["__all__"] = messages.FORM_HAS_ERRORS
        return _reschedule_page(request, session, user, booking_id, form, errors, 422)
    try:
        with session.begin_nested():
            booking = reschedule_booking(
                session=session, booking_id=booking_id, start=data.start, end=data.end, user=user
            )
    except (Conflict, InvalidInput) as exc:
        return _reschedule_page(
            request, session, user, booking_id, form, {"__all__": exc.message}, exc.status_code
        )
    mark_sent(request, form_nonce)
    if user.role == Role.expert.value:
        return redirect_with_flash("/bookings", "booking_proposal_sent")
    pending = booking.status == "requested" and user.role == Role.district.value
    return redirect_with_flash(
        "/bookings", "booking_rescheduled_pending" if pending else "booking_rescheduled"
    )


# --- after the session ---------------------------------------------------------------------


@router.post("/bookings/{booking_id}/rating", summary="评价")
def rate(
    request: Request,
    booking_id: RecordId,
    session: SessionDep,
    user: DistrictPage,
    score: FormText = "",
    feedback: FormText = "",
    form_nonce: FormText = "",
) -> Response:
    booking = get_booking(session=session, booking_id=booking_id, user=user)
    if booking.district_id != user.district_id:  # a training's guest district rates nothing
        raise Forbidden(messages.FORBIDDEN)
    if sent_before(request, form_nonce):
        return redirect_with_flash("/bookings", "duplicate_submission")
    try:
        data = RatingCreate.model_validate(
            {"score": score.strip()[:2], "feedback": feedback[:2000]}
        )
    except ValidationError as exc:
        problems = field_errors(exc)
        raise InvalidInput(
            "；".join(f"{'评分' if k == 'score' else '反馈'}：{v}" for k, v in problems.items())
        ) from None
    rate_booking(session=session, booking_id=booking_id, data=data, user=user)
    mark_sent(request, form_nonce)
    return redirect_with_flash("/bookings", "booking_rated")


# --- trainings ------------------------------------------------------------------------------


def _trainings(
    request: Request,
    session: Session,
    user: User,
    *,
    failed_id: int | None = None,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    items = []
    for training in list_open_trainings(session=session, user=user):
        view = public_view(session=session, booking=training)
        registrations = list_registrations(session=session, booking_id=view.id, user=user)
        if user.role == Role.district.value:
            registrations = [r for r in registrations if r.district_id == user.district_id]
        items.append(
            {
                "booking": view,
                "expert": get_expert(session=session, expert_id=training.expert_id),
                "left": max((view.capacity or 0) - (view.seats_taken or 0), 0),
                "registrations": registrations,
            }
        )
    return render(
        request,
        "trainings/list.html",
        {
            "items": items,
            "can_register": user.role == Role.district.value,
            "nonce": (form or {}).get("form_nonce") or secrets.token_urlsafe(16),
            "failed_id": failed_id,
            "form": form or {},
            "errors": errors or {},
        },
        status_code=status_code,
    )


@router.get("/trainings", summary="培训报名", dependencies=[performs(Action.booking_create)])
def trainings_page(request: Request, session: SessionDep, user: PageUser) -> Response:
    return _trainings(request, session, user)


@router.post("/trainings/{booking_id}/registrations", summary="报名培训")
def register(
    request: Request,
    booking_id: RecordId,
    session: SessionDep,
    user: DistrictPage,
    school: FormText = "",
    participants: FormText = "",
    form_nonce: FormText = "",
) -> Response:
    if sent_before(request, form_nonce):
        return redirect_with_flash("/trainings", "duplicate_submission")
    form = {
        "school": school.strip()[:100],
        "participants": participants.strip()[:6],
        "form_nonce": form_nonce[:64],
    }
    errors: dict[str, str] = {}
    try:
        data = RegistrationCreate.model_validate(
            {"school": form["school"], "participants": form["participants"]}
        )
    except ValidationError as exc:
        errors = field_errors(exc)
    else:
        try:
            with session.begin_nested():
                register_for_training(session=session, booking_id=booking_id, data=data, user=user)
        except (Conflict, InvalidInput) as exc:
            errors = {"participants": exc.message}
    if errors:
        return _trainings(
            request,
            session,
            user,
            failed_id=booking_id,
            form=form,
            errors=errors,
            status_code=422,
        )
    mark_sent(request, form_nonce)
    return redirect_with_flash("/trainings", "training_registered")


# --- feedback received ----------------------------------------------------------------------


def ratings_by_booking(session: Session, user: User, booking_ids: list[int]) -> dict[int, Any]:
    """Ratings of the listed bookings the user may see, by booking id."""
    if not booking_ids:
        return {}
    return {
        r.booking_id: r for r in list_ratings(session=session, user=user, booking_ids=booking_ids)
    }


def feedback_received(session: Session, user: User, limit: int = 20) -> list[dict[str, Any]]:
    """An expert's most recent ratings with the session they rate (empty for other roles)."""
    if user.role != Role.expert.value:
        return []
    items = []
    for rating in list_ratings(session=session, user=user, limit=limit):
        booking = get_booking(session=session, booking_id=rating.booking_id, user=user)
        items.append({"rating": rating, "booking": public_view(session=session, booking=booking)})
    return items
