"""Resource-library API: the library, submissions, files, review actions and versions."""

from __future__ import annotations

from functools import partial
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse

from marketplace.accounts.permissions import Action
from marketplace.resources import service
from marketplace.resources.antivirus import antivirus_from
from marketplace.resources.files import store_for
from marketplace.resources.models import (
    Audience,
    PublishBody,
    ReasonBody,
    ResourceCreate,
    ResourceFilePublic,
    ResourceKind,
    ResourcePublic,
    ResourceStatus,
    ResourceUpdate,
    SubmitBody,
    UseAction,
    VersionBody,
)
from marketplace.settings import Settings
from marketplace.validation import RecordId
from web.deps import (
    CurrentUser,
    ReadingUser,
    ReadSessionDep,
    ResourceReviewer,
    SessionDep,
    SettingsDep,
    performs,
    performs_reading,
    write_now,
)

router = APIRouter(prefix="/api/resources", tags=["resources"])


def max_bytes(settings: Settings) -> int:
    return int(settings.resource_max_mb * 1024 * 1024)


@router.get(
    "",
    response_model=list[ResourcePublic],
    summary="资料库 / list resources",
    dependencies=[performs(Action.resource_read)],
)
def list_resources_route(
    session: SessionDep,
    user: CurrentUser,
    kind: ResourceKind | None = None,
    audience: Audience | None = None,
    specialty: Annotated[str | None, Query(max_length=64)] = None,
    status: ResourceStatus | None = None,
    mine: bool = False,
) -> list[ResourcePublic]:
    """The published library (filtered); `mine` lists the caller's own submissions, any state."""
    rows = service.list_resources(
        session=session,
        user=user,
        kind=kind,
        audience=audience,
        specialty=specialty,
        status=status,
        mine=mine,
    )
    return service.public_views(session=session, resources=rows)


@router.post(
    "",
    response_model=ResourcePublic,
    status_code=201,
    summary="新建资料草稿",
    dependencies=[performs(Action.resource_submit)],
)
def create_resource_route(
    data: ResourceCreate, session: SessionDep, user: CurrentUser
) -> ResourcePublic:
    resource = service.create_resource(session=session, data=data, user=user)
    return service.public_view(session=session, resource=resource)


@router.get(
    "/{resource_id}",
    response_model=ResourcePublic,
    summary="资料详情",
    dependencies=[performs(Action.resource_read)],
)
def read_resource(resource_id: RecordId, session: SessionDep, user: CurrentUser) -> ResourcePublic:
    resource = service.get_resource(session=session, resource_id=resource_id, user=user)
    service.record_use(session=session, resource=resource, user=user, action=UseAction.view)
    return service.public_view(session=session, resource=resource)


@router.patch(
    "/{resource_id}",
    response_model=ResourcePublic,
    summary="修改资料草稿",
    dependencies=[performs(Action.resource_submit)],
)
def update_resource_route(
    resource_id: RecordId, data: ResourceUpdate, session: SessionDep, user: CurrentUser
) -> ResourcePublic:
    resource = service.update_resource(
        session=session, resource_id=resource_id, data=data, user=user
    )
    return service.public_view(session=session, resource=resource)


@router.post(
    "/{resource_id}/files",
    response_model=ResourceFilePublic,
    status_code=201,
    summary="上传资料文件（PDF、DOCX、PPTX、PNG、JPEG）",
    dependencies=[performs_reading(Action.resource_submit)],
)
async def upload_resource_file(
    resource_id: RecordId,
    session: ReadSessionDep,
    settings: SettingsDep,
    user: ReadingUser,
    file: Annotated[UploadFile, File()],
) -> ResourceFilePublic:
    # Read first, write last: the draft is checked, the upload scanned (the antivirus hook) and
    # its text extracted in a child process on the read session, holding no write lock; only the
    # store waits in the write queue.
    await run_in_threadpool(
        partial(service.editable_resource, session=session, resource_id=resource_id, user=user)
    )
    limit = max_bytes(settings)
    data = await file.read(limit + 1)
    prepared = await run_in_threadpool(
        partial(
            service.prepare_file,
            filename=file.filename or "",
            data=data,
            max_bytes=limit,
            extract_seconds=settings.resource_extract_seconds,
            antivirus=antivirus_from(settings.antivirus_command, settings.antivirus_seconds),
        )
    )
    row = await write_now(
        session,
        lambda writing: service.attach_file(
            session=writing,
            resource_id=resource_id,
            user=user,
            prepared=prepared,
            store=store_for(settings.data_dir),
        ),
    )
    return ResourceFilePublic(
        id=row.id,  # type: ignore[arg-type]
        filename=row.filename,
        media_type=row.media_type,
        size=row.size,
        text_status=row.text_status,
        scanned=row.text_status == "scanned",
    )


