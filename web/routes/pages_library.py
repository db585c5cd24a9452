"""Pages: the resource library (filters and need search), a resource with its related experts
and services, the submission form, and the review actions. Every rule is the domain's
(marketplace/resources); these routes only turn forms into its calls and its errors into
messages next to the fields."""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import ValidationError
from sqlmodel import Session, col, select

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, can
from marketplace.centers.service import label as center_label
from marketplace.errors import Forbidden, InvalidInput, Unavailable
from marketplace.ids import stored_id
from marketplace.requests.models import PrivacyChoice
from marketplace.resources import service
from marketplace.resources.antivirus import antivirus_from
from marketplace.resources.files import store_for
from marketplace.resources.models import (
    Access,
    Audience,
    ResourceCreate,
    ResourceKind,
    ResourceStatus,
    ResourceUpdate,
    UseAction,
)
from marketplace.resources.service import search_access
from marketplace.services.models import ProcuredService, ServiceKind
from marketplace.specialties.service import list_specialties
from marketplace.validation import MAX_RECORD_ID, RecordId
from marketplace.vocabulary import Role
from search.service import SearchRequest
from web.deps import ReadSessionDep, SessionDep, SettingsDep, performs, performs_reading, write_now
from web.pages import (
    PageUser,
    ReadingPageUser,
    field_errors,
    mark_sent,
    redirect_with_flash,
    sent_before,
    text_error,
)
from web.templating import render

router = APIRouter(include_in_schema=False)

FormText = Annotated[str, Form()]
FormList = Annotated[list[str] | None, Form()]
RELATED = 4
LIBRARY_HITS = 200  # a need search on /library lists every hit the search ranks


def _options(session: Session, user: User | None = None) -> dict[str, Any]:
    options: dict[str, Any] = {
        "kinds": [(k.value, messages.RESOURCE_KIND_LABELS[k.value]) for k in ResourceKind],
        "audiences": [(a.value, messages.RESOURCE_AUDIENCE_LABELS[a.value]) for a in Audience],
        "specialties": [(s.name, s.name) for s in list_specialties(session=session)],
        "accesses": [(a.value, messages.RESOURCE_ACCESS_LABELS[a.value]) for a in Access],
    }
    if user is not None:
        options["centers"] = [
            (str(c.id), center_label(c)) for c in service.center_choices(session, user)
        ]
        # Procured assessment-scale licences, for the scale's "licensed by" picker.
        options["licences"] = [
            (str(s.id), f"{s.name}（{s.vendor}）" if s.vendor else s.name)
            for s in session.exec(
                select(ProcuredService)
                .where(ProcuredService.kind == ServiceKind.assessment_licence.value)
                .order_by(col(ProcuredService.valid_to).desc(), col(ProcuredService.id))
            ).all()
        ]
    return options


def _search_hits(request: Request, session: Session, user: User, q: str, **filters: Any):  # type: ignore[no-untyped-def]
    """Resource hits for a need, as (resource id, reasons); None when search is not available."""
    search = getattr(request.app.state, "search", None)
    if search is None:
        return None
    try:
        found = search.search(
            SearchRequest(
                q=q,
                kind="resource",
                access=search_access(session, user),
                page_size=LIBRARY_HITS,
                **filters,
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
        [
            r
            for r in service.list_resources(
                session=session, user=user, status=ResourceStatus.submitted.value
            )
            if service.reviews(session, user, r)
        ]
        if service.is_reviewer(user)
        else []
    )
    mine = (
        [
            r
            for r in service.list_resources(session=session, user=user, mine=True)
            if r.status != ResourceStatus.published.value
        ]
        if service.can_submit(user)
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
            "facets": _facets(rows),
            "options": _options(session),
            "can_submit": service.can_submit(user),
            "labels": messages.RESOURCE_AUDIENCE_LABELS,
            # Authors see the use of what they wrote, reviewers of what they review.
            "authored": {
                r.id
                for r in rows
                if service.is_author(user, r) or service.reviews(session, user, r)
            },
        },
        fragments=("results",),
    )


def _facets(rows: list) -> dict[str, list[tuple[str, str, int]]]:
    """Kind and audience counts over the listed resources: (value, label, count), clickable."""
    kinds = Counter(r.kind for r in rows)
    audiences = Counter(a for r in rows for a in set(r.audiences))
    return {
        "kind": [
            (v, label, kinds[v]) for v, label in messages.RESOURCE_KIND_LABELS.items() if kinds[v]
        ],
        "audience": [
            (v, label, audiences[v])
            for v, label in messages.RESOURCE_AUDIENCE_LABELS.items()
            if audiences[v]
        ],
    }


