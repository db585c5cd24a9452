"""Pages: book a free slot, and follow sessions (experts confirm or decline, districts cancel).

Over booking.sessions (and booking.trainings): it checks the slot, the parties and every status transition.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel import Session, col, select

from booking.sessions.models import Booking, BookingCreate, BookingKind, BookingStatus
from booking.sessions.service import (
    create_booking,
    list_bookings,
    public_view,
)
from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action
from marketplace.clock import utcnow, zone
from marketplace.districts.models import District
from marketplace.errors import Conflict, Forbidden, InvalidInput
from marketplace.experts.models import Expert
from marketplace.experts.service import get_expert
from marketplace.experts.service import public_view as expert_view
from marketplace.requests.models import DistrictRequest
from marketplace.validation import RecordId, parse_day, parse_moment
from marketplace.vocabulary import Role
from web.booking_calendar import CalendarRange, calendar_range, place
from web.deps import SessionDep, performs
from web.pages import (
    DistrictPage,
    PageUser,
    field_errors,
    mark_sent,
    redirect_with_flash,
    sent_before,
    text_error,
)
from web.request_names import need_summary, posted_request_name
from web.routes.booking_transitions import TRANSITIONS, Transition
from web.routes.pages_sessions import feedback_received, ratings_by_booking
from web.templating import render

router = APIRouter(include_in_schema=False)

FormText = Annotated[str, Form()]
MAX_REASON = 500
MAX_CALENDAR_SESSIONS = 1000  # a month of a province's sessions


def _reason(text: str) -> str:
    text = text.strip()
    if not text or len(text) > MAX_REASON:
        raise InvalidInput(messages.REASON_REQUIRED)
    refused = text_error(text)
    if refused:
        raise InvalidInput(refused, field="reason")
    return text


@router.get("/bookings", summary="预约", dependencies=[performs(Action.booking_read)])
def bookings_page(
    request: Request,
    session: SessionDep,
    user: PageUser,
    status: Annotated[str, Query(max_length=16)] = "",
    view: Annotated[str, Query(max_length=8)] = "",
    day: Annotated[str, Query(max_length=10)] = "",
) -> Response:
    chosen = status if status in {s.value for s in BookingStatus} else ""
    now = utcnow()
    chosen_status = BookingStatus(chosen) if chosen else None
    if view in ("week", "month"):
        return _calendar_page(request, session, user, view, day, chosen)
    # What is ahead (and under way) comes first, soonest first; then what has ended, latest
    # first: the sessions waiting for an answer are on top, and a long past never hides them.
    coming = list_bookings(session=session, user=user, status=chosen_status, start=now, limit=200)
    ended = list_bookings(
        session=session, user=user, status=chosen_status, end=now, limit=100, newest_first=True
    )
    ahead = [public_view(session=session, booking=b) for b in coming]
    past = [v for v in (public_view(session=session, booking=b) for b in ended) if v.end <= now]
    ratings = ratings_by_booking(session, user, [v.id for v in ahead + past])
    who = _who_and_why(session, coming + ended)
    return render(
        request,
        "bookings/list.html",
        {
            "bookings": ahead,
            "ended": past,
            "status": chosen,
            "statuses": [s.value for s in BookingStatus],
            "is_expert": user.role == Role.expert.value,
            "ratings": ratings,
            "who": who,
            "feedback": feedback_received(session, user),
            "now": now,
            "nonce": secrets.token_urlsafe(12),
        },
        fragments=("results",),
    )


def _calendar_page(  # noqa: PLR0913 - the page's query, as the list's
    request: Request, session: Session, user: User, view: str, day: str, status: str
) -> Response:
    """/bookings as a week (or month) of sessions day by day; the list is a tab away."""
    today = datetime.now(zone(user.timezone)).date()

    def load(around: date) -> tuple[CalendarRange, list[Booking]]:
        calendar = calendar_range(view, around)
        start, end = calendar.bounds(user.timezone)
        found = list_bookings(
            session=session,
            user=user,
            status=BookingStatus(status) if status else None,
            start=start,
            end=end,
            limit=MAX_CALENDAR_SESSIONS,
        )
        views = [public_view(session=session, booking=b) for b in found]
        return place(calendar, views, user.timezone), found

    calendar, found = load(parse_day(day) or today)
    now = utcnow()
    if not day and view == "week" and not any(_ends_after(b, now) for b in found):
        # Late in the week nothing may be left of it (a Saturday): open on the next week.
        following = load(calendar.next)
        if following[0].count:
            calendar, found = following
    return render(
        request,
        "bookings/calendar.html",
        {
            "calendar": calendar,
            "today": today,
            "view": view,
            "status": status,
            "statuses": [s.value for s in BookingStatus],
            "who": _who_and_why(session, found),
            "is_expert": user.role == Role.expert.value,
        },
        fragments=("results",),
    )


def _ends_after(booking: Booking, now: datetime) -> bool:
    end = booking.end_at
    return (end if end.tzinfo is not None else end.replace(tzinfo=UTC)) > now


def _who_and_why(session: Session, bookings: list[Booking]) -> dict[int, dict[str, Any]]:
    """Per booking: the expert's and the district's names, who asked, and the request's text."""
    expert_ids = {b.expert_id for b in bookings}
    district_ids = {b.district_id for b in bookings}
    user_ids = {b.created_by_user_id for b in bookings if b.created_by_user_id}
    request_ids = {b.request_id for b in bookings if b.request_id}
    experts = {
        e.id: e.name
        for e in session.exec(select(Expert).where(col(Expert.id).in_(expert_ids))).all()
    }
    districts = {
        d.id: d.name
        for d in session.exec(select(District).where(col(District.id).in_(district_ids))).all()
    }
    users = {
        u.id: u.display_name or u.username
        for u in session.exec(select(User).where(col(User.id).in_(user_ids))).all()
    }
    requests = {
        r.id: r.text
        for r in session.exec(
            select(DistrictRequest).where(col(DistrictRequest.id).in_(request_ids))
        ).all()
    }
    return {
        b.id or 0: {
            "expert": experts.get(b.expert_id, b.expert_id),
            "district": districts.get(b.district_id, ""),
            "coordinator": users.get(b.created_by_user_id or 0, ""),
            "coordinator_id": b.created_by_user_id,
            "request_text": requests.get(b.request_id or 0, ""),
        }
        for b in bookings
    }


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
            "chosen": [_parse_time(form[k], request.state.user.timezone) for k in ("start", "end")],
            "request_name": _filed_for(session, request.state.user, form["request_id"]),
            "nonce": form.get("form_nonce") or secrets.token_urlsafe(16),
        },
        status_code=status_code,
    )