@router.get(
    "/{resource_id}/files/{file_id}",
    summary="下载资料文件",
    dependencies=[performs(Action.resource_read)],
)
def download_resource_file(
    resource_id: RecordId,
    file_id: RecordId,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
) -> FileResponse:
    resource, row = service.get_file(
        session=session, resource_id=resource_id, file_id=file_id, user=user
    )
    service.record_use(
        session=session, resource=resource, user=user, action=UseAction.download, file_id=row.id
    )
    path = service.file_path(store_for(settings.data_dir), row)
    return FileResponse(
        path,
        media_type=row.media_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(row.filename)}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


@router.post(
    "/{resource_id}/submit",
    response_model=ResourcePublic,
    summary="提交审核",
    dependencies=[performs(Action.resource_submit)],
)
def submit_resource_route(
    resource_id: RecordId, session: SessionDep, user: CurrentUser, data: SubmitBody | None = None
) -> ResourcePublic:
    resource = service.submit_resource(
        session=session,
        resource_id=resource_id,
        user=user,
        privacy=data.privacy if data else None,
    )
    return service.public_view(session=session, resource=resource)


@router.post("/{resource_id}/publish", response_model=ResourcePublic, summary="审核通过并发布")
def publish_resource_route(
    resource_id: RecordId,
    session: SessionDep,
    user: ResourceReviewer,
    data: PublishBody | None = None,
) -> ResourcePublic:
    resource = service.publish_resource(
        session=session, resource_id=resource_id, user=user, privacy=data.privacy if data else None
    )
    return service.public_view(session=session, resource=resource)


def _decide(decision: str, resource_id: int, session, user, data: ReasonBody) -> ResourcePublic:  # type: ignore[no-untyped-def]
    resource = service.decide_resource(
        session=session, resource_id=resource_id, user=user, decision=decision, reason=data.reason
    )
    return service.public_view(session=session, resource=resource)


@router.post(
    "/{resource_id}/request-changes", response_model=ResourcePublic, summary="退回作者修改"
)
def request_changes_route(
    resource_id: RecordId, data: ReasonBody, session: SessionDep, user: ResourceReviewer
) -> ResourcePublic:
    return _decide("request_changes", resource_id, session, user, data)


@router.post("/{resource_id}/reject", response_model=ResourcePublic, summary="驳回")
def reject_route(
    resource_id: RecordId, data: ReasonBody, session: SessionDep, user: ResourceReviewer
) -> ResourcePublic:
    return _decide("reject", resource_id, session, user, data)


@router.post("/{resource_id}/retire", response_model=ResourcePublic, summary="下架")
def retire_route(
    resource_id: RecordId, data: ReasonBody, session: SessionDep, user: ResourceReviewer
) -> ResourcePublic:
    return _decide("retire", resource_id, session, user, data)


@router.post(
    "/{resource_id}/versions",
    response_model=ResourcePublic,
    status_code=201,
    summary="创建新版本",
    dependencies=[performs(Action.resource_submit)],
)
def new_version_route(
    resource_id: RecordId, session: SessionDep, user: CurrentUser, data: VersionBody | None = None
) -> ResourcePublic:
    draft = service.new_version(
        session=session,
        resource_id=resource_id,
        user=user,
        change_reason=data.change_reason if data else "",
    )
    return service.public_view(session=session, resource=draft)


@router.get(
    "/{resource_id}/versions",
    response_model=list[ResourcePublic],
    summary="版本历史",
    dependencies=[performs(Action.resource_read)],
)
def list_versions_route(
    resource_id: RecordId, session: SessionDep, user: CurrentUser
) -> list[ResourcePublic]:
    rows = service.versions_of(session=session, resource_id=resource_id, user=user)
    return service.public_views(session=session, resources=rows)
