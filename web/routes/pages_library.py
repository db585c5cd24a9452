"""Pages: the resource library (filters and need search), a resource with its related experts
and services, the submission form, and the review actions. Every rule is the domain's
(marketplace/resources); these routes only turn forms into its calls and its errors into
messages next to the fields."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel import Session, col, select

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action
from marketplace.districts.models import City
from marketplace.errors import Forbidden, InvalidInput, Unavailable
from marketplace.requests.models import PrivacyChoice
from marketplace.resources import service
from marketplace.resources.files import store_for
from marketplace.resources.models import (
    Access,
    Audience,
    ResourceCreate,
    ResourceKind,
    ResourceStatus,
    UseAction,
)
from marketplace.resources.service import search_access
from marketplace.specialties.service import list_specialties
from marketplace.validation import RecordId
from marketplace.vocabulary import Role
from search.service import SearchRequest
from web.deps import SessionDep, SettingsDep, performs
from web.pages import PageUser, field_errors, form_once, login_id, redirect_with_flash
from web.templating import render

router = APIRouter(include_in_schema=False)

FormText = Annotated[str, Form()]
SUBMITTERS = (Role.expert.value, Role.staff.value, Role.admin.value)
RELATED = 4


def _options(session: Session) -> dict[str, Any]:
    return {
        "kinds": [(k.value, messages.RESOURCE_KIND_LABELS[k.value]) for k in ResourceKind],
        "audiences": [(a.value, messages.RESOURCE_AUDIENCE_LABELS[a.value]) for a in Audience],
        "specialties": [(s.name, s.name) for s in list_specialties(session=session)],
        "accesses": [(a.value, messages.RESOURCE_ACCESS_LABELS[a.value]) for a in Access],
        "cities": [(str(c.id), c.name) for c in session.exec(select(City).order_by(col(City.id)))],
    }


def _search_hits(request: Request, session: Session, user: User, q: str, **filters: Any):  # type: ignore[no-untyped-def]
    """Resource hits for a need, as (resource id, reasons); None when search is not available."""
    search = getattr(request.app.state, "search", None)
    if search is None:
        return None
    try:
        found = search.search(
            SearchRequest(
                q=q, kind="resource", access=search_access(session, user), page_size=30, **filters
            )
        )
    except Unavailable:
        return None
    return [(int(h.id), h.reasons) for h in found.hits]


@router.get("/library", summary="资料库", dependencies=[performs(Action.resource_read)])
def library_page(
    request: Request,
    session: SessionDep,
    user: PageUser,
    q: Annotated[str, Query(max_length=200)] = "",
    kind: Annotated[str, Query(max_length=16)] = "",
    audience: Annotated[str, Query(max_length=16)] = "",
    specialty: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    kind = kind if kind in {k.value for k in ResourceKind} else ""
    audience = audience if audience in {a.value for a in Audience} else ""
    q = q.strip()
    reasons: dict[int, list[str]] = {}
    if q:
        hits = _search_hits(
            request,
            session,
            user,
            q,
            resource_kind=kind or None,
            audience=audience or None,
            specialty=specialty or None,
        )
        if hits is None:
            rows = []
        else:
            by_id = {
                r.id: r
                for r in service.list_resources(session=session, user=user)
                if r.id in {i for i, _ in hits}
            }
            rows = [by_id[i] for i, _ in hits if i in by_id]
            reasons = dict(hits)
    else:
        rows = service.list_resources(
            session=session,
            user=user,
            kind=kind or None,
            audience=audience or None,
            specialty=specialty or None,
        )
    queue = (
        service.list_resources(session=session, user=user, status=ResourceStatus.submitted.value)
        if service.is_staff(user)
        else []
    )
    mine = (
        [
            r
            for r in service.list_resources(session=session, user=user, mine=True)
            if r.status != ResourceStatus.published.value
        ]
        if user.role in SUBMITTERS
        else []
    )
    return render(
        request,
        "library/list.html",
        {
            "resources": service.public_views(session=session, resources=rows),
            "reasons": reasons,
            "queue": service.public_views(session=session, resources=queue),
            "mine": service.public_views(session=session, resources=mine),
            "params": {"q": q, "kind": kind, "audience": audience, "specialty": specialty},
            "options": _options(session),
            "can_submit": user.role in SUBMITTERS,
            "labels": messages.RESOURCE_AUDIENCE_LABELS,
            # Authors see the use of what they wrote, staff of everything.
            "authored": {r.id for r in rows if service.is_author(user, r)},
        },
        fragments=("results",),
    )


def _form_page(
    request: Request,
    session: Session,
    form: dict[str, Any],
    errors: dict[str, str] | None = None,
    privacy: list[dict] | None = None,
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "library/new.html",
        {
            "form": form,
            "errors": errors or {},
            "privacy": privacy or [],
            "options": _options(session),
            "nonce": form.get("form_nonce") or secrets.token_urlsafe(16),
        },
        status_code=status_code,
    )


EMPTY_FORM = {
    "kind": "course",
    "title": "",
    "summary": "",
    "body": "",
    "audiences": [],
    "specialties": [],
    "access": "all",
    "region_city_id": "",
    "licence": "",
    "video_url": "",
    "scale_abbreviation": "",
    "scale_items": "",
    "scale_age_range": "",
    "scale_minutes": "",
    "scale_norm_source": "",
    "scale_scoring_notes": "",
}


@router.get("/library/new", summary="提交资料", dependencies=[performs(Action.resource_submit)])
def new_resource_page(request: Request, session: SessionDep, user: PageUser) -> Response:
    if user.role not in SUBMITTERS:
        raise Forbidden(messages.RESOURCE_SUBMITTER_ROLE)
    return _form_page(request, session, dict(EMPTY_FORM))


@router.post("/library", summary="保存并提交资料", dependencies=[performs(Action.resource_submit)])
def create_resource_page(  # noqa: PLR0913 - one parameter per form field
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    file: Annotated[UploadFile | None, File()] = None,
    audiences: Annotated[list[str] | None, Form()] = None,
    specialties: Annotated[list[str] | None, Form()] = None,
    privacy: FormText = "",
    form_nonce: FormText = "",
    kind: FormText = "",
    title: FormText = "",
    summary: FormText = "",
    body: FormText = "",
    access: FormText = "all",
    region_city_id: FormText = "",
    licence: FormText = "",
    video_url: FormText = "",
    scale_abbreviation: FormText = "",
    scale_items: FormText = "",
    scale_age_range: FormText = "",
    scale_minutes: FormText = "",
    scale_norm_source: FormText = "",
    scale_scoring_notes: FormText = "",
) -> Response:
    given = locals()
    form: dict[str, Any] = {
        k: str(given[k])[:20000] for k in EMPTY_FORM if k not in ("audiences", "specialties")
    }
    form["audiences"] = (audiences or [])[:6]
    form["specialties"] = (specialties or [])[:12]
    form["form_nonce"] = form_nonce[:64]
    limit = int(settings.resource_max_mb * 1024 * 1024)
    data = file.file.read(limit + 1) if file is not None and file.filename else b""
    filename = (file.filename or "") if file is not None else ""
    return _create_from_form(request, session, settings, user, form, privacy, data, filename, limit)


def _create_from_form(  # noqa: PLR0913 - the parts of one submitted form
    request: Request,
    session: Session,
    settings: Any,
    user: User,
    form: dict[str, Any],
    privacy_choice: str,
    data: bytes,
    filename: str,
    limit: int,
) -> Response:
    once = form_once(request)
    if once.seen(login_id(request), form["form_nonce"]):
        return redirect_with_flash("/library", "duplicate_submission")
    fields: dict[str, Any] = {k: v for k, v in form.items() if k != "form_nonce" and v != ""}
    for number in ("scale_items", "scale_minutes", "region_city_id"):
        if number in fields and not str(fields[number]).isdigit():
            return _form_page(
                request,
                session,
                form,
                {number: messages.WHOLE_NUMBER_REQUIRED},
                status_code=422,
            )
    if privacy_choice in {p.value for p in PrivacyChoice}:
        fields["privacy"] = privacy_choice
    try:
        payload = ResourceCreate.model_validate(fields)
    except ValidationError as exc:
        return _form_page(request, session, form, field_errors(exc), status_code=422)
    try:
        with session.begin_nested():
            resource = service.create_resource(session=session, data=payload, user=user)
            if data:
                service.add_file(
                    session=session,
                    resource_id=resource.id,  # type: ignore[arg-type]
                    user=user,
                    filename=filename,
                    data=data,
                    store=store_for(settings.data_dir),
                    max_bytes=limit,
                    extract_seconds=settings.resource_extract_seconds,
                )
            service.submit_resource(
                session=session,
                resource_id=resource.id,  # type: ignore[arg-type]
                user=user,
                privacy=payload.privacy,
            )
    except InvalidInput as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        field = details.get("field", "__all__")
        return _form_page(
            request,
            session,
            form,
            {field: exc.message},
            privacy=details.get("privacy") if field != "file" else None,
            status_code=422,
        )
    once.remember(login_id(request), form["form_nonce"])
    return redirect_with_flash(f"/library/{resource.id}", "resource_submitted")


def _related(request: Request, session: Session, user: User, resource) -> dict[str, list]:  # type: ignore[no-untyped-def]
    """Experts and services for the same need as the resource (by its specialties and title)."""
    search = getattr(request.app.state, "search", None)
    if search is None:
        return {"experts": [], "services": []}
    q = " ".join([*resource.specialties, resource.title])
    out: dict[str, list] = {}
    for kind in ("expert", "service"):
        if kind == "service" and user.role == Role.expert.value:
            out[kind + "s"] = []
            continue
        try:
            found = search.search(SearchRequest(q=q, kind=kind, page_size=RELATED))
        except Unavailable:
            found = None
        out[kind + "s"] = found.hits if found else []
    return out


@router.get(
    "/library/{resource_id}", summary="资料详情", dependencies=[performs(Action.resource_read)]
)
def resource_page(
    request: Request, resource_id: RecordId, session: SessionDep, user: PageUser
) -> Response:
    resource = service.get_resource(session=session, resource_id=resource_id, user=user)
    service.record_use(session=session, resource=resource, user=user, action=UseAction.view)
    return _detail(request, session, user, resource)


def _detail(
    request: Request,
    session: Session,
    user: User,
    resource,  # type: ignore[no-untyped-def]
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    view = service.public_view(session=session, resource=resource)
    author = service.is_author(user, resource)
    return render(
        request,
        "library/detail.html",
        {
            "r": view,
            "related": _related(request, session, user, resource),
            "staff": service.is_staff(user),
            "author": author,
            "show_use": service.is_staff(user) or author,
            "errors": errors or {},
            "city": session.get(City, resource.region_city_id) if resource.region_city_id else None,
            "labels": messages.RESOURCE_AUDIENCE_LABELS,
            "access_labels": messages.RESOURCE_ACCESS_LABELS,
        },
        status_code=status_code,
    )


REVIEW_FLASH = {
    "publish": "resource_published",
    "request_changes": "resource_changes_requested",
    "reject": "resource_rejected",
    "retire": "resource_retired",
}


@router.post(
    "/library/{resource_id}/review",
    summary="审核资料",
    dependencies=[performs(Action.resource_manage)],
)
def review_resource_page(
    request: Request,
    resource_id: RecordId,
    session: SessionDep,
    user: PageUser,
    action: FormText = "",
    reason: FormText = "",
    confirm_privacy: FormText = "",
) -> Response:
    if action not in REVIEW_FLASH:
        raise InvalidInput(messages.FORBIDDEN)
    try:
        with session.begin_nested():
            if action == "publish":
                service.publish_resource(
                    session=session,
                    resource_id=resource_id,
                    user=user,
                    privacy=PrivacyChoice.confirm if confirm_privacy else None,
                )
            else:
                reason = reason.strip()[:1000]
                if len(reason) < 2:
                    raise InvalidInput(messages.REASON_REQUIRED, details={"field": "reason"})
                service.decide_resource(
                    session=session,
                    resource_id=resource_id,
                    user=user,
                    decision=action,
                    reason=reason,
                )
    except InvalidInput as exc:
        resource = service.get_resource(session=session, resource_id=resource_id, user=user)
        field = exc.details.get("field", "reason") if isinstance(exc.details, dict) else "reason"
        return _detail(request, session, user, resource, {field: exc.message}, status_code=422)
    return redirect_with_flash(f"/library/{resource_id}", REVIEW_FLASH[action])


@router.post(
    "/library/{resource_id}/versions",
    summary="创建新版本",
    dependencies=[performs(Action.resource_submit)],
)
def new_version_page(
    request: Request, resource_id: RecordId, session: SessionDep, user: PageUser
) -> Response:
    draft = service.new_version(session=session, resource_id=resource_id, user=user)
    return redirect_with_flash(f"/library/{draft.id}", "resource_version_created")


@router.post(
    "/library/{resource_id}/submit",
    summary="提交审核",
    dependencies=[performs(Action.resource_submit)],
)
def submit_resource_page(
    request: Request,
    resource_id: RecordId,
    session: SessionDep,
    user: PageUser,
    confirm_privacy: FormText = "",
) -> Response:
    try:
        with session.begin_nested():
            service.submit_resource(
                session=session,
                resource_id=resource_id,
                user=user,
                privacy=PrivacyChoice.confirm if confirm_privacy else None,
            )
    except InvalidInput as exc:
        resource = service.get_resource(session=session, resource_id=resource_id, user=user)
        return _detail(request, session, user, resource, {"submit": exc.message}, status_code=422)
    return redirect_with_flash(f"/library/{resource_id}", "resource_submitted")


@router.post(
    "/library/{resource_id}/files",
    summary="上传资料文件",
    dependencies=[performs(Action.resource_submit)],
)
def upload_resource_file_page(
    request: Request,
    resource_id: RecordId,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    limit = int(settings.resource_max_mb * 1024 * 1024)
    data = file.file.read(limit + 1) if file is not None else b""
    try:
        with session.begin_nested():
            service.add_file(
                session=session,
                resource_id=resource_id,
                user=user,
                filename=(file.filename or "") if file is not None else "",
                data=data,
                store=store_for(settings.data_dir),
                max_bytes=limit,
                extract_seconds=settings.resource_extract_seconds,
            )
    except InvalidInput as exc:
        resource = service.get_resource(session=session, resource_id=resource_id, user=user)
        return _detail(request, session, user, resource, {"file": exc.message}, status_code=422)
    return redirect_with_flash(f"/library/{resource_id}", "resource_file_added")
