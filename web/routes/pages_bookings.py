"""Pages: book a free slot, and follow sessions (experts confirm or decline, districts cancel).

Over booking.sessions (and booking.trainings): it checks the slot, the parties and every status transition.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from booking.sessions.models import BookingCreate, BookingKind, BookingStatus
from booking.sessions.service import (
    cancel_booking,
    confirm_booking,
    create_booking,
    decline_booking,
    list_bookings,
    public_view,
)
from marketplace import messages
from marketplace.clock import LOCAL_TZ, utcnow
from marketplace.errors import Conflict, Forbidden, InvalidInput
from marketplace.experts.service import get_expert
from marketplace.experts.service import public_view as expert_view
from marketplace.validation import RecordId
from marketplace.vocabulary import Role
from web.deps import SessionDep
from web.pages import (
    DistrictPage,
    PageUser,
    field_errors,
    form_once,
    login_id,
    redirect_with_flash,
)
from web.routes.pages_sessions import feedback_received, ratings_by_booking
from web.templating import render

router = APIRouter(include_in_schema=False)

FormText = Annotated[str, Form()]
MAX_REASON = 500


def _reason(text: str) -> str:
    text = text.strip()
    if not text or len(text) > MAX_REASON:
        raise InvalidInput(messages.REASON_REQUIRED)
    return text


@router.get("/bookings", summary="预约")
def bookings_page(
    request: Request,
    session: SessionDep,
    user: PageUser,
    status: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    chosen = status if status in {s.value for s in BookingStatus} else ""
    bookings = list_bookings(
        session=session, user=user, status=BookingStatus(chosen) if chosen else None, limit=200
    )
    views = [public_view(session=session, booking=b) for b in bookings]
    ratings = ratings_by_booking(session, user, [v.id for v in views])
    return render(
        request,
        "bookings/list.html",
        {
            "bookings": views,
            "status": chosen,
            "statuses": [s.value for s in BookingStatus],
            "is_expert": user.role == Role.expert.value,
            "local_tz": LOCAL_TZ,
            "ratings": ratings,
            "feedback": feedback_received(session, user),
            "now": utcnow(),
            "nonce": secrets.token_urlsafe(12),
        },
        fragments=("results",),
    )


def _new_form(
    request: Request,
    session: SessionDep,
    form: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    expert = expert_view(
        session=session, expert=get_expert(session=session, expert_id=form["expert_id"])
    )
    offered = {str(t) for t in expert.service_types}
    kinds = [k.value for k in BookingKind if k.value in offered] or [k.value for k in BookingKind]
    return render(
        request,
        "bookings/new.html",
        {
            "expert": expert,
            "form": form,
            "errors": errors or {},
            "kinds": kinds,
            "nonce": form.get("form_nonce") or secrets.token_urlsafe(16),
        },
        status_code=status_code,
    )


def _parse_time(text: str) -> datetime | None:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=LOCAL_TZ)


@router.get("/bookings/new", summary="预约专家")
def new_booking_page(
    request: Request,
    session: SessionDep,
    user: DistrictPage,
    expert_id: Annotated[str, Query(max_length=32)],
    start: Annotated[str, Query(max_length=40)],
    end: Annotated[str, Query(max_length=40)],
) -> Response:
    form = {
        "expert_id": expert_id,
        "start": start,
        "end": end,
        "kind": "",
        "format": "",
        "title": "",
        "description": "",
        "capacity": "",
    }
    return _new_form(request, session, form)


@router.post("/bookings", summary="提交预约")
def submit_booking(
    request: Request,
    session: SessionDep,
    user: DistrictPage,
    expert_id: FormText = "",
    start: FormText = "",
    end: FormText = "",
    kind: FormText = "",
    format: FormText = "",
    title: FormText = "",
    description: FormText = "",
    capacity: FormText = "",
    form_nonce: FormText = "",
) -> Response:
    once = form_once(request)
    if once.seen(login_id(request), form_nonce):
        return redirect_with_flash("/bookings", "duplicate_submission")
    form = {
        "expert_id": expert_id[:32],
        "start": start[:40],
        "end": end[:40],
        "kind": kind[:32],
        "format": format[:32],
        "title": title[:500],
        "description": description[:5000],
        "capacity": capacity.strip()[:6],
        "form_nonce": form_nonce[:64],
    }
    try:
        data = BookingCreate.model_validate(
            {
                **{k: v for k, v in form.items() if k not in ("start", "end", "form_nonce")},
                "start": _parse_time(form["start"]),
                "end": _parse_time(form["end"]),
                # Only a training has seats; a capacity typed for another kind is ignored.
                "capacity": form["capacity"] or None if form["kind"] == "training" else None,
            }
        )
    except ValidationError as exc:
        errors = field_errors(exc)
        errors["__all__"] = errors.get("__all__") or messages.FORM_HAS_ERRORS
        return _new_form(request, session, form, errors, status_code=422)
    try:
        create_booking(session=session, data=data, user=user)
    except (Conflict, InvalidInput, Forbidden) as exc:
        session.rollback()
        return _new_form(request, session, form, {"__all__": exc.message}, exc.status_code)
    once.remember(login_id(request), form_nonce)
    return redirect_with_flash("/bookings", "booking_requested")


@router.post("/bookings/{booking_id}/confirm", summary="确认预约")
def confirm(booking_id: RecordId, session: SessionDep, user: PageUser) -> Response:
    confirm_booking(session=session, booking_id=booking_id, user=user)
    return redirect_with_flash("/bookings", "booking_confirmed")


@router.post("/bookings/{booking_id}/decline", summary="拒绝预约")
def decline(
    booking_id: RecordId, session: SessionDep, user: PageUser, reason: FormText = ""
) -> Response:
    decline_booking(session=session, booking_id=booking_id, reason=_reason(reason), user=user)
    return redirect_with_flash("/bookings", "booking_declined")


@router.post("/bookings/{booking_id}/cancel", summary="取消预约")
def cancel(
    booking_id: RecordId, session: SessionDep, user: PageUser, reason: FormText = ""
) -> Response:
    cancel_booking(session=session, booking_id=booking_id, reason=_reason(reason), user=user)
    return redirect_with_flash("/bookings", "booking_cancelled")
