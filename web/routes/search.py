"""Search API: hybrid Chinese search over experts and procured services, with reasons and facets."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlmodel import Session

from booking.schedule.week import free_this_week_reason
from marketplace.accounts.permissions import Action, can
from marketplace.errors import NotFound, Unavailable
from marketplace.resources.models import Audience, ResourceKind
from marketplace.resources.service import search_access
from marketplace.vocabulary import Domain, Format, ServiceType
from search.service import MAX_QUERY_CHARS, SearchRequest, SearchService
from web.deps import CurrentUser, SessionDep, performs

router = APIRouter(prefix="/api", tags=["search"])


class SearchHitPublic(BaseModel):
    id: str
    kind: str
    title: str
    score: float
    matched_specialties: list[str]
    snippet: str
    highlights: list[str]
    reasons: list[str]


class NeedPublic(BaseModel):
    specialty: str
    probability: float


class SearchPage(BaseModel):
    hits: list[SearchHitPublic]
    total: int
    page: int
    page_size: int
    facets: dict[str, dict[str, int]]
    needs: list[NeedPublic]
    backend: str
    degraded: bool
    no_match: bool = False  # below the relevance floor: nothing in the directory fits
    suggestions: list[str] = []  # the closest specialties to try instead


def get_search(request: Request) -> SearchService:
    service = getattr(request.app.state, "search", None)
    if service is None:
        raise Unavailable("搜索服务尚未就绪")
    return service


@router.get(
    "/search",
    response_model=SearchPage,
    summary="搜索专家、服务与资料 / hybrid search",
    dependencies=[performs(Action.expert_read)],
)
def search(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    q: Annotated[str, Query(max_length=MAX_QUERY_CHARS, description="需求描述；留空则浏览")] = "",
    kind: Literal["expert", "service", "resource"] = "expert",
    domain: Domain | None = None,
    specialty: Annotated[str | None, Query(max_length=64)] = None,
    city: Annotated[str | None, Query(max_length=64)] = None,
    district: Annotated[str | None, Query(max_length=64)] = None,
    format: Format | None = None,
    service_type: ServiceType | None = None,
    language: Annotated[str | None, Query(max_length=32)] = None,
    resource_kind: ResourceKind | None = None,
    audience: Audience | None = None,
    include_inactive: bool = False,
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 10,
) -> SearchPage:
    result = get_search(request).search(
        SearchRequest(
            q=q,
            kind=kind,
            domain=domain,
            specialty=specialty,
            city=city,
            district=district,
            format=format,
            service_type=service_type,
            language=language,
            resource_kind=resource_kind,
            audience=audience,
            access=search_access(session, user) if kind == "resource" else None,
            # Paused or retired experts are listed for staff only.
            include_inactive=include_inactive and can(user, Action.expert_manage),
            page=page,
            page_size=page_size,
        )
    )
    if not result.total:  # nothing found: an empty index must not pass for "nothing fits"
        gap = get_search(request).index_gap_error(can_index=can(user, Action.expert_manage))
        if gap is not None:
            raise gap
    hits = [
        SearchHitPublic(**{k: getattr(h, k) for k in SearchHitPublic.model_fields})
        for h in result.hits
    ]
    for hit in hits:
        if hit.kind == "expert":
            free = _free_reason(session, hit.id)
            hit.reasons = [*hit.reasons, free] if free else hit.reasons
    return SearchPage(
        hits=hits,
        total=result.total,
        page=result.page,
        page_size=result.page_size,
        facets=result.facets,
        needs=[NeedPublic(specialty=s, probability=round(p, 4)) for s, p in result.needs],
        backend=result.backend,
        degraded=result.degraded,
        no_match=result.no_match,
        suggestions=result.suggestions,
    )


def _free_reason(session: Session, expert_id: str) -> str | None:
    try:
        return free_this_week_reason(session=session, expert_id=expert_id)
    except NotFound:  # the index may briefly hold an expert the database no longer has
        return None
