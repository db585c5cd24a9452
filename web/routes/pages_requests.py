"""Pages: district requests (file one, follow them) and their recommended experts with reasons.

Over marketplace.requests (ownership: a district sees only its own) and matching.recommend.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel import col, select

from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, can, require
from marketplace.clock import LOCAL_TZ, utcnow
from marketplace.errors import Forbidden, InvalidInput
from marketplace.experts.models import Expert
from marketplace.messages import REQUEST_CRISIS_ASK, REQUEST_CRISIS_HINT
from marketplace.requests.models import (
    DistrictRequestCreate,
    RequestStatus,
    Urgency,
    window_problems,
)
from marketplace.requests.service import (
    create_request,
    get_request,
    list_requests,
    public_view,
    read_request,
)
from marketplace.requests.wording import crisis_words
from marketplace.validation import RecordId, parse_day
from marketplace.vocabulary import Format, Role, ServiceType
from matching.service import assigned_experts, recommend, relevance_factory_for
from search.service import MAX_QUERY_CHARS
from web.deps import SessionDep, performs
from web.pages import (
    DistrictPage,
    PageUser,
    form_errors,
    mark_sent,
    redirect_with_flash,
    sent_before,
)
from web.templating import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
MAX_TEXT = 2000  # DistrictRequestCreate.text's limit
FormText = Annotated[str, Form()]
FIELDS = (
    "text",
    "service_type",
    "format",
    "hours",
    "experts_needed",
    "window_start",
    "window_end",
    "urgency",
    "min_years_experience",
)


def _coordinator_or_staff(user: User) -> User:
    require(user, Action.request_read)
    return user


def _choices() -> dict[str, list[str]]:
    return {
        "service_types": [s.value for s in ServiceType],
        "formats": [f.value for f in Format],
        "urgencies": [u.value for u in Urgency],
    }


@router.get("/requests", summary="需求与匹配", dependencies=[performs(Action.request_read)])
def requests_page(
    request: Request,
    session: SessionDep,
    user: PageUser,
    status: Annotated[str, Query(max_length=16)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    chosen = status if status in {s.value for s in RequestStatus} else ""
    items, total = list_requests(
        session=session,
        user=_coordinator_or_staff(user),
        status=RequestStatus(chosen) if chosen else None,
        page=page,
        page_size=PAGE_SIZE,
    )
    return render(
        request,
        "requests/list.html",
        {
            "items": items,
            "total": total,
            "params": {"status": chosen},
            "page": page,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "statuses": [s.value for s in RequestStatus],
            "can_file": user.role == Role.district.value,
        },
        fragments=("results",),
    )


def _form_page(
    request: Request,
    form: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    words = "」「".join(crisis_words(form.get("text", ""))[:3])
    hint = (
        (REQUEST_CRISIS_HINT if form.get("urgency") == Urgency.crisis.value else REQUEST_CRISIS_ASK)
        if words
        else None
    )
    context = {
        "form": form,
        "errors": errors or {},
        "urgency_hint": hint.format(words=words) if hint else None,
        "nonce": form.get("form_nonce") or secrets.token_urlsafe(16),
        **_choices(),
    }
    return render(request, "requests/new.html", context, status_code=status_code)


@router.get("/requests/new", summary="提交需求")
def new_request_page(
    request: Request,
    user: DistrictPage,
    text: Annotated[str, Query(max_length=MAX_QUERY_CHARS)] = "",
    service_type: Annotated[str, Query(max_length=32)] = "",
    format: Annotated[str, Query(max_length=32)] = "",
) -> Response:
    """The form, prefilled with what the coordinator searched the directory for (the message,
    its service type and format); crisis words in the message suggest 危机."""
    text = text.strip()[:MAX_TEXT]
    form = dict.fromkeys(FIELDS, "") | {
        "text": text,
        "service_type": service_type if service_type in {s.value for s in ServiceType} else "",
        "format": format if format in {f.value for f in Format} else "",
        "experts_needed": "1",
        "urgency": Urgency.crisis.value if crisis_words(text) else Urgency.normal.value,
    }
    return _form_page(request, form)


@router.post("/requests", summary="提交需求")
def submit_request(
    request: Request,
    session: SessionDep,
    user: DistrictPage,
    text: FormText = "",
    service_type: FormText = "",
    format: FormText = "",
    hours: FormText = "",
    experts_needed: FormText = "1",
    window_start: FormText = "",
    window_end: FormText = "",
    urgency: FormText = "normal",
    min_years_experience: FormText = "",
    form_nonce: FormText = "",
) -> Response:
    if sent_before(request, form_nonce):
        return redirect_with_flash("/requests", "duplicate_submission")
    raw = {
        "text": text,
        "service_type": service_type,
        "format": format,
        "hours": hours,
        "experts_needed": experts_needed,
        "window_start": window_start,
        "window_end": window_end,
        "urgency": urgency,
        "min_years_experience": min_years_experience,
    }
    form = {key: value[:3000] for key, value in raw.items()} | {"form_nonce": form_nonce[:64]}
    data_in = {key: value.strip() for key, value in raw.items() if key != "min_years_experience"}
    if min_years_experience.strip():
        data_in["min_years_experience"] = min_years_experience.strip()
    try:
        data = DistrictRequestCreate.model_validate({**data_in, "submit": True})
    except ValidationError as exc:
        # The window's own checks run after every field is valid: report them in this round.
        window = window_problems(
            parse_day(data_in["window_start"]),
            parse_day(data_in["window_end"]),
            utcnow().astimezone(LOCAL_TZ).date(),
        )
        return _form_page(request, form, window | form_errors(exc), status_code=422)
    try:
        filed = create_request(session=session, data=data, user=user)
    except (InvalidInput, Forbidden) as exc:
        session.rollback()
        return _form_page(request, form, form_errors(exc), status_code=exc.status_code)
    mark_sent(request, form_nonce)
    return redirect_with_flash(f"/requests/{filed.id}", "request_filed")


@router.get(
    "/requests/{request_id}", summary="需求详情", dependencies=[performs(Action.request_read)]
)
def request_detail(
    request: Request, request_id: RecordId, session: SessionDep, user: PageUser
) -> Response:
    from booking.schedule.week import next_slots
    from booking.sessions.service import bookings_for_request

    filed = read_request(session=session, request_id=request_id, user=_coordinator_or_staff(user))
    assigned = assigned_experts(session=session, request_id=filed.id or 0)
    # the slots on offer are those of the request's window, not merely the next ones
    slots = {
        a.expert_id: next_slots(
            session=session,
            expert_id=a.expert_id,
            first_day=filed.window_start,
            last_day=filed.window_end,
        )
        for a in assigned
    }
    bookings = bookings_for_request(session=session, request_id=filed.id or 0)
    names = {
        e.id: e.name
        for e in session.exec(
            select(Expert).where(col(Expert.id).in_({b.expert_id for b in bookings}))
        ).all()
    }
    return render(
        request,
        "requests/detail.html",
        {
            "item": public_view(session=session, request=filed),
            "assigned": assigned,
            "assigned_slots": slots,
            "bookings": bookings,
            "expert_names": names,
            "can_book": user.role == Role.district.value
            and filed.status in ("submitted", "matched", "scheduled"),
            # a booking line leads to the bookings page only for those who may open it
            "can_open_bookings": can(user, Action.booking_read),
        },
    )


@router.get(
    "/requests/{request_id}/recommendations",
    summary="推荐专家",
    dependencies=[performs(Action.request_read)],
)
def request_recommendations(
    request: Request, request_id: RecordId, session: SessionDep, user: PageUser
) -> Response:
    """Recommended experts with reasons (loaded into the detail page by htmx, or as a page)."""
    filed = get_request(session=session, request_id=request_id, user=_coordinator_or_staff(user))
    factory = getattr(request.app.state, "match_relevance", None) or relevance_factory_for(
        request.app.state.settings
    )
    result = recommend(
        session=session, request_id=request_id, user=user, relevance_factory=factory, k=5
    )
    return render(
        request,
        "requests/recommendations.html",
        {
            "item": public_view(session=session, request=filed),
            "recommendations": result.items,
            "can_book": user.role == Role.district.value
            and filed.status in ("submitted", "matched", "scheduled"),
        },
        fragments=("recommendations",),
    )
