"""`heart import resources`: published library material from a JSONL file or a directory of
them, one resource per line, with a per-line report; `heart export resources` writes the same
format back. Lines carry the ResourceCreate fields plus `publish` (true: straight into the
library) and `files` (paths relative to the JSONL file)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydantic
from sqlmodel import Session, col, select

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.permissions import Action, sees_everything
from marketplace.accounts.principal import actor_for
from marketplace.audit.service import record
from marketplace.centers.models import ResourceCenter
from marketplace.centers.service import province_center
from marketplace.clock import utcnow
from marketplace.errors import DomainError, Forbidden
from marketplace.ids import stored_id
from marketplace.outbox.service import enqueue
from marketplace.privacy import find_personal_data
from marketplace.resources.antivirus import Antivirus
from marketplace.resources.files import FileStore
from marketplace.resources.models import (
    Resource,
    ResourceCreate,
    ResourceFile,
    ResourceStatus,
)
from marketplace.resources.service import (
    DEFAULT_MAX_BYTES,
    check_references,
    expert_names,
    finding_kinds,
    prepare_file,
)
from marketplace.validation import RecordId, describe_error

EXPORT_FIELDS = tuple(f for f in ResourceCreate.model_fields if f != "privacy")


class ImportLine(ResourceCreate):
    publish: bool = False
    files: list[str] = pydantic.Field(default_factory=list, max_length=10)
    # Lines exported before access followed the publishing center named a city: its center.
    region_city_id: RecordId | None = None


@dataclass
class ImportReport:
    created: int = 0
    unchanged: int = 0
    errors: list[tuple[str, int, str]] = field(default_factory=list)  # (file, line, message)


def _validation_message(exc: pydantic.ValidationError) -> str:
    return describe_error(exc.errors()[0])


def _attach(  # noqa: PLR0913 - the file and the limits it is checked against
    session: Session,
    resource: Resource,
    path: Path,
    store: FileStore,
    max_bytes: int,
    antivirus: Antivirus | None,
) -> None:
    prepared = prepare_file(
        filename=path.name, data=path.read_bytes(), max_bytes=max_bytes, antivirus=antivirus
    )
    session.add(
        ResourceFile(
            resource_id=stored_id(resource),
            sha256=store.put(prepared.data),
            filename=prepared.filename,
            media_type=prepared.media_type,
            size=len(prepared.data),
            text=prepared.text,
            text_status=prepared.text_status,
        )
    )


def _center_of(session: Session, center_id: int | None, city_id: int | None) -> int | None:
    """The publishing center of an imported line: its own, a legacy city's, else the province's."""
    if center_id is not None:
        return center_id
    if city_id is not None:
        center = session.exec(
            select(ResourceCenter).where(ResourceCenter.city_id == city_id)
        ).first()
        if center is None:
            raise DomainError(messages.RESOURCE_UNKNOWN_CENTER.format(id=city_id))
        return center.id
    province = province_center(session=session)
    return province.id if province else None


def _require_importer(user: User) -> None:
    """Lines publish straight into any center's library: only whoever manages every center's
    material (province staff, admins, the system principal) imports them."""
    if not sees_everything(user, Action.resource_manage):
        raise Forbidden(messages.FORBIDDEN, code="forbidden")


def import_line(
    *,
    session: Session,
    raw: str,
    base: Path,
    store: FileStore,
    user: User,
    max_bytes: int = DEFAULT_MAX_BYTES,
    antivirus: Antivirus | None = None,
) -> str:
    """Import one line; returns "created" or "unchanged" (same kind and title already there)."""
    _require_importer(user)
    try:
        line = ImportLine.model_validate(json.loads(raw))
    except json.JSONDecodeError as exc:
        raise DomainError(f"不是有效的 JSON（第 {exc.colno} 列）") from None
    except (ValueError, RecursionError):  # a number past 4,300 digits, nesting too deep
        raise DomainError(messages.JSON_NUMBER_OR_NESTING) from None
    except pydantic.ValidationError as exc:
        raise DomainError(_validation_message(exc)) from None
    existing = session.exec(
        select(Resource.id).where(Resource.kind == line.kind.value, Resource.title == line.title)
    ).first()
    if existing is not None:
        return "unchanged"
    fields = line.model_dump(exclude={"privacy", "publish", "files", "region_city_id"}, mode="json")
    check_references(session, fields)
    fields["center_id"] = _center_of(session, fields["center_id"], line.region_city_id)
    text = " ".join([line.title, line.summary, line.body])
    findings = find_personal_data(text)
    if findings:
        raise DomainError(
            messages.RESOURCE_TEXT_PERSONAL_DATA.format(kinds=finding_kinds(findings))
        )
    resource = Resource(**fields)
    if not resource.author_names:
        resource.author_names = expert_names(session, resource.author_expert_ids)
    session.add(resource)
    session.flush()
    resource.lineage_id = resource.id
    for name in line.files:
        path = (base / name).resolve()
        if not path.is_file():
            raise DomainError(f"找不到文件：{name}")
        _attach(session, resource, path, store, max_bytes, antivirus)
    if line.publish:
        now = utcnow()
        resource.status = ResourceStatus.published.value
        resource.submitted_at = resource.published_at = now
        enqueue(session=session, entity_type="resource", entity_id=str(resource.id))
    session.add(resource)
    record(
        session=session,
        actor=actor_for(user),
        action="resource.import",
        entity_type="resource",
        entity_id=str(resource.id),
        after={"title": resource.title, "status": resource.status},
    )
    return "created"


def jsonl_files(source: Path) -> list[Path]:
    source = Path(source)
    return sorted(source.glob("*.jsonl")) if source.is_dir() else [source]


def import_resources(
    *,
    session: Session,
    source: Path,
    store: FileStore,
    user: User,
    antivirus: Antivirus | None = None,
) -> ImportReport:
    """Every line of the JSONL file(s); a bad line is reported by number and changes nothing."""
    _require_importer(user)
    report = ImportReport()
    for path in jsonl_files(source):
        for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not raw.strip():
                continue
            savepoint = session.begin_nested()
            try:
                outcome = import_line(
                    session=session,
                    raw=raw,
                    base=path.parent,
                    store=store,
                    user=user,
                    antivirus=antivirus,
                )
            except DomainError as exc:
                savepoint.rollback()
                report.errors.append((path.name, number, exc.message))
                continue
            savepoint.commit()
            if outcome == "created":
                report.created += 1
            else:
                report.unchanged += 1
    return report


def export_lines(*, session: Session) -> Iterator[str]:
    """The current published version of every resource, in the import format (its files stay
    in the file store and the backups: a line names no file)."""
    rows = session.exec(
        select(Resource)
        .where(Resource.status == ResourceStatus.published.value)
        .order_by(col(Resource.id))
    ).all()
    for resource in rows:
        line = {name: getattr(resource, name) for name in EXPORT_FIELDS}
        line["publish"] = True
        yield json.dumps(line, ensure_ascii=False)
