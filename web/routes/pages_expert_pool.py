"""Pages: the expert-pool console of the resource centers.

A filterable, paginated table of the pool (city staff: their region's experts, as the policy's
`expert.pool` reach says) with CSV/Excel export; and for the province center (`expert.manage`):
add and edit an expert, import a JSONL/CSV file with the CLI's per-line report, pause or
re-activate with a reason and verify. Writes go through marketplace.experts (which queue the
search index update); the reason and who verified when are kept in the audit log
(`expert.pause`, `expert.activate`, `expert.verify`) and shown on the pages.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel import Session

from booking.schedule.service import FREE_TIME_DAYS, experts_with_free_time
from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, can, reach
from marketplace.accounts.service import actor_for
from marketplace.audit.models import AuditEntry
from marketplace.audit.service import latest_entries, list_entries, record
from marketplace.districts.service import list_districts
from marketplace.errors import DomainError
from marketplace.experts.importing import ImportReport, import_experts
from marketplace.experts.models import ExpertAdminUpdate, ExpertCreate, ExpertPublic, ExpertUpdate
from marketplace.experts.pool import (
    IMPORT_MAX_BYTES,
    pool_csv,
    pool_xlsx,
    upload_lines,
    with_field_labels,
)
from marketplace.experts.service import (
    POOL_SORTS,
    ExpertFilters,
    create_expert,
    get_expert,
    iter_experts,
    list_experts,
    public_view,
    update_expert,
)
from marketplace.vocabulary import Domain, ExpertStatus
from web.audit_view import describe
from web.deps import SessionDep
from web.expert_form import (
    FormText,
    PostedProfile,
    blank_form,
    changes_from_form,
    form_choices,
    form_from_expert,
    posted_profile,
    submitted_form,
)
from web.pages import field_errors, page_allows, redirect_with_flash, text_error
from web.templating import render

router = APIRouter(include_in_schema=False)

PoolPage = Annotated[User, page_allows(Action.expert_manage)]
PoolReadPage = Annotated[User, page_allows(Action.expert_pool)]
Posted = Annotated[PostedProfile, Depends(posted_profile)]
_ACTIONS = ["expert.pause", "expert.activate", "expert.verify"]
PAGE_SIZE = 25
VERIFIED_CHOICES = [("1", "已认证"), ("0", "未认证")]
FREE_CHOICES = [("1", f"未来 {FREE_TIME_DAYS} 天有空")]
STATUS_CHOICES = [(s.value, messages.STATUS_LABELS[s.value]) for s in ExpertStatus]
DOMAIN_CHOICES = [(d.value, messages.DOMAIN_LABELS[d.value]) for d in Domain]
SORT_CHOICES = [(key, label) for key, (label, _) in POOL_SORTS.items()]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class PoolQuery:
    """The console's filters as given in the URL, cleaned; shared by the table and the export."""

    q: str = ""
    domain: str = ""
    city: str = ""
    status: str = ""
    verified: str = ""
    free: str = ""
    sort: str = "updated"

    def filters(self, session: Session, user: User) -> ExpertFilters:
        return ExpertFilters(
            name=self.q or None,
            domain=self.domain or None,
            city=self.city or None,
            status=self.status or None,
            verified=None if not self.verified else self.verified == "1",
            district_ids=reach(session, user, Action.expert_pool),
            ids=experts_with_free_time(session=session) if self.free else None,
        )


PoolParam = Annotated[str, Query(max_length=64)]


def _pool_query(
    q: PoolParam = "",
    domain: PoolParam = "",
    city: PoolParam = "",
    status: PoolParam = "",
    verified: PoolParam = "",
    free: PoolParam = "",
    sort: PoolParam = "updated",
) -> PoolQuery:
    return PoolQuery(
        q=q.strip(),
        domain=domain if domain in {d.value for d in Domain} else "",
        city=city.strip(),
        status=status if status in {s.value for s in ExpertStatus} else "",
        verified=verified if verified in ("0", "1") else "",
        free="1" if free == "1" else "",
        sort=sort if sort in POOL_SORTS else "updated",
    )


PoolFilters = Annotated[PoolQuery, Depends(_pool_query)]


def _cities(session: Session, user: User) -> list[tuple[str, str]]:
    districts = reach(session, user, Action.expert_pool)
    names = dict.fromkeys(
        d.city for d in list_districts(session=session) if districts is None or d.id in districts
    )
    return [(name, name) for name in names]


def verifications(session: Session, ids: list[str]) -> dict[str, AuditEntry]:
    """Who verified each of these experts, and when (the newest `expert.verify` entry)."""
    return latest_entries(
        session=session, entity_type="expert", entity_ids=ids, action="expert.verify"
    )