def _form_page(  # noqa: PLR0913 - the parts of one form page
    request: Request,
    session: Session,
    user: User,
    form: dict[str, Any],
    errors: dict[str, str] | None = None,
    privacy: list[dict] | None = None,
    status_code: int = 200,
    resource: Any = None,
) -> Response:
    """The submission form, or (with `resource`) the form editing a draft."""
    return render(
        request,
        "library/new.html",
        {
            "form": form,
            "errors": errors or {},
            "privacy": privacy or [],
            "options": _options(session, user),
            "nonce": form.get("form_nonce") or secrets.token_urlsafe(16),
            "r": None
            if resource is None
            else service.public_view(session=session, resource=resource),
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
    "center_id": "",
    "licence": "",
    "video_url": "",
    "scale_abbreviation": "",
    "scale_items": "",
    "scale_age_range": "",
    "scale_minutes": "",
    "scale_norm_source": "",
    "scale_scoring_notes": "",
    "licensed_by_service_id": "",
    "change_reason": "",
}
NUMBER_FIELDS = ("scale_items", "scale_minutes", "center_id", "licensed_by_service_id")
LIST_FIELDS = ("audiences", "specialties")


@router.get("/library/new", summary="提交资料", dependencies=[performs(Action.resource_submit)])
def new_resource_page(request: Request, session: SessionDep, user: PageUser) -> Response:
    if not service.can_submit(user):
        raise Forbidden(messages.RESOURCE_SUBMITTER_ROLE)
    form = dict(EMPTY_FORM)
    publisher = service.publishing_center(session, user)
    form["center_id"] = str(publisher.id) if publisher else ""
    return _form_page(request, session, user, form)


def _read_form(given: dict[str, Any]) -> dict[str, Any]:
    """The submitted form as it is shown again (bounded), from the route's parameters."""
    form: dict[str, Any] = {
        k: str(given.get(k) or "")[:20000] for k in EMPTY_FORM if k not in LIST_FIELDS
    }
    form["audiences"] = (given.get("audiences") or [])[:6]
    form["specialties"] = (given.get("specialties") or [])[:12]
    form["form_nonce"] = str(given.get("form_nonce") or "")[:64]
    return form


@dataclass(frozen=True)
class ResourceForm:
    """The posted submission form: its fields as shown again (bounded) and the privacy choice."""

    fields: dict[str, Any]
    privacy: str


def _resource_form(  # noqa: PLR0913 - one parameter per form field
    audiences: FormList = None,
    specialties: FormList = None,
    privacy: FormText = "",
    form_nonce: FormText = "",
    kind: FormText = "",
    title: FormText = "",
    summary: FormText = "",
    body: FormText = "",
    access: FormText = "all",
    center_id: FormText = "",
    licence: FormText = "",
    video_url: FormText = "",
    scale_abbreviation: FormText = "",
    scale_items: FormText = "",
    scale_age_range: FormText = "",
    scale_minutes: FormText = "",
    scale_norm_source: FormText = "",
    scale_scoring_notes: FormText = "",
    licensed_by_service_id: FormText = "",
    change_reason: FormText = "",
) -> ResourceForm:
    """The create and edit forms post the same fields (edit adds the change reason)."""
    return ResourceForm(fields=_read_form(locals()), privacy=privacy)


ResourceFormDep = Annotated[ResourceForm, Depends(_resource_form)]


async def _upload(settings: Any, file: UploadFile | None) -> tuple[bytes, str, int]:
    limit = int(settings.resource_max_mb * 1024 * 1024)
    data = await file.read(limit + 1) if file is not None and file.filename else b""
    return data, (file.filename or "") if file is not None else "", limit


async def _prepared(settings: Any, data: bytes, filename: str, limit: int) -> Any:
    """The upload checked, scanned and extracted on no write lock (None without a file)."""
    if not data:
        return None
    return await run_in_threadpool(
        partial(
            service.prepare_file,
            filename=filename,
            data=data,
            max_bytes=limit,
            extract_seconds=settings.resource_extract_seconds,
            antivirus=antivirus_from(settings.antivirus_command, settings.antivirus_seconds),
        )
    )


def _whole_number(text: str) -> bool:
    """ASCII digits within a database id (str.isdigit admits "²", which int() refuses)."""
    return text.isascii() and text.isdigit() and int(text) <= MAX_RECORD_ID


def _number_error(form: dict[str, Any]) -> dict[str, str] | None:
    for number in NUMBER_FIELDS:
        if form.get(number) and not _whole_number(str(form[number])):
            return {number: messages.WHOLE_NUMBER_REQUIRED}
    return None


def _domain_error(exc: InvalidInput) -> tuple[dict[str, str], list[dict] | None]:
    details = exc.details if isinstance(exc.details, dict) else {}
    field = details.get("field", "__all__")
    return {field: exc.message}, details.get("privacy") if field != "file" else None


# The form posts read first and write last: the user is found and the upload checked, scanned
# and extracted on the read session, holding no write lock; only the store and the state change
# wait in the write queue (write_now), in one savepoint, so a refusal stores nothing.


@router.post(
    "/library", summary="保存并提交资料", dependencies=[performs_reading(Action.resource_submit)]
)
async def create_resource_page(
    request: Request,
    session: ReadSessionDep,
    settings: SettingsDep,
    user: ReadingPageUser,
    posted: ResourceFormDep,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    form, privacy = posted.fields, posted.privacy
    if not service.can_submit(user):
        raise Forbidden(messages.RESOURCE_SUBMITTER_ROLE)

    async def again(errors: dict[str, str], privacy_found: list[dict] | None = None) -> Response:
        return await run_in_threadpool(
            partial(_form_page, request, session, user, form, errors, privacy_found, 422)
        )

    if sent_before(request, form["form_nonce"]):
        return redirect_with_flash("/library", "duplicate_submission")
    bad_number = _number_error(form)
    if bad_number:
        return await again(bad_number)
    fields: dict[str, Any] = {
        k: v
        for k, v in form.items()
        if k not in ("form_nonce", "change_reason") and v != "" and v != []
    }
    if privacy in {p.value for p in PrivacyChoice}:
        fields["privacy"] = privacy
    try:
        payload = ResourceCreate.model_validate(fields)
    except ValidationError as exc:
        return await again(field_errors(exc))
    data, filename, limit = await _upload(settings, file)

    def write(writing: Session) -> int:
        with writing.begin_nested():
            resource = service.create_resource(session=writing, data=payload, user=user)
            resource_id: int = resource.id  # type: ignore[assignment]
            if prepared is not None:
                service.attach_file(
                    session=writing,
                    resource_id=resource_id,
                    user=user,
                    prepared=prepared,
                    store=store_for(settings.data_dir),
                )
            service.submit_resource(
                session=writing, resource_id=resource_id, user=user, privacy=payload.privacy
            )
            return resource_id

    try:
        prepared = await _prepared(settings, data, filename, limit)
        new_id = await write_now(session, write)
    except InvalidInput as exc:
        return await again(*_domain_error(exc))
    mark_sent(request, form["form_nonce"])
    return redirect_with_flash(f"/library/{new_id}", "resource_submitted")


def _form_of(resource: Any) -> dict[str, Any]:
    """A draft's fields as the form shows them."""
    form: dict[str, Any] = {}
    for name in EMPTY_FORM:
        value = getattr(resource, name)
        form[name] = list(value) if name in LIST_FIELDS else "" if value is None else str(value)
    return form


@router.get(
    "/library/{resource_id}/edit",
    summary="修改资料",
    dependencies=[performs(Action.resource_submit)],
)
def edit_resource_page(
    request: Request, resource_id: RecordId, session: SessionDep, user: PageUser
) -> Response:
    resource = service.editable_resource(session=session, resource_id=resource_id, user=user)
    return _form_page(request, session, user, _form_of(resource), resource=resource)


@router.post(
    "/library/{resource_id}/edit",
    summary="保存修改并重新提交",
    dependencies=[performs_reading(Action.resource_submit)],
)
async def update_resource_page(
    request: Request,
    resource_id: RecordId,
    session: ReadSessionDep,
    settings: SettingsDep,
    user: ReadingPageUser,
    posted: ResourceFormDep,
    file: Annotated[UploadFile | None, File()] = None,
    remove_files: FormList = None,
    intent: FormText = "submit",
) -> Response:
    form, privacy = posted.fields, posted.privacy
    resource = await run_in_threadpool(
        partial(service.editable_resource, session=session, resource_id=resource_id, user=user)
    )
    form["kind"] = resource.kind

    async def again(errors: dict[str, str], privacy_found: list[dict] | None = None) -> Response:
        def page() -> Response:
            session.refresh(resource)
            return _form_page(
                request, session, user, form, errors, privacy_found, 422, resource=resource
            )

        return await run_in_threadpool(page)

    bad_number = _number_error(form)
    if bad_number:
        return await again(bad_number)
    changes: dict[str, Any] = {
        k: (int(v) if v else None) if k in NUMBER_FIELDS else v
        for k, v in form.items()
        if k not in ("form_nonce", "kind")
    }
    if privacy in {p.value for p in PrivacyChoice}:
        changes["privacy"] = privacy
    try:
        payload = ResourceUpdate.model_validate(changes)
    except ValidationError as exc:
        return await again(field_errors(exc))
    # A version waiting for review is revised by its reviewer: a new version, ready to publish.
    revising = resource.status == ResourceStatus.submitted.value
    submit = intent != "save" and not revising
    if (submit and resource.version > 1 or revising) and not payload.change_reason:
        return await again({"change_reason": messages.RESOURCE_CHANGE_REASON_REQUIRED})
    data, filename, limit = await _upload(settings, file)
    saved = [resource_id]
    removed = [i for i in remove_files or [] if _whole_number(i)]

    def write(writing: Session) -> None:
        with writing.begin_nested():
            if revising:
                revision = service.revise_submitted(
                    session=writing,
                    resource_id=resource_id,
                    data=payload,
                    user=user,
                    left_out_files=frozenset(int(i) for i in removed),
                )
                saved[0] = stored_id(revision)
            else:
                service.update_resource(
                    session=writing, resource_id=resource_id, data=payload, user=user
                )
            for file_id in [] if revising else removed:
                if _whole_number(file_id):
                    service.remove_file(
                        session=writing, resource_id=saved[0], file_id=int(file_id), user=user
                    )
            if prepared is not None:
                service.attach_file(
                    session=writing,
                    resource_id=saved[0],
                    user=user,
                    prepared=prepared,
                    store=store_for(settings.data_dir),
                )
            if submit or revising:
                service.submit_resource(
                    session=writing, resource_id=saved[0], user=user, privacy=payload.privacy
                )

    try:
        prepared = await _prepared(settings, data, filename, limit)
        await write_now(session, write)
    except InvalidInput as exc:
        return await again(*_domain_error(exc))
    flash = (
        "resource_revised" if revising else "resource_resubmitted" if submit else "resource_saved"
    )
    return redirect_with_flash(f"/library/{saved[0]}", flash)


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
    reviewer = service.reviews(session, user, resource)
    licence = (
        session.get(ProcuredService, resource.licensed_by_service_id)
        if resource.licensed_by_service_id
        else None
    )
    return render(
        request,
        "library/detail.html",
        {
            "r": view,
            "related": _related(request, session, user, resource),
            "staff": reviewer,
            "author": author,
            "show_use": reviewer or author,
            "errors": errors or {},
            "labels": messages.RESOURCE_AUDIENCE_LABELS,
            "access_labels": messages.RESOURCE_ACCESS_LABELS,
            "licence_service": licence,
            "can_read_services": can(user, Action.service_read),
            "history": service.version_history(session=session, resource_id=resource.id, user=user),
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
                refused = text_error(reason)
                if refused:
                    raise InvalidInput(refused, details={"field": "reason"})
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
    request: Request,
    resource_id: RecordId,
    session: SessionDep,
    user: PageUser,
    change_reason: FormText = "",
) -> Response:
    reason = change_reason.strip()[:1000]
    refused = messages.RESOURCE_CHANGE_REASON_REQUIRED if len(reason) < 2 else text_error(reason)
    if refused:
        resource = service.get_resource(session=session, resource_id=resource_id, user=user)
        return _detail(
            request, session, user, resource, {"change_reason": refused}, status_code=422
        )
    draft = service.new_version(
        session=session, resource_id=resource_id, user=user, change_reason=reason
    )
    return redirect_with_flash(f"/library/{draft.id}/edit", "resource_version_created")


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
    dependencies=[performs_reading(Action.resource_submit)],
)
async def upload_resource_file_page(
    request: Request,
    resource_id: RecordId,
    session: ReadSessionDep,
    settings: SettingsDep,
    user: ReadingPageUser,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    await run_in_threadpool(
        partial(service.editable_resource, session=session, resource_id=resource_id, user=user)
    )
    limit = int(settings.resource_max_mb * 1024 * 1024)
    data = await file.read(limit + 1) if file is not None else b""
    try:
        prepared = await _prepared(settings, data, (file.filename or "") if file else "", limit)
        if prepared is None:
            raise InvalidInput(messages.RESOURCE_FILE_EMPTY, details={"field": "file"})
        await write_now(
            session,
            lambda writing: service.attach_file(
                session=writing,
                resource_id=resource_id,
                user=user,
                prepared=prepared,
                store=store_for(settings.data_dir),
            ),
        )
    except InvalidInput as exc:
        error = exc.message

        def page() -> Response:
            resource = service.get_resource(session=session, resource_id=resource_id, user=user)
            return _detail(request, session, user, resource, {"file": error}, 422)

        return await run_in_threadpool(page)
    return redirect_with_flash(f"/library/{resource_id}", "resource_file_added")
