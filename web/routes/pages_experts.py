"""Pages: the expert directory (filters, pagination, live search as you type) and profiles."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlmodel import Session, col, select

from booking.schedule.service import expert_zone
from booking.schedule.week import WeekSlots, free_this_week_reason, week_slots
from booking.sessions.models import BookingKind
from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, can
from marketplace.clock import zone
from marketplace.districts.service import RegionIndex, list_districts
from marketplace.errors import Unavailable
from marketplace.experts.models import Expert, ExpertPublic
from marketplace.experts.service import (
    ExpertFilters,
    get_expert,
    list_experts,
    public_view,
    public_views,
)
from marketplace.messages import (
    DOMAIN_LABELS,
    FORMAT_LABELS,
    RESOURCE_AUDIENCE_LABELS,
    RESOURCE_KIND_LABELS,
    SERVICE_TYPE_LABELS,
)
from marketplace.requests.models import DistrictRequest
from marketplace.resources.models import Audience, ResourceKind
from marketplace.resources.service import search_access
from marketplace.specialties.service import list_specialties
from marketplace.validation import parse_day
from marketplace.vocabulary import Domain, ExpertStatus, Format, Role, ServiceType
from search.service import MAX_QUERY_CHARS, MAX_RESULTS, SearchRequest, SearchService
from web.deps import SessionDep, performs
from web.pages import PageUser, files_own_requests, is_staff
from web.templating import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 20
# A coordinator pastes the whole message (greeting, school, need, logistics): as long as the
# search API takes, and what the need reader reads.
MAX_QUERY = MAX_QUERY_CHARS
# The directory query a profile links back to, percent-encoded once (a pasted message of a few
# hundred characters is several thousand): longer ones are not carried (the link goes to the
# directory without them) so the profile link stays under the server's URL limit.
MAX_BACK = 4000


@dataclass
class ExpertHit:
    """One result row: the expert, and (once real search lands) why it matched."""

    expert: ExpertPublic
    reasons: list[str] = field(default_factory=list)


@dataclass
class ExpertResults:
    hits: list[ExpertHit]
    total: int
    # Facet counts from the search backend, each value with its label and the filter (query
    # parameter) a click sets: {"领域": [("domain", "psychology", "心理", 12), ...]}.
    facets: dict[str, list[tuple[str, str, str, int]]] = field(default_factory=dict)
    no_match: bool = False  # the query is about nothing the directory covers
    suggestions: list[str] = field(default_factory=list)  # closest specialties to try
    # Why nothing could be found, when the reason is the index, not the need (shown instead of
    # "no match"): SearchService.index_gap_error's message for this user.
    index_gap: str | None = None


FACET_TITLES = {
    "domain": "领域",
    "specialties": "专长",
    "city": "城市",
    "formats": "形式",
    "service_types": "服务",
}
FACET_VALUE_LABELS = {
    "domain": DOMAIN_LABELS,
    "formats": FORMAT_LABELS,
    "service_types": SERVICE_TYPE_LABELS,
}
FACETS_SHOWN = 8
# The directory filter (query parameter) each facet sets when clicked.
FACET_PARAMS = {
    "domain": "domain",
    "specialties": "specialty",
    "city": "city",
    "formats": "format",
    "service_types": "service_type",
}
_KINDS = {k.value for k in BookingKind}
_REST_OF_WEEK_EMPTY = (messages.WEEK_FULLY_BOOKED, messages.WEEK_NO_HOURS_THIS_WEEK)
# Weeks of a request's window looked through for a free slot (past the expert's horizon the
# weeks are not open, which stops the walk earlier).
MAX_WINDOW_WEEKS = 26
_WINDOW_SKIPPABLE = (*_REST_OF_WEEK_EMPTY, None)


def _search_experts(
    *,
    session: Session,
    search: SearchService | None,
    user: User,
    query: str,
    filters: ExpertFilters,
    page: int,
    page_size: int,
) -> ExpertResults:
    """THE search seam of the directory page: every listing goes through here.

    An empty query lists the directory and a query that is part of experts' names lists them,
    both from the database (which also honours the staff's status filter); any other text is a
    need and goes to the hybrid search (hits with reasons and facets).
    """
    by_name = replace(filters, name=query or None)
    experts, total = list_experts(session=session, filters=by_name, page=page, page_size=page_size)
    if not query or total or search is None:  # browsing, or (part of) a name: the database answers
        return ExpertResults(hits=[ExpertHit(expert=e) for e in experts], total=total)
    home_city = _home_city(session, user)
    try:
        found = search.search(
            SearchRequest(
                q=query,
                kind="expert",
                domain=filters.domain,
                specialty=filters.specialty,
                city=filters.city,
                format=filters.format,
                service_type=filters.service_type,
                include_inactive=filters.status != ExpertStatus.active.value,
                page=page,
                page_size=page_size,
                near_city=home_city,
            )
        )
    except Unavailable:
        return ExpertResults(hits=[], total=0)
    if not found.total:
        gap = search.index_gap_error(can_index=can(user, Action.expert_manage))
        if gap is not None:
            return ExpertResults(hits=[], total=0, index_gap=gap.message)
    experts = session.exec(
        select(Expert).where(col(Expert.id).in_([h.id for h in found.hits]))
    ).all()
    views = {v.id: v for v in public_views(session=session, experts=list(experts))}
    hits = [
        ExpertHit(
            expert=views[h.id],
            reasons=_reasons(h, views[h.id], home_city) + _free_reason(session, views[h.id].id),
        )
        for h in found.hits
        if h.id in views
    ]
    facets = {
        FACET_TITLES[name]: [
            (FACET_PARAMS[name], value, FACET_VALUE_LABELS.get(name, {}).get(value, value), count)
            for value, count in list(counts.items())[:FACETS_SHOWN]
        ]
        for name, counts in found.facets.items()
        if counts and name in FACET_TITLES
    }
    return ExpertResults(
        hits=hits,
        total=found.total,
        facets=facets,
        no_match=found.no_match,
        suggestions=found.suggestions,
    )


def _home_city(session: Session, user: User) -> str | None:
    if user.district_id is None:
        return None
    return RegionIndex(session).names(user.district_id).city


def _reasons(hit: Any, expert: ExpertPublic, home_city: str | None) -> list[str]:
    """Why this expert, in their own terms: the specialties of theirs that fit the need, the
    sentence of their bio that matched, and whether they work in the searcher's city."""
    out = []
    if hit.matched_specialties:
        out.append("擅长：" + "、".join(hit.matched_specialties[:3]))
    if hit.highlights and hit.snippet:
        out.append(f"简介提到：“{hit.snippet[:60]}”")
    if home_city and expert.region.city == home_city:
        out.append(
            f"同在{home_city}，可到校服务" if "onsite" in expert.formats else f"同在{home_city}"
        )
    return out


def _free_reason(session: Session, expert_id: str) -> list[str]:
    reason = free_this_week_reason(session=session, expert_id=expert_id)
    return [reason] if reason else []


def _choice(value: str | None, allowed: type) -> str | None:
    """A value of the closed vocabulary, or None (unknown values are ignored, not errors)."""
    return value if value in {m.value for m in allowed} else None  # type: ignore[attr-defined]


def _filter_options(session: Session) -> dict[str, Any]:
    districts = list_districts(session=session)
    cities = list(dict.fromkeys(d.city for d in districts))
    return {
        "cities": cities,
        "specialties": [s.name for s in list_specialties(session=session)],
        "domains": [d.value for d in Domain],
        "formats": [f.value for f in Format],
        "service_types": [s.value for s in ServiceType],
        "statuses": [s.value for s in ExpertStatus],
    }


@router.get("/experts", summary="专家库", dependencies=[performs(Action.expert_read)])
def experts_page(
    request: Request,
    session: SessionDep,
    user: PageUser,
    q: Annotated[str, Query(max_length=MAX_QUERY)] = "",
    domain: Annotated[str, Query(max_length=32)] = "",
    service_type: Annotated[str, Query(max_length=32)] = "",
    format: Annotated[str, Query(max_length=32)] = "",
    city: Annotated[str, Query(max_length=64)] = "",
    specialty: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[str, Query(max_length=16)] = "",
    rkind: Annotated[str, Query(max_length=16)] = "",
    raudience: Annotated[str, Query(max_length=16)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    q = q.strip()
    # The 资料 section's own facets: the library's kind and audience.
    rkind = _choice(rkind, ResourceKind) or ""
    raudience = _choice(raudience, Audience) or ""
    # Coordinators and experts see experts who take work; staff may look at every status.
    chosen_status = (
        _choice(status, ExpertStatus)
        if is_staff(user, Action.expert_manage)
        else ExpertStatus.active.value
    )
    filters = ExpertFilters(
        domain=_choice(domain, Domain),
        service_type=_choice(service_type, ServiceType),
        format=_choice(format, Format),
        city=city.strip() or None,
        specialty=specialty.strip() or None,
        status=chosen_status,
    )
    results = _search_experts(
        session=session,
        search=getattr(request.app.state, "search", None),
        user=user,
        query=q,
        filters=filters,
        page=page,
        page_size=PAGE_SIZE,
    )
    params = {
        "q": q,
        "domain": filters.domain or "",
        "service_type": filters.service_type or "",
        "format": filters.format or "",
        "city": filters.city or "",
        "specialty": filters.specialty or "",
        "status": (filters.status or "") if is_staff(user, Action.expert_manage) else "",
        "rkind": rkind,
        "raudience": raudience,
    }
    pages = max(1, -(-results.total // PAGE_SIZE))
    context = {
        "results": results,
        "params": params,
        "page": page,
        "pages": pages,
        "options": _filter_options(session)
        if request.headers.get("HX-Target") != "results"
        else {},
        "show_status_filter": is_staff(user, Action.expert_manage),
        # a card's action: 预约 opens the week of free slots, as on the profile (can_book there)
        "can_book": user.role == Role.district.value,
        "file_request": _file_request_link(user, q, filters.service_type, filters.format),
        "max_results": MAX_RESULTS,
        "max_back": MAX_BACK,
        # with an empty index, services and library would say "nothing related" too: not shown
        "others": (
            _other_kinds(request, session, user, q, rkind, raudience)
            if q and not results.index_gap
            else None
        ),
    }
    return render(request, "experts/list.html", context, fragments=("results",))


OTHER_KINDS_SHOWN = 3


def _other_kinds(  # noqa: PLR0913 - the need and the library section's two facets
    request: Request, session: Session, user: User, q: str, rkind: str, raudience: str
) -> dict | None:
    """Services (for coordinators and staff) and library material for the same need, with the
    true number of each and the library's kind and audience facets (counted over every
    resource the need finds under the chosen facets, not only the few shown)."""
    search = getattr(request.app.state, "search", None)
    if search is None:
        return None
    found: dict[str, Any] = {"services": None, "resources": [], "totals": {}, "facets": {}}
    kinds = [
        (
            "resources",
            SearchRequest(
                q=q,
                kind="resource",
                access=search_access(session, user),
                resource_kind=rkind or None,
                audience=raudience or None,
                page_size=OTHER_KINDS_SHOWN,
            ),
        )
    ]
    if user.role != Role.expert.value:
        kinds.append(("services", SearchRequest(q=q, kind="service", page_size=OTHER_KINDS_SHOWN)))
    for key, search_request in kinds:
        try:
            response = search.search(search_request)
        except Unavailable:
            return None
        found[key] = response.hits
        found["totals"][key] = response.total
        if key == "resources":
            found["facets"] = {
                "rkind": _resource_facet(
                    response.facets.get("resource_kind"), RESOURCE_KIND_LABELS
                ),
                "raudience": _resource_facet(
                    response.facets.get("audiences"), RESOURCE_AUDIENCE_LABELS
                ),
            }
    return found


def _resource_facet(counts: dict[str, int] | None, labels: dict[str, str]) -> list[tuple]:
    """(value, label, count) in the vocabulary's order."""
    counts = counts or {}
    return [(value, label, counts[value]) for value, label in labels.items() if counts.get(value)]


def _filed_request(session: Session, user: User, request_id: int | None) -> DistrictRequest | None:
    """The coordinator's own request a 预约 link is for (None for anyone else's, or none)."""
    if request_id is None or user.role != Role.district.value:
        return None
    filed = session.get(DistrictRequest, request_id)
    return filed if filed is not None and filed.district_id == user.district_id else None


def _booking_context(filed: DistrictRequest | None, kind: str, format: str) -> dict[str, str]:
    """What a 预约 link carries to the booking form: the request it is for, its kind and format."""
    if filed is not None:
        context = {
            "request_id": str(filed.id),
            "kind": filed.service_type,
            "format": filed.format,
        }
    else:
        context = {
            "kind": _choice(kind, BookingKind) or "",
            "format": _choice(format, Format) or "",
        }
    return {k: v for k, v in context.items() if v}


def _first_week_in_window(
    week_at: Callable[[date], WeekSlots], filed: DistrictRequest, today: date
) -> tuple[WeekSlots, str]:
    """The first week of the request's window (from today on) with a free slot, or else its
    first week and a note that the window has none."""
    first = max(filed.window_start, today)
    last = filed.window_end
    if last < first:
        return week_at(today), messages.WEEK_WINDOW_PAST
    opening = week_at(first)
    view = opening
    for _ in range(MAX_WINDOW_WEEKS):
        if view.count or view.start > last or view.empty_reason not in _WINDOW_SKIPPABLE:
            break
        view = week_at(view.next)
    if view.count and view.start <= last:
        return view, ""
    note = messages.WEEK_WINDOW_NONE.format(start=filed.window_start, end=filed.window_end)
    return opening, note


def _file_request_link(user: User, text: str, service_type: str | None, format: str | None) -> str:
    """The 提交需求 form's address carrying the searched message and its service type and
    format, for a coordinator (the policy's own-district filer); "" for anyone else."""
    if not files_own_requests(user):
        return ""
    carried = {"text": text, "service_type": service_type or "", "format": format or ""}
    query = urlencode({k: v for k, v in carried.items() if v})
    return f"/requests/new?{query}" if query else "/requests/new"


def _safe_back(back: str) -> str:
    """The directory query to return to (a query string only: it never changes the path)."""
    text = back.strip().lstrip("?")
    return text if "//" not in text and "\\" not in text else ""


@router.get("/experts/{expert_id}", summary="专家详情", dependencies=[performs(Action.expert_read)])
def expert_profile(
    request: Request,
    expert_id: str,
    session: SessionDep,
    user: PageUser,
    week: Annotated[str, Query(max_length=10)] = "",
    duration: Annotated[int, Query(ge=30, le=240, multiple_of=30)] = 60,
    request_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    kind: Annotated[str, Query(max_length=32)] = "",
    format: Annotated[str, Query(max_length=32)] = "",
    back: Annotated[str, Query(max_length=MAX_BACK)] = "",
) -> Response:
    expert = public_view(
        session=session, expert=get_expert(session=session, expert_id=expert_id[:32])
    )
    today = datetime.now(zone(user.timezone)).date()
    filed = _filed_request(session, user, request_id)
    booking = _booking_context(filed, kind, format)

    def week_at(day: date) -> WeekSlots:
        return week_slots(
            session=session,
            expert_id=expert.id,
            week_of=day,
            duration_minutes=duration,
            kind=BookingKind(booking["kind"]) if booking.get("kind") in _KINDS else None,
            timezone=user.timezone,
        )

    window_note = ""
    if not week and filed is not None:
        # Booking for a request: open the first week of its window with a free slot.
        week_view, window_note = _first_week_in_window(week_at, filed, today)
    else:
        week_view = week_at((parse_day(week) if week else None) or today)
        if not week and week_view.count == 0 and week_view.empty_reason in _REST_OF_WEEK_EMPTY:
            # Late in the week the rest of it may be gone or without hours (a Saturday for an
            # expert who works weekdays): open on the next week with free time.
            following = week_at(week_view.next)
            if following.count:
                week_view = following
    # the directory search the profile was opened from: its message is what a request is about
    searched = {k: v[-1] for k, v in parse_qs(_safe_back(back)).items() if v}
    own = user.role == Role.expert.value and user.expert_id == expert.id
    return render(
        request,
        "experts/profile.html",
        {
            "expert": expert,
            "week": week_view,
            "window_note": window_note,
            "today": today,
            "duration": duration,
            "booking": booking,
            "back": _safe_back(back),
            # booking for a request already filed: no second request offered
            "file_request": ""
            if filed is not None
            else _file_request_link(
                user, searched.get("q", ""), searched.get("service_type"), searched.get("format")
            ),
            "request_window": (filed.window_start, filed.window_end)
            if filed and not week
            else None,
            "is_own_profile": own,
            "expert_zone": expert_zone(session=session, expert_id=expert.id),
            "can_book": user.role == Role.district.value and expert.status == "active",
        },
        fragments=("week",),
    )
