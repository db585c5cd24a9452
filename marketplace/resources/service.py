"""The resource library: drafts, files, review, publication, versions, retirement and use."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import Session, col, func, select

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, can, covers_center, sees_everything
from marketplace.accounts.principal import actor_for
from marketplace.audit.service import record, save_and_record
from marketplace.centers.models import ResourceCenter
from marketplace.centers.service import label as center_label
from marketplace.centers.service import province_center
from marketplace.clock import utcnow
from marketplace.db import write_later
from marketplace.districts.models import City, District
from marketplace.errors import Conflict, Forbidden, InvalidInput, NotFound
from marketplace.experts.models import Expert
from marketplace.ids import stored_id
from marketplace.outbox.service import enqueue
from marketplace.privacy import Finding, find_personal_data, mask
from marketplace.requests.models import PrivacyChoice
from marketplace.resources.antivirus import Antivirus
from marketplace.resources.files import FileStore, detect_type, extract_text, safe_filename
from marketplace.resources.models import (
    EDITABLE,
    Access,
    Resource,
    ResourceCreate,
    ResourceFile,
    ResourceFilePublic,
    ResourceKind,
    ResourcePublic,
    ResourceStatus,
    ResourceUpdate,
    ResourceUse,
    UseAction,
)
from marketplace.services.models import ProcuredService
from marketplace.specialties.models import Specialty
from marketplace.vocabulary import Role

MAX_FILES = 10
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
SCREENED_FIELDS = ("title", "summary", "body")


def is_staff(user: User) -> bool:
    """Whether `user` reviews the whole library (province staff and admins)."""
    return sees_everything(user, Action.resource_manage)


def is_reviewer(user: User) -> bool:
    """Whether `user` reviews some of the library (province staff, or a city center's)."""
    return can(user, Action.resource_manage)


def reviews(session: Session, user: User, resource: Resource) -> bool:
    """Whether `user` reviews `resource`: province staff all, a city center's staff what is
    published by or for their center."""
    return covers_center(session, user, Action.resource_manage, center_id=resource.center_id)


def can_submit(user: User) -> bool:
    return can(user, Action.resource_submit)


def is_author(user: User, resource: Resource) -> bool:
    """The submitter, or an expert named among the authors."""
    if resource.submitted_by is not None and resource.submitted_by == user.id:
        return True
    return user.expert_id is not None and user.expert_id in resource.author_expert_ids


def open_centers(session: Session, user: User) -> frozenset[int]:
    """The centers whose region holds `user`: a coordinator's city center and province center;
    a center user's own center and the province center above it."""
    if user.district_id is not None:
        district = session.get(District, user.district_id)
        city = session.get(City, district.city_id) if district else None
        if city is None:
            return frozenset()
        rows = session.exec(
            select(ResourceCenter.id).where(
                or_(
                    col(ResourceCenter.city_id) == city.id,
                    and_(
                        col(ResourceCenter.city_id).is_(None),
                        col(ResourceCenter.province_id) == city.province_id,
                    ),
                )
            )
        ).all()
        return frozenset(i for i in rows if i is not None)
    own = session.get(ResourceCenter, user.center_id) if user.center_id else None
    if own is None:
        return frozenset()
    rows = session.exec(
        select(ResourceCenter.id).where(
            col(ResourceCenter.city_id).is_(None), ResourceCenter.province_id == own.province_id
        )
    ).all()
    return frozenset({stored_id(own), *(i for i in rows if i is not None)})


def can_see(
    session: Session, user: User, resource: Resource, centers: frozenset[int] | None = None
) -> bool:
    """Reviewers and authors see everything of theirs; others the published material open to
    them: to all, to the publishing center's region when they are in it, or to staff."""
    if is_author(user, resource) or reviews(session, user, resource):
        return True
    if resource.status != ResourceStatus.published.value:
        return False
    if resource.access == Access.all.value:
        return True
    if centers is None:
        centers = open_centers(session, user)
    if resource.access == Access.region.value:
        return resource.center_id in centers
    return is_reviewer(user) and resource.center_id in centers


def _get(session: Session, resource_id: int) -> Resource:
    resource = session.get(Resource, resource_id)
    if resource is None:
        raise NotFound(messages.RESOURCE_NOT_FOUND.format(id=resource_id))
    return resource


def get_resource(*, session: Session, resource_id: int, user: User) -> Resource:
    """The resource if `user` may see it; 404 otherwise (drafts and retired ones do not exist
    for districts)."""
    resource = _get(session, resource_id)
    if not can_see(session, user, resource):
        raise NotFound(messages.RESOURCE_NOT_FOUND.format(id=resource_id))
    return resource


def _editable_by(session: Session, user: User, resource_id: int) -> Resource:
    resource = get_resource(session=session, resource_id=resource_id, user=user)
    if not (reviews(session, user, resource) or is_author(user, resource)):
        raise Forbidden(messages.FORBIDDEN)
    if resource.status not in EDITABLE:
        raise Conflict(
            messages.RESOURCE_NOT_EDITABLE.format(
                status=messages.RESOURCE_STATUS_LABELS[resource.status]
            ),
            details={"code": "not_editable", "field": "status"},
        )
    return resource


def editable_resource(*, session: Session, resource_id: int, user: User) -> Resource:
    """A draft (or one returned for changes) that `user` may edit: its author or reviewer; or a
    version waiting for review, which its reviewers may revise (`revise_submitted`)."""
    resource = get_resource(session=session, resource_id=resource_id, user=user)
    if resource.status == ResourceStatus.submitted.value and reviews(session, user, resource):
        return resource
    return _editable_by(session, user, resource_id)


def check_references(session: Session, fields: dict) -> None:
    names = fields.get("specialties")
    if names:
        known = set(
            session.exec(select(Specialty.name).where(col(Specialty.name).in_(names))).all()
        )
        unknown = [n for n in names if n not in known]
        if unknown:
            raise InvalidInput(
                messages.RESOURCE_UNKNOWN_SPECIALTIES.format(names="、".join(unknown)),
                details={"field": "specialties"},
            )
    ids = fields.get("author_expert_ids")
    if ids:
        known = set(session.exec(select(Expert.id).where(col(Expert.id).in_(ids))).all())
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise InvalidInput(
                messages.RESOURCE_UNKNOWN_EXPERTS.format(ids="、".join(unknown)),
                details={"field": "author_expert_ids"},
            )
    service_id = fields.get("licensed_by_service_id")
    if service_id is not None and session.get(ProcuredService, service_id) is None:
        raise InvalidInput(
            messages.RESOURCE_UNKNOWN_SERVICE.format(id=service_id),
            details={"field": "licensed_by_service_id"},
        )
    center_id = fields.get("center_id")
    if center_id is not None and session.get(ResourceCenter, center_id) is None:
        raise InvalidInput(
            messages.RESOURCE_UNKNOWN_CENTER.format(id=center_id), details={"field": "center_id"}
        )


def finding_kinds(findings: list[Finding]) -> str:
    return "、".join(dict.fromkeys(f.label for f in findings))


def _screen_fields(resource: Resource, choice: PrivacyChoice | None, message: str) -> None:
    """Student data in a case's text fields: refused, masked or confirmed by the writer."""
    if resource.kind != ResourceKind.case.value:
        return
    findings = {name: find_personal_data(getattr(resource, name)) for name in SCREENED_FIELDS}
    found = [f for fs in findings.values() for f in fs]
    if not found:
        return
    if choice == PrivacyChoice.confirm:
        resource.privacy_confirmed = True
        return
    if choice == PrivacyChoice.mask:
        for name, fs in findings.items():
            if fs:
                setattr(resource, name, mask(getattr(resource, name), fs))
        return
    raise InvalidInput(
        message.format(kinds=finding_kinds(found)),
        details={
            "code": "privacy",
            "field": "body",
            "privacy": [f.as_dict() for f in found],
            "choices": ["mask", "confirm"],
        },
    )


def create_resource(*, session: Session, data: ResourceCreate, user: User) -> Resource:
    """A draft submitted by an expert (named among its authors) or by staff."""
    if not can_submit(user):
        raise Forbidden(messages.RESOURCE_SUBMITTER_ROLE)
    fields = data.model_dump(exclude={"privacy"}, mode="json")
    fields["specialties"] = list(dict.fromkeys(fields["specialties"]))
    if user.role == Role.expert.value and user.expert_id:
        authors = [user.expert_id, *fields["author_expert_ids"]]
        fields["author_expert_ids"] = list(dict.fromkeys(authors))
    check_references(session, fields)
    resource = Resource(**fields, submitted_by=user.id)
    publisher = _publisher(session, user, resource.center_id)
    if publisher is not None:
        resource.center_id = publisher.id
        resource.center = resource.center or center_label(publisher)
    if not resource.author_names:
        resource.author_names = expert_names(session, resource.author_expert_ids) or [
            user.display_name or user.username
        ]
    _screen_fields(resource, data.privacy, messages.RESOURCE_PRIVACY_FINDINGS)
    session.add(resource)
    session.flush()
    resource.lineage_id = resource.id
    session.add(resource)
    record(
        session=session,
        actor=actor_for(user),
        action="resource.create",
        entity_type="resource",
        entity_id=str(resource.id),
        after={"title": resource.title, "kind": resource.kind},
    )
    return resource


def publishing_center(session: Session, user: User) -> ResourceCenter | None:
    """The center a submission is published by: the submitter's own, else the province's."""
    own = session.get(ResourceCenter, user.center_id) if user.center_id else None
    return own or province_center(session=session)


def _publisher(session: Session, user: User, chosen: int | None) -> ResourceCenter | None:
    """The chosen publishing center, which a city center's staff may only choose as their own;
    by default the submitter's own center, else the province's."""
    if chosen is None:
        return publishing_center(session, user)
    if not (is_staff(user) or user.center_id is None or chosen == user.center_id):
        raise InvalidInput(messages.RESOURCE_CENTER_NOT_YOURS, details={"field": "center_id"})
    return session.get(ResourceCenter, chosen)


def center_choices(session: Session, user: User) -> list[ResourceCenter]:
    """The centers `user` may publish under (province first, then the cities)."""
    rows = list(
        session.exec(
            select(ResourceCenter).order_by(
                col(ResourceCenter.city_id).is_not(None), col(ResourceCenter.id)
            )
        ).all()
    )
    if is_staff(user) or user.center_id is None:
        return rows
    return [c for c in rows if c.id == user.center_id]


def expert_names(session: Session, expert_ids: list[str]) -> list[str]:
    if not expert_ids:
        return []
    experts = {
        e.id: e.name for e in session.exec(select(Expert).where(col(Expert.id).in_(expert_ids)))
    }
    return [experts[i] for i in expert_ids if i in experts]


def update_resource(
    *, session: Session, resource_id: int, data: ResourceUpdate, user: User
) -> Resource:
    """Edit a draft (or one returned for changes)."""
    return _apply_changes(session, user, _editable_by(session, user, resource_id), data)


def _apply_changes(
    session: Session, user: User, resource: Resource, data: ResourceUpdate
) -> Resource:
    changes = data.model_dump(exclude_unset=True, exclude={"privacy"}, mode="json")
    check_references(session, changes)
    if changes.get("center_id") not in (None, resource.center_id):
        publisher = _publisher(session, user, changes["center_id"])
        if publisher is not None and resource.center == center_label_of(session, resource):
            changes["center"] = center_label(publisher)
    elif "center_id" in changes:
        del changes["center_id"]
    for key, value in changes.items():
        setattr(resource, key, value)
    _screen_fields(resource, data.privacy, messages.RESOURCE_PRIVACY_FINDINGS)
    resource.updated_at = utcnow()
    session.add(resource)
    return resource


@dataclass(frozen=True)
class PreparedFile:
    """An upload that passed every check that needs no database (size, type from content, the
    virus scan, text extraction, student data): ready to store."""

    data: bytes
    filename: str
    media_type: str
    text: str
    text_status: str


def prepare_file(
    *,
    filename: str,
    data: bytes,
    max_bytes: int = DEFAULT_MAX_BYTES,
    extract_seconds: float | None = None,
    antivirus: Antivirus | None = None,
) -> PreparedFile:
    """Check, scan and extract one upload (slow: call it holding no write lock)."""
    if len(data) > max_bytes:
        raise InvalidInput(
            messages.RESOURCE_FILE_TOO_LARGE.format(mb=round(max_bytes / 1024 / 1024, 1)),
            details={"code": "too_large", "field": "file"},
        )
    if not data:
        raise InvalidInput(messages.RESOURCE_FILE_EMPTY, details={"field": "file"})
    media_type = detect_type(data)
    if antivirus is not None:
        antivirus.check(data)
    extracted = (
        extract_text(data, media_type)
        if extract_seconds is None
        else extract_text(data, media_type, seconds=extract_seconds)
    )
    findings = find_personal_data(extracted.text)
    if findings:
        raise InvalidInput(
            messages.RESOURCE_FILE_PERSONAL_DATA.format(kinds=finding_kinds(findings)),
            details={
                "code": "privacy",
                "field": "file",
                "privacy": [f.as_dict() for f in findings],
            },
        )
    return PreparedFile(
        data=data,
        filename=safe_filename(filename, media_type),
        media_type=media_type,
        text=extracted.text,
        text_status=extracted.status,
    )


def attach_file(
    *, session: Session, resource_id: int, user: User, prepared: PreparedFile, store: FileStore
) -> ResourceFile:
    """Store a prepared upload as a file of a draft `user` may edit."""
    resource = _editable_by(session, user, resource_id)
    count = session.exec(
        select(func.count())
        .select_from(ResourceFile)
        .where(ResourceFile.resource_id == resource.id)
    ).one()
    if count >= MAX_FILES:
        raise InvalidInput(
            messages.RESOURCE_FILE_TOO_MANY.format(count=MAX_FILES), details={"field": "file"}
        )
    digest = store.put(prepared.data)
    row = ResourceFile(
        resource_id=stored_id(resource),
        sha256=digest,
        filename=prepared.filename,
        media_type=prepared.media_type,
        size=len(prepared.data),
        text=prepared.text,
        text_status=prepared.text_status,
    )
    session.add(row)
    resource.updated_at = utcnow()
    save_and_record(
        session=session,
        row=resource,
        actor=actor_for(user),
        action="resource.file_add",
        entity_type="resource",
        after={"file": row.filename, "sha256": digest, "text_status": row.text_status},
    )
    return row


def remove_file(*, session: Session, resource_id: int, file_id: int, user: User) -> None:
    """Take a file off a draft (its blob stays: other versions may share it)."""
    resource = _editable_by(session, user, resource_id)
    row = session.get(ResourceFile, file_id)
    if row is None or row.resource_id != resource.id:
        raise InvalidInput(messages.RESOURCE_REMOVE_FILE_UNKNOWN, details={"field": "file"})
    session.delete(row)
    resource.updated_at = utcnow()
    session.add(resource)
    record(
        session=session,
        actor=actor_for(user),
        action="resource.file_remove",
        entity_type="resource",
        entity_id=str(resource.id),
        before={"file": row.filename, "sha256": row.sha256},
    )


def files_of(session: Session, resource_ids: list[int]) -> dict[int, list[ResourceFile]]:
    if not resource_ids:
        return {}
    rows = session.exec(
        select(ResourceFile)
        .where(col(ResourceFile.resource_id).in_(resource_ids))
        .order_by(col(ResourceFile.id))
    ).all()
    out: dict[int, list[ResourceFile]] = {}
    for row in rows:
        out.setdefault(row.resource_id, []).append(row)
    return out


def _screened_text(session: Session, resource: Resource) -> str:
    assert resource.id is not None  # a stored resource
    texts = [resource.title, resource.summary, resource.body]
    texts += [f.text for f in files_of(session, [resource.id]).get(resource.id, [])]
    return "\n".join(texts)


def _has_content(session: Session, resource: Resource) -> bool:
    return bool(
        resource.body.strip() or resource.video_url or files_of(session, [stored_id(resource)])
    )


def _require_status(resource: Resource, *statuses: str) -> None:
    if resource.status not in statuses:
        raise Conflict(
            messages.RESOURCE_WRONG_STATE.format(
                status=messages.RESOURCE_STATUS_LABELS[resource.status]
            ),
            details={"code": "wrong_state", "field": "status"},
        )


def submit_resource(
    *, session: Session, resource_id: int, user: User, privacy: PrivacyChoice | None = None
) -> Resource:
    """Send a draft to review; a case write-up passes the student-privacy check first."""
    resource = _editable_by(session, user, resource_id)
    if not _has_content(session, resource):
        raise InvalidInput(messages.RESOURCE_NO_CONTENT, details={"field": "file"})
    _screen_fields(resource, privacy, messages.RESOURCE_PRIVACY_FINDINGS)
    resource.status = ResourceStatus.submitted.value
    resource.submitted_at = resource.updated_at = utcnow()
    resource.decision_reason = ""
    session.add(resource)
    _audit(session, user, resource, "resource.submit")
    return resource


def _audit(session: Session, user: User, resource: Resource, action: str, **after: object) -> None:
    record(
        session=session,
        actor=actor_for(user),
        action=action,
        entity_type="resource",
        entity_id=str(resource.id),
        after={"status": resource.status, **after},
    )


def _reviewed_by(session: Session, user: User, resource_id: int) -> Resource:
    """The resource, if `user` reviews it (Forbidden otherwise)."""
    if not is_reviewer(user):
        raise Forbidden(messages.FORBIDDEN)
    resource = _get(session, resource_id)
    if not reviews(session, user, resource):
        raise Forbidden(messages.RESOURCE_NOT_YOUR_CENTER)
    return resource


def center_label_of(session: Session, resource: Resource) -> str:
    center = session.get(ResourceCenter, resource.center_id) if resource.center_id else None
    return center_label(center) if center else ""


def publish_resource(
    *, session: Session, resource_id: int, user: User, privacy: PrivacyChoice | None = None
) -> Resource:
    """Publish a submitted version (its reviewers); it supersedes the lineage's published one."""
    resource = _reviewed_by(session, user, resource_id)
    _require_status(resource, ResourceStatus.submitted.value)
    if resource.kind == ResourceKind.case.value:
        findings = find_personal_data(_screened_text(session, resource))
        if findings and privacy != PrivacyChoice.confirm:
            raise InvalidInput(
                messages.RESOURCE_REVIEW_PRIVACY.format(kinds=finding_kinds(findings)),
                details={
                    "code": "privacy",
                    "field": "body",
                    "privacy": [f.as_dict() for f in findings],
                    "choices": ["confirm"],
                },
            )
    now = utcnow()
    for previous in session.exec(
        select(Resource).where(
            Resource.lineage_id == resource.lineage_id,
            Resource.status == ResourceStatus.published.value,
            Resource.id != resource.id,
        )
    ).all():
        previous.status = ResourceStatus.superseded.value
        previous.updated_at = now
        session.add(previous)
        enqueue(session=session, entity_type="resource", entity_id=str(previous.id))
    resource.status = ResourceStatus.published.value
    resource.published_at = resource.updated_at = now
    resource.published_by = user.id
    resource.decision_reason = ""
    session.add(resource)
    enqueue(session=session, entity_type="resource", entity_id=str(resource.id))
    _audit(session, user, resource, "resource.publish")
    return resource


def decide_resource(
    *, session: Session, resource_id: int, user: User, decision: str, reason: str
) -> Resource:
    """Return a submitted version for changes, reject it, or retire a published one (its
    reviewers)."""
    resource = _reviewed_by(session, user, resource_id)
    if decision == "retire":
        _require_status(resource, ResourceStatus.published.value)
        resource.status = ResourceStatus.retired.value
        enqueue(session=session, entity_type="resource", entity_id=str(resource.id))
    else:
        _require_status(resource, ResourceStatus.submitted.value)
        resource.status = (
            ResourceStatus.changes_requested.value
            if decision == "request_changes"
            else ResourceStatus.rejected.value
        )
    resource.decision_reason = reason
    resource.updated_at = utcnow()
    session.add(resource)
    _audit(session, user, resource, f"resource.{decision}", reason=reason)
    return resource


# What a new version does not inherit from the one it copies.
_NOT_COPIED = {
    "id",
    "version",
    "status",
    "created_at",
    "updated_at",
    "submitted_at",
    "published_at",
    "decision_reason",
    "submitted_by",
    "published_by",
    "change_reason",
}


def new_version(
    *, session: Session, resource_id: int, user: User, change_reason: str = ""
) -> Resource:
    """A draft copy of a published version (with its files) to edit and submit again."""
    resource = get_resource(session=session, resource_id=resource_id, user=user)
    if not (reviews(session, user, resource) or is_author(user, resource)):
        raise Forbidden(messages.FORBIDDEN)
    _require_status(resource, ResourceStatus.published.value)
    pending = session.exec(
        select(Resource).where(
            Resource.lineage_id == resource.lineage_id,
            col(Resource.status).in_(
                [ResourceStatus.draft.value, ResourceStatus.submitted.value, *EDITABLE]
            ),
        )
    ).first()
    if pending is not None:
        return pending
    draft = _copy(session, resource, user, change_reason)
    _audit(session, user, draft, "resource.new_version", source=resource.id)
    return draft


def _copy(
    session: Session,
    resource: Resource,
    user: User,
    change_reason: str,
    left_out: frozenset[int] = frozenset(),
) -> Resource:
    """The lineage's next version: a draft copy of `resource` with its files (but `left_out`)."""
    newest = session.exec(
        select(func.max(Resource.version)).where(Resource.lineage_id == resource.lineage_id)
    ).one()
    fields = resource.model_dump(exclude=_NOT_COPIED)
    draft = Resource(
        **fields,
        version=(newest or 1) + 1,
        submitted_by=user.id,
        change_reason=change_reason.strip()[:1000],
    )
    session.add(draft)
    session.flush()
    assert resource.id is not None  # a stored resource
    for old in files_of(session, [resource.id]).get(resource.id, []):
        if old.id in left_out:
            continue
        session.add(
            ResourceFile(
                resource_id=stored_id(draft),
                **old.model_dump(exclude={"id", "resource_id", "created_at"}),
            )
        )
    return draft


def revise_submitted(
    *,
    session: Session,
    resource_id: int,
    user: User,
    data: ResourceUpdate,
    left_out_files: frozenset[int] = frozenset(),
) -> Resource:
    """A reviewer's revision of a version waiting for review, before publishing it: the lineage's
    next version with the changes, as a draft for its files, to be submitted (`submit_resource`)
    and published; the version as submitted stays in the history (已被新版本取代), with every
    file, while the revision leaves out `left_out_files` (ids of the submitted version's)."""
    resource = _reviewed_by(session, user, resource_id)
    _require_status(resource, ResourceStatus.submitted.value)
    if not (data.change_reason or "").strip():
        raise InvalidInput(
            messages.RESOURCE_CHANGE_REASON_REQUIRED,
            details={"code": "change_reason_required", "field": "change_reason"},
        )
    copy = _copy(session, resource, user, data.change_reason or "", left_out_files)
    revision = _apply_changes(session, user, copy, data)
    resource.status = ResourceStatus.superseded.value
    resource.updated_at = utcnow()
    session.add_all([revision, resource])
    session.flush()
    _audit(session, user, revision, "resource.revise", source=resource.id)
    return revision


def versions_of(*, session: Session, resource_id: int, user: User) -> list[Resource]:
    """Every version of the resource's lineage that `user` may see, newest first."""
    resource = get_resource(session=session, resource_id=resource_id, user=user)
    rows = session.exec(
        select(Resource)
        .where(Resource.lineage_id == resource.lineage_id)
        .order_by(col(Resource.version).desc())
    ).all()
    return [r for r in rows if can_see(session, user, r) or _history_visible(user, r)]


def _history_visible(user: User, resource: Resource) -> bool:
    # Everyone who may see the published version may know that older versions existed.
    return resource.status == ResourceStatus.superseded.value and user.role != Role.expert.value


@dataclass
class VersionEntry:
    """One row of a resource's version history."""

    id: int
    version: int
    status: str
    status_label: str
    date: datetime
    published_at: datetime | None
    published_by: str
    superseded_at: datetime | None
    superseded_by: str
    change_reason: str
    decision_reason: str
    readable: bool  # whether `user` may open this version


def _published_at(resource: Resource) -> datetime:
    assert resource.published_at is not None  # a published version
    return resource.published_at


def version_history(*, session: Session, resource_id: int, user: User) -> list[VersionEntry]:
    """The lineage's versions `user` may know of, newest first: number, date, status, who
    published it and who published the version that superseded it, and the change reason."""
    rows = versions_of(session=session, resource_id=resource_id, user=user)
    publisher_ids = {r.published_by for r in rows if r.published_by is not None}
    names = {
        u.id: u.display_name or u.username
        for u in session.exec(select(User).where(col(User.id).in_(publisher_ids))).all()
    }
    published = sorted(
        (r for r in rows if r.published_at is not None),
        key=_published_at,
    )
    successor = {a.id: b for a, b in zip(published, published[1:], strict=False)}
    entries = []
    for r in rows:
        after = successor.get(r.id) if r.status == ResourceStatus.superseded.value else None
        entries.append(
            VersionEntry(
                id=stored_id(r),
                version=r.version,
                status=r.status,
                status_label=messages.RESOURCE_STATUS_LABELS[r.status],
                date=r.published_at or r.submitted_at or r.created_at,
                published_at=r.published_at,
                published_by=names.get(r.published_by, "") if r.published_by else "",
                superseded_at=after.published_at if after else None,
                superseded_by=(
                    names.get(after.published_by, "") if after and after.published_by else ""
                ),
                change_reason=r.change_reason,
                decision_reason=r.decision_reason,
                readable=can_see(session, user, r),
            )
        )
    return entries


def list_resources(
    *,
    session: Session,
    user: User,
    kind: str | None = None,
    audience: str | None = None,
    specialty: str | None = None,
    status: str | None = None,
    mine: bool = False,
    limit: int = 200,
) -> list[Resource]:
    """Resources `user` may see, newest first; by default the published library."""
    query = select(Resource).order_by(col(Resource.updated_at).desc(), col(Resource.id).desc())
    if kind:
        query = query.where(Resource.kind == kind)
    if status:
        query = query.where(Resource.status == status)
    elif not mine:
        query = query.where(Resource.status == ResourceStatus.published.value)
    centers = open_centers(session, user)
    rows = [r for r in session.exec(query).all() if can_see(session, user, r, centers)]
    if mine:
        rows = [r for r in rows if is_author(user, r)]
    if audience:
        rows = [r for r in rows if audience in r.audiences]
    if specialty:
        rows = [r for r in rows if specialty in r.specialties]
    return rows[:limit]


def get_file(
    *, session: Session, resource_id: int, file_id: int, user: User
) -> tuple[Resource, ResourceFile]:
    resource = get_resource(session=session, resource_id=resource_id, user=user)
    row = session.get(ResourceFile, file_id)
    if row is None or row.resource_id != resource.id:
        raise NotFound(messages.RESOURCE_FILE_NOT_FOUND.format(id=file_id))
    return resource, row


def record_use(
    *,
    session: Session,
    resource: Resource,
    user: User,
    action: UseAction,
    file_id: int | None = None,
) -> None:
    """Count a view or download by a district user (staff and authors are not counted)."""
    if user.role != Role.district.value or resource.status != ResourceStatus.published.value:
        return
    # Written after the read, through the write queue (write_later): a view or a download is a
    # read request and never writes in its read transaction.
    use: dict[str, Any] = {
        "resource_id": resource.id,
        "lineage_id": resource.lineage_id or resource.id,
        "file_id": file_id,
        "user_id": user.id,
        "district_id": user.district_id,
        "action": action.value,
        "at": utcnow(),
    }
    write_later(session, lambda target: target.add(ResourceUse(**use)))


def use_counts(session: Session, lineage_ids: list[int]) -> dict[int, Counter]:
    """Views and downloads per lineage (all versions together)."""
    if not lineage_ids:
        return {}
    rows = session.exec(
        select(ResourceUse.lineage_id, ResourceUse.action, func.count())
        .where(col(ResourceUse.lineage_id).in_(lineage_ids))
        .group_by(col(ResourceUse.lineage_id), col(ResourceUse.action))
    ).all()
    out: dict[int, Counter] = {}
    for lineage_id, action, count in rows:
        out.setdefault(lineage_id, Counter())[action] = count
    return out


def public_views(*, session: Session, resources: list[Resource]) -> list[ResourcePublic]:
    ids = [stored_id(r) for r in resources]
    files = files_of(session, ids)
    counts = use_counts(session, [r.lineage_id or stored_id(r) for r in resources])
    views = []
    for r in resources:
        lineage = r.lineage_id or r.id
        assert lineage is not None  # a stored resource
        used = counts.get(lineage, Counter())
        views.append(
            ResourcePublic(
                **r.model_dump(
                    exclude={"submitted_by", "privacy_confirmed", "submitted_at", "lineage_id"}
                ),
                lineage_id=lineage,
                kind_label=messages.RESOURCE_KIND_LABELS[r.kind],
                status_label=messages.RESOURCE_STATUS_LABELS[r.status],
                files=[
                    ResourceFilePublic(
                        id=stored_id(f),
                        filename=f.filename,
                        media_type=f.media_type,
                        size=f.size,
                        text_status=f.text_status,
                        scanned=f.text_status == "scanned",
                    )
                    for f in files.get(stored_id(r), [])
                ],
                views=used[UseAction.view.value],
                downloads=used[UseAction.download.value],
            )
        )
    return views


def public_view(*, session: Session, resource: Resource) -> ResourcePublic:
    return public_views(session=session, resources=[resource])[0]


def file_path(store: FileStore, row: ResourceFile) -> Path:
    return store.path_of(row.sha256)


def access_tokens(resource: Resource) -> list[str]:
    """The index's `access` value of a published resource: "all", "center:<id>" (the region of
    the publishing center) or "staff:<id>" (that center's staff and the province's)."""
    if resource.access == Access.all.value:
        return [Access.all.value]
    prefix = "center" if resource.access == Access.region.value else "staff"
    return [f"{prefix}:{resource.center_id}" if resource.center_id else resource.access]


def search_access(session: Session, user: User) -> tuple[str, ...] | None:
    """The `access` values of the library documents `user` may find in search (the same rule as
    `can_see`): province staff all; others what is open to all, to the regions they are in and,
    for a city center's staff, staff material of their center and the province's."""
    if is_staff(user):
        return None
    centers = sorted(open_centers(session, user))
    tokens = ["all", *(f"center:{c}" for c in centers)]
    if is_reviewer(user):
        tokens += [f"staff:{c}" for c in centers]
    return tuple(tokens)
