"""Pages: ask an expert for a time (提交预约意向) when no free slot suits, and answer such requests
(the expert offers a time, which is a confirmed session, or declines with a reason).

Over booking.time_requests, which books through booking.sessions: no booking logic here."""

from __future__ import annotations

import secrets
from datetime import datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel import Session

from booking.time_requests import service
from booking.time_requests.models import (
    DayPart,
    RequestableKind,
    TimeRequestCreate,
    TimeRequestStatus,
)
from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, covers_expert
from marketplace.clock import zone
from marketplace.errors import Conflict, DomainError, InvalidInput
from marketplace.experts.service import get_expert
from marketplace.experts.service import public_view as expert_view
from marketplace.requests.models import DistrictRequest
from marketplace.validation import RecordId, parse_day
from web.deps import SessionDep
from web.pages import (
    DistrictPage,
    form_errors,
    mark_sent,
    page_allows,
    redirect_with_flash,
    sent_before,
)
from web.request_names import posted_request_name, request_names
from web.templating import render

router = APIRouter(include_in_schema=False)

FormText = Annotated[str, Form()]
TimeRequestPage = Annotated[User, page_allows(Action.time_request_read)]
AnswerPage = Annotated[User, page_allows(Action.time_request_answer)]  # the expert side
WithdrawPage = Annotated[User, page_allows(Action.time_request_file)]  # the district side
REQUESTABLE_KINDS = [k.value for k in RequestableKind]
DURATIONS = (30, 45, 60, 90, 120, 180)
MAX_REASON = 500


def _list_page(
    request: Request,
    session: Session,
    user: User,
    *,
    card_errors: dict[int, dict[str, str]] | None = None,
    card_forms: dict[int, dict[str, str]] | None = None,
    status_code: int = 200,
) -> Response:
    rows = service.list_time_requests(session=session, user=user)
    views = service.public_views(session=session, time_requests=rows)
    answerable = {
        t.id: service.offer_choices(session=session, time_request=t, limit=12)
        for t in rows
        if t.id is not None
        and t.status == TimeRequestStatus.open.value
        and covers_expert(user, Action.time_request_answer, expert_id=t.expert_id)
    }
    return render(
        request,
        "time_requests/list.html",
        {
            "items": views,
            "answerable": answerable,
            "card_errors": card_errors or {},
            "card_forms": card_forms or {},
            "STATUS": messages.TIME_REQUEST_STATUS_LABELS,
            "DAY_PARTS": messages.DAY_PART_LABELS,
            "request_names": request_names(
                session=session,
                request_ids=[t.request_id for t in rows if t.request_id is not None],
                zone=user.timezone,
            ),
        },
        status_code=status_code,
    )


@router.get("/time-requests", summary="预约意向")
def time_requests_page(request: Request, session: SessionDep, user: TimeRequestPage) -> Response:
    return _list_page(request, session, user)