@router.get("/expert-pool", summary="专家管理")
def pool_page(
    request: Request,
    session: SessionDep,
    user: PoolReadPage,
    query: PoolFilters,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    experts, total = list_experts(
        session=session,
        filters=query.filters(session, user),
        page=page,
        page_size=PAGE_SIZE,
        sort=query.sort,
    )
    ids = [e.id for e in experts]
    params = asdict(query)
    context = {
        "experts": experts,
        "total": total,
        "params": params,
        "page": page,
        "pages": max(1, -(-total // PAGE_SIZE)),
        "free": experts_with_free_time(session=session, among=ids),
        "free_days": FREE_TIME_DAYS,
        "verified_by": verifications(session, ids),
        "paused_why": latest_entries(
            session=session,
            entity_type="expert",
            entity_ids=[e.id for e in experts if e.status != ExpertStatus.active],
            action="expert.pause",
        ),
        "can_manage": can(user, Action.expert_manage),
        "domain_choices": DOMAIN_CHOICES,
        "status_choices": STATUS_CHOICES,
        "verified_choices": VERIFIED_CHOICES,
        "free_choices": FREE_CHOICES,
        "sort_choices": SORT_CHOICES,
        "city_choices": _cities(session, user),
        "export_query": urlencode({k: v for k, v in params.items() if v}),
    }
    return render(request, "experts/pool.html", context, fragments=("results",))


def _export_rows(session: Session, user: User, query: PoolQuery) -> list[ExpertPublic]:
    return list(
        iter_experts(session=session, filters=query.filters(session, user), sort=query.sort)
    )


@router.get("/expert-pool/export.csv", summary="导出专家列表（CSV）")
def export_csv(session: SessionDep, user: PoolReadPage, query: PoolFilters) -> Response:
    return Response(
        pool_csv(_export_rows(session, user, query)).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="experts.csv"'},
    )


@router.get("/expert-pool/export.xlsx", summary="导出专家列表（Excel）")
def export_xlsx(session: SessionDep, user: PoolReadPage, query: PoolFilters) -> Response:
    experts = _export_rows(session, user, query)
    return Response(
        pool_xlsx(experts, title=f"专家库（{len(experts)} 位）"),
        media_type=XLSX,
        headers={"Content-Disposition": 'attachment; filename="experts.xlsx"'},
    )


# --- add and edit ---------------------------------------------------------------------------


def _form_page(
    request: Request,
    session: Session,
    form: dict[str, Any],
    *,
    expert: ExpertPublic | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    context = {"form": form, "expert": expert, "errors": errors or {}, **form_choices(session)}
    return render(request, "experts/pool_form.html", context, status_code=status_code)


def _profile_form(fields: dict[str, str], formats: list[str] | None, types: list[str] | None):  # type: ignore[no-untyped-def]
    """The submitted form (bounded) and its data for the schemas (lists split, region parsed)."""
    extra = {k: fields.pop(k)[:64] for k in ("id", "domain", "region") if k in fields}
    form = submitted_form(fields, formats or [], types or [])
    form.update(extra)
    data = changes_from_form(form)
    data["domain"] = form["domain"]
    if form.get("id"):
        data["id"] = form["id"]
    return form, data


def _domain_error_fields(exc: DomainError) -> dict[str, str]:
    field = "id" if exc.status_code == 409 else (exc.field or "__all__")
    return {field: exc.message, "__all__": messages.FORM_HAS_ERRORS}


@router.get("/expert-pool/new", summary="添加专家")
def new_expert_page(request: Request, session: SessionDep, user: PoolPage) -> Response:
    return _form_page(request, session, blank_form())


@router.post("/expert-pool/new", summary="保存新专家")
def create_expert_page(
    request: Request,
    session: SessionDep,
    user: PoolPage,
    posted: Posted,
    id: FormText = "",
    domain: FormText = "",
) -> Response:
    fields = {**posted.texts, "id": id, "domain": domain, "region": posted.region}
    form, data = _profile_form(fields, posted.formats, posted.service_types)
    try:
        create = ExpertCreate.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc)
        errors["__all__"] = messages.FORM_HAS_ERRORS
        return _form_page(request, session, form, errors=errors, status_code=422)
    try:
        expert = create_expert(session=session, data=create, user=user)
    except DomainError as exc:
        session.rollback()
        return _form_page(
            request, session, form, errors=_domain_error_fields(exc), status_code=exc.status_code
        )
    return redirect_with_flash(f"/experts/{expert.id}/status", "expert_created")


@router.get("/experts/{expert_id}/edit", summary="修改专家资料")
def edit_expert_page(
    request: Request, session: SessionDep, user: PoolPage, expert_id: str
) -> Response:
    expert = public_view(
        session=session, expert=get_expert(session=session, expert_id=expert_id[:32])
    )
    return _form_page(request, session, form_from_expert(expert), expert=expert)


@router.post("/experts/{expert_id}/edit", summary="保存专家资料")
def save_expert_page(
    request: Request,
    session: SessionDep,
    user: PoolPage,
    expert_id: str,
    posted: Posted,
    domain: FormText = "",
) -> Response:
    expert = public_view(
        session=session, expert=get_expert(session=session, expert_id=expert_id[:32])
    )
    fields = {**posted.texts, "domain": domain, "region": posted.region}
    form, data = _profile_form(fields, posted.formats, posted.service_types)
    try:
        changes = ExpertUpdate.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc)
        errors["__all__"] = messages.FORM_HAS_ERRORS
        return _form_page(request, session, form, expert=expert, errors=errors, status_code=422)
    before = expert.updated_at
    try:
        updated = update_expert(session=session, expert_id=expert.id, data=changes, user=user)
    except DomainError as exc:
        session.rollback()
        return _form_page(
            request,
            session,
            form,
            expert=expert,
            errors=_domain_error_fields(exc),
            status_code=exc.status_code,
        )
    outcome = "expert_saved" if updated.updated_at != before else "expert_unchanged"
    return redirect_with_flash(f"/experts/{expert.id}/edit", outcome)


# --- import ---------------------------------------------------------------------------------


def _import_page(
    request: Request,
    *,
    report: ImportReport | None = None,
    errors: dict[str, str] | None = None,
    filename: str = "",
    strict: bool = False,
    status_code: int = 200,
) -> Response:
    context = {
        "report": report,
        "errors": errors or {},
        "filename": filename,
        "strict": strict,
        "max_mb": IMPORT_MAX_BYTES // (1024 * 1024),
    }
    return render(request, "experts/pool_import.html", context, status_code=status_code)


@router.get("/expert-pool/import", summary="导入专家")
def import_page(request: Request, user: PoolPage) -> Response:
    return _import_page(request)


@router.post("/expert-pool/import", summary="导入专家文件")
def import_submit(
    request: Request,
    session: SessionDep,
    user: PoolPage,
    file: Annotated[UploadFile | None, File()] = None,
    strict: FormText = "",
) -> Response:
    filename = ((file.filename or "") if file is not None else "")[:200]
    # One byte past the limit is enough to refuse the file; nothing more is read.
    data = file.file.read(IMPORT_MAX_BYTES + 1) if file is not None and filename else b""
    is_strict = strict == "1"
    try:
        lines = upload_lines(data, filename)
    except DomainError as exc:
        return _import_page(
            request,
            errors={"file": exc.message},
            filename=filename,
            strict=is_strict,
            status_code=exc.status_code,
        )
    report = import_experts(session=session, lines=lines, user=user, strict=is_strict)
    report.errors = [replace(e, reason=with_field_labels(e.reason)) for e in report.errors]
    return _import_page(request, report=report, filename=filename, strict=is_strict)


# --- status and verification ----------------------------------------------------------------


def _page(
    request: Request,
    session: Session,
    user: User,
    expert_id: str,
    *,
    errors: dict[str, str] | None = None,
    reason: str = "",
    status_code: int = 200,
) -> Response:
    expert = public_view(session=session, expert=get_expert(session=session, expert_id=expert_id))
    history, _ = list_entries(
        session=session, entity_type="expert", entity_id=expert.id, actions=_ACTIONS, page_size=20
    )
    context = {
        "expert": expert,
        "verification": verifications(session, [expert.id]).get(expert.id),
        "history": describe(history, user),
        "errors": errors or {},
        "reason": reason,
    }
    return render(request, "experts/status.html", context, status_code=status_code)


@router.get("/experts/{expert_id}/status", summary="专家状态与认证")
def status_page(request: Request, session: SessionDep, user: PoolPage, expert_id: str) -> Response:
    return _page(request, session, user, expert_id[:32])


@router.post("/experts/{expert_id}/status", summary="暂停或恢复专家")
def change_status(
    request: Request,
    session: SessionDep,
    user: PoolPage,
    expert_id: str,
    status: FormText = "",
    reason: FormText = "",
) -> Response:
    expert_id = expert_id[:32]
    reason = reason.strip()[:500]
    if status not in (ExpertStatus.paused.value, ExpertStatus.active.value):
        return _page(
            request, session, user, expert_id, errors={"status": messages.FORM_HAS_ERRORS},
            status_code=422,
        )  # fmt: skip
    refused = messages.EXPERT_STATUS_REASON_REQUIRED if not reason else text_error(reason)
    if refused:
        return _page(request, session, user, expert_id, errors={"reason": refused}, status_code=422)
    update_expert(
        session=session,
        expert_id=expert_id,
        data=ExpertAdminUpdate(status=ExpertStatus(status)),
        user=user,
    )
    record(
        session=session,
        actor=actor_for(user),
        action="expert.pause" if status == ExpertStatus.paused.value else "expert.activate",
        entity_type="expert",
        entity_id=expert_id,
        after={"status": status, "reason": reason},
    )
    return redirect_with_flash(f"/experts/{expert_id}/status", "expert_status_changed")


@router.post("/experts/{expert_id}/verify", summary="认证专家")
def verify(request: Request, session: SessionDep, user: PoolPage, expert_id: str) -> Response:
    expert_id = expert_id[:32]
    update_expert(
        session=session,
        expert_id=expert_id,
        data=ExpertAdminUpdate(verified=True),
        user=user,
    )
    record(
        session=session,
        actor=actor_for(user),
        action="expert.verify",
        entity_type="expert",
        entity_id=expert_id,
        after={"verified": True},
    )
    return redirect_with_flash(f"/experts/{expert_id}/status", "expert_verified")
