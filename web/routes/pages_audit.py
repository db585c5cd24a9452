"""Page: the audit log for staff, with filters and pagination."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from marketplace.audit.service import list_entries
from web.deps import SessionDep
from web.pages import AuditPage
from web.templating import render

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50


@router.get("/audit", summary="审计日志")
def audit_page(
    request: Request,
    session: SessionDep,
    user: AuditPage,
    entity_type: Annotated[str, Query(max_length=32)] = "",
    entity_id: Annotated[str, Query(max_length=64)] = "",
    actor: Annotated[str, Query(max_length=64)] = "",
    action: Annotated[str, Query(max_length=64)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    params = {
        "entity_type": entity_type.strip(),
        "entity_id": entity_id.strip(),
        "actor": actor.strip(),
        "action": action.strip(),
    }
    entries, total = list_entries(
        session=session,
        entity_type=params["entity_type"] or None,
        entity_id=params["entity_id"] or None,
        actor=params["actor"] or None,
        action=params["action"] or None,
        page=page,
        page_size=PAGE_SIZE,
    )
    context = {
        "entries": entries,
        "total": total,
        "params": params,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
    }
    return render(request, "audit.html", context, fragments=("results",))