def _new_form(
    request: Request,
    session: Session,
    form: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    expert = expert_view(
        session=session, expert=get_expert(session=session, expert_id=form["expert_id"])
    )
    offered = {str(t) for t in expert.service_types}
    kinds = [k for k in REQUESTABLE_KINDS if k in offered] or REQUESTABLE_KINDS
    # A single possible choice is made already.
    if not form["kind"] and len(kinds) == 1:
        form["kind"] = kinds[0]
    if not form["format"] and len(expert.formats) == 1:
        form["format"] = str(expert.formats[0])
    return render(
        request,
        "time_requests/new.html",
        {
            "expert": expert,
            "form": form,
            "errors": errors or {},
            "kinds": kinds,
            "durations": DURATIONS,
            "day_parts": [(p.value, messages.DAY_PART_LABELS[p.value]) for p in DayPart],
            "request_name": posted_request_name(
                session=session,
                request_id=form["request_id"],
                zone=request.state.user.timezone,
                district_id=request.state.user.district_id or 0,
            ),
            "nonce": form.get("form_nonce") or secrets.token_urlsafe(16),
        },
        status_code=status_code,
    )


@router.get("/time-requests/new", summary="提交预约意向")
def new_time_request_page(
    request: Request,
    session: SessionDep,
    user: DistrictPage,
    expert_id: Annotated[str, Query(max_length=32)],
    request_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    kind: Annotated[str, Query(max_length=32)] = "",
    format: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    today = service.first_day()
    form = {
        "expert_id": expert_id,
        "kind": kind if kind in REQUESTABLE_KINDS else "",
        "format": format,
        "duration_minutes": "60",
        "earliest_day": (today + timedelta(days=1)).isoformat(),
        "latest_day": (today + timedelta(days=21)).isoformat(),
        "day_part": "any",
        "title": "",
        "note": "",
        "request_id": "",
    }
    filed = session.get(DistrictRequest, request_id) if request_id is not None else None
    if filed is not None and filed.district_id == user.district_id:
        form |= {
            "request_id": str(filed.id),
            "kind": filed.service_type if filed.service_type in REQUESTABLE_KINDS else "",
            "format": filed.format,
            "title": " ".join(filed.text.split())[:60],
            "note": filed.text[:2000],
        }
    return _new_form(request, session, form)


@router.post("/time-requests", summary="提交预约意向")
def submit_time_request(
    request: Request,
    session: SessionDep,
    user: DistrictPage,
    expert_id: FormText = "",
    kind: FormText = "",
    format: FormText = "",
    duration_minutes: FormText = "",
    earliest_day: FormText = "",
    latest_day: FormText = "",
    day_part: FormText = "",
    title: FormText = "",
    note: FormText = "",
    request_id: FormText = "",
    form_nonce: FormText = "",
) -> Response:
    if sent_before(request, form_nonce):
        return redirect_with_flash("/time-requests", "duplicate_submission")
    form = {
        "expert_id": expert_id[:32],
        "kind": kind[:32],
        "format": format[:32],
        "duration_minutes": duration_minutes.strip()[:4],
        "earliest_day": earliest_day.strip()[:10],
        "latest_day": latest_day.strip()[:10],
        "day_part": day_part[:16] or "any",
        "title": title[:500],
        "note": note[:3000],
        "request_id": request_id.strip()[:12],
        "form_nonce": form_nonce[:64],
    }
    try:
        data = TimeRequestCreate.model_validate(
            # Empty fields stay in: an empty choice's error names the choices in Chinese.
            {k: v for k, v in form.items() if k != "form_nonce" and (v or k != "request_id")}
        )
        service.file_time_request(session=session, data=data, user=user)
    except (ValidationError, DomainError) as exc:
        session.rollback()
        status = 422 if isinstance(exc, ValidationError) else exc.status_code
        return _new_form(request, session, form, form_errors(exc), status_code=status)
    mark_sent(request, form_nonce)
    return redirect_with_flash("/time-requests", "time_request_filed")


def _offered_time(
    day: str, start_time: str, minutes: int, timezone: str
) -> tuple[datetime, datetime]:
    """The offered start as the expert typed or picked it, in their own zone."""
    chosen = parse_day(day)
    if chosen is None:
        raise InvalidInput(messages.TIME_REQUEST_OFFER_DAY, field="day")
    try:
        at = time.fromisoformat(start_time.strip())
    except ValueError:
        raise InvalidInput(messages.TIME_REQUEST_OFFER_TIME, field="start_time") from None
    start = datetime.combine(chosen, at, tzinfo=zone(timezone))
    return start, start + timedelta(minutes=minutes)


@router.post("/time-requests/{time_request_id}/offer", summary="提供时间")
def offer(
    request: Request,
    time_request_id: RecordId,
    session: SessionDep,
    user: AnswerPage,
    day: FormText = "",
    start_time: FormText = "",
) -> Response:
    form = {"day": day[:10], "start_time": start_time[:5]}
    try:
        time_request = service.get_time_request(
            session=session, time_request_id=time_request_id, user=user
        )
        start, end = _offered_time(day, start_time, time_request.duration_minutes, user.timezone)
        service.offer_time(
            session=session,
            time_request_id=time_request_id,
            start=start,
            end=end,
            user=user,
            uid_domain=request.app.state.settings.uid_domain,
        )
    except (InvalidInput, Conflict) as exc:
        session.rollback()
        return _list_page(
            request,
            session,
            user,
            card_errors={time_request_id: form_errors(exc, _offer_field)},
            card_forms={time_request_id: form},
            status_code=exc.status_code,
        )
    return redirect_with_flash("/time-requests", "time_request_offered")


def _offer_field(name: str) -> str:
    """The offer form has a day and a start time; a domain error about the time lands there."""
    return {"start": "start_time", "end": "start_time"}.get(name, name)


@router.post("/time-requests/{time_request_id}/decline", summary="婉拒预约意向")
def decline(
    request: Request,
    time_request_id: RecordId,
    session: SessionDep,
    user: AnswerPage,
    reason: FormText = "",
) -> Response:
    text = reason.strip()
    if not text or len(text) > MAX_REASON:
        return _list_page(
            request,
            session,
            user,
            card_errors={time_request_id: {"reason": messages.REASON_REQUIRED}},
            card_forms={time_request_id: {"reason": reason[:MAX_REASON]}},
            status_code=422,
        )
    service.decline_time_request(
        session=session, time_request_id=time_request_id, reason=text, user=user
    )
    return redirect_with_flash("/time-requests", "time_request_declined")


@router.post("/time-requests/{time_request_id}/withdraw", summary="撤回预约意向")
def withdraw(time_request_id: RecordId, session: SessionDep, user: WithdrawPage) -> Response:
    service.withdraw_time_request(session=session, time_request_id=time_request_id, user=user)
    return redirect_with_flash("/time-requests", "time_request_withdrawn")