def _parse_time(text: str, timezone: str) -> datetime | None:
    """A moment from the form; one without an offset is read in the viewer's zone."""
    value = parse_moment(text)
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=zone(timezone))


@router.get("/bookings/new", summary="预约专家")
def new_booking_page(
    request: Request,
    session: SessionDep,
    user: DistrictPage,
    expert_id: Annotated[str, Query(max_length=32)],
    start: Annotated[str, Query(max_length=40)],
    end: Annotated[str, Query(max_length=40)],
    request_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    kind: Annotated[str, Query(max_length=32)] = "",
    format: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    form = {
        "expert_id": expert_id,
        "start": start,
        "end": end,
        "kind": kind,
        "format": format,
        "title": "",
        "description": "",
        "capacity": "",
        "request_id": "",
    }
    filed = session.get(DistrictRequest, request_id) if request_id is not None else None
    if filed is not None and filed.district_id == user.district_id:
        # Booking for a request: its kind, format and need fill the form.
        form |= {
            "request_id": str(filed.id),
            "kind": filed.service_type,
            "format": filed.format,
            "title": need_summary(filed.text, _need_text(request, filed.text))
            or messages.SERVICE_TYPE_LABELS.get(filed.service_type, ""),
            "description": filed.text[:4000],
        }
    return _new_form(request, session, form)


def _need_text(request: Request, text: str) -> str | None:
    """The need the search service's need model reads in a message (None without a model)."""
    search = getattr(request.app.state, "search", None)
    model = search.need_model if search is not None else None
    return model.need_text(text) if model is not None else None


def _filed_for(session: Session, user: User, request_id: str) -> str:
    """The name of the district's own request this form books for ("" when none)."""
    return posted_request_name(
        session=session,
        request_id=request_id,
        zone=user.timezone,
        district_id=user.district_id or 0,
    )


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
    request_id: FormText = "",
    form_nonce: FormText = "",
) -> Response:
    if sent_before(request, form_nonce):
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
        "request_id": request_id.strip()[:12],
        "form_nonce": form_nonce[:64],
    }
    try:
        data = BookingCreate.model_validate(
            {
                **{
                    k: v
                    for k, v in form.items()
                    if k not in ("start", "end", "form_nonce", "request_id")
                },
                "request_id": form["request_id"] or None,
                "start": _parse_time(form["start"], user.timezone),
                "end": _parse_time(form["end"], user.timezone),
                # Only a training has seats; a capacity typed for another kind is ignored.
                "capacity": form["capacity"] or None if form["kind"] == "training" else None,
            }
        )
    except ValidationError as exc:
        errors = field_errors(exc)
        errors["__all__"] = errors.get("__all__") or messages.FORM_HAS_ERRORS
        return _new_form(request, session, form, errors, status_code=422)
    try:
        create_booking(
            session=session,
            data=data,
            user=user,
            uid_domain=request.app.state.settings.uid_domain,
        )
    except (Conflict, InvalidInput, Forbidden) as exc:
        session.rollback()
        return _new_form(request, session, form, {"__all__": exc.message}, exc.status_code)
    mark_sent(request, form_nonce)
    if data.request_id is not None:
        return redirect_with_flash(f"/requests/{data.request_id}", "booking_requested")
    return redirect_with_flash("/bookings", "booking_requested")


def _add_transition_page(transition: Transition) -> None:
    """POST /bookings/{id}/<path> from a card's button: the transition, then the list."""
    apply = transition.apply
    if transition.needs_reason:

        def with_reason(
            booking_id: RecordId, session: SessionDep, user: PageUser, reason: FormText = ""
        ) -> Response:
            apply(session=session, booking_id=booking_id, reason=_reason(reason), user=user)
            return redirect_with_flash("/bookings", transition.flash)

        endpoint: Callable[..., Response] = with_reason
    else:

        def without_reason(booking_id: RecordId, session: SessionDep, user: PageUser) -> Response:
            apply(session=session, booking_id=booking_id, user=user)
            return redirect_with_flash("/bookings", transition.flash)

        endpoint = without_reason
    router.add_api_route(
        f"/bookings/{{booking_id}}/{transition.path}",
        endpoint,
        methods=["POST"],
        summary=transition.page_summary,
        dependencies=[performs(transition.action)],
        name=f"{transition.name}_page",
    )


for _transition in TRANSITIONS:
    _add_transition_page(_transition)
