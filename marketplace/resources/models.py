"""The resource library: lesson material, assessment scales, case write-ups and policy papers
that the resource center reviews, publishes and distributes to districts.

Every version of a resource is its own row; versions of one resource share `lineage_id` (the
first version's id). A published version is never edited again: a change is a new version,
which supersedes the published one when it is published in turn.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import pydantic
from pydantic import BaseModel, ConfigDict, model_validator
from sqlalchemy import JSON, CheckConstraint, Column, Text
from sqlmodel import Field, SQLModel

from marketplace.clock import utcnow
from marketplace.requests.models import PrivacyChoice
from marketplace.validation import InputModel, NameText, RecordId


class ResourceKind(StrEnum):
    course = "course"  # 课程/课件
    scale = "scale"  # 测评量表
    case = "case"  # 案例
    policy = "policy"  # 政策文件
    other = "other"


class Audience(StrEnum):
    primary = "primary"  # 小学生
    junior = "junior"  # 初中生
    senior = "senior"  # 高中生
    teachers = "teachers"
    parents = "parents"
    leaders = "leaders"


class Access(StrEnum):
    all = "all"  # every district
    region = "region"  # the districts of the publishing center's region
    staff = "staff"  # resource-center staff only


class ResourceStatus(StrEnum):
    draft = "draft"
    submitted = "submitted"
    changes_requested = "changes_requested"
    published = "published"
    superseded = "superseded"
    rejected = "rejected"
    retired = "retired"


EDITABLE = (ResourceStatus.draft.value, ResourceStatus.changes_requested.value)


class UseAction(StrEnum):
    view = "view"
    download = "download"


class Resource(SQLModel, table=True):
    __tablename__ = "resource"
    __table_args__ = (CheckConstraint("version >= 1", name="ck_resource_version_positive"),)
    id: int | None = Field(default=None, primary_key=True)
    lineage_id: int | None = Field(default=None, index=True)
    version: int = 1
    kind: str = Field(max_length=16, index=True)
    status: str = Field(default=ResourceStatus.draft.value, max_length=24, index=True)
    title: str = Field(max_length=200)
    summary: str = Field(default="", sa_column=Column(Text, nullable=False))
    # The write-up itself for cases and outlines typed in rather than uploaded.
    body: str = Field(default="", sa_column=Column(Text, nullable=False))
    audiences: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    specialties: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    author_expert_ids: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    author_names: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # The publishing resource center (the submitter's, else the province's) and its name as
    # shown; imported material may name a center that has no record.
    center_id: int | None = Field(default=None, foreign_key="resource_center.id", index=True)
    center: str = Field(default="", max_length=128)
    licence: str = Field(default="", max_length=200)
    # "region": the publishing center's region (the province center: every district; a city
    # center: its city's districts).
    access: str = Field(default=Access.all.value, max_length=16)
    video_url: str = Field(default="", max_length=500)
    # Assessment scales.
    scale_abbreviation: str = Field(default="", max_length=32)
    scale_items: int | None = None
    scale_age_range: str = Field(default="", max_length=64)
    scale_minutes: int | None = None
    scale_norm_source: str = Field(default="", max_length=300)
    scale_scoring_notes: str = Field(default="", sa_column=Column(Text, nullable=False))
    licensed_by_service_id: int | None = Field(default=None, foreign_key="procured_service.id")
    privacy_confirmed: bool = False
    submitted_by: int | None = Field(default=None, foreign_key="user_account.id", index=True)
    decision_reason: str = Field(default="", max_length=1000)
    # Why this version differs from the previous one (the author's words, for the history).
    change_reason: str = Field(default="", max_length=1000)
    published_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    submitted_at: datetime | None = None
    published_at: datetime | None = None


class ResourceFile(SQLModel, table=True):
    __tablename__ = "resource_file"
    id: int | None = Field(default=None, primary_key=True)
    resource_id: int = Field(foreign_key="resource.id", index=True)
    sha256: str = Field(max_length=64, index=True)
    filename: str = Field(max_length=200)
    media_type: str = Field(max_length=100)
    size: int
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    # "ok", "scanned" (a PDF without a text layer), "image", "timeout", "failed".
    text_status: str = Field(default="ok", max_length=16)
    created_at: datetime = Field(default_factory=utcnow)


class ResourceUse(SQLModel, table=True):
    """One view or download, counted per district for the reports and the authors."""

    __tablename__ = "resource_use"
    id: int | None = Field(default=None, primary_key=True)
    resource_id: int = Field(foreign_key="resource.id", index=True)
    lineage_id: int = Field(index=True)
    file_id: int | None = Field(default=None, foreign_key="resource_file.id")
    user_id: int | None = Field(default=None, foreign_key="user_account.id")
    district_id: int | None = Field(default=None, foreign_key="district.id", index=True)
    action: str = Field(max_length=16)
    at: datetime = Field(default_factory=utcnow, index=True)


# --- schemas ------------------------------------------------------------------------------


class _Fields(InputModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ResourceCreate(_Fields):
    kind: ResourceKind
    title: NameText = pydantic.Field(min_length=2, max_length=200)
    summary: str = pydantic.Field(default="", max_length=4000)
    body: str = pydantic.Field(default="", max_length=20000)
    audiences: list[Audience] = pydantic.Field(default_factory=list, max_length=6)
    specialties: list[str] = pydantic.Field(default_factory=list, max_length=12)
    author_expert_ids: list[str] = pydantic.Field(default_factory=list, max_length=10)
    author_names: list[str] = pydantic.Field(default_factory=list, max_length=10)
    center: str = pydantic.Field(default="", max_length=128)
    licence: str = pydantic.Field(default="", max_length=200)
    access: Access = Access.all
    # The publishing center (default: the submitter's own, else the province's).
    center_id: RecordId | None = None
    video_url: str = pydantic.Field(default="", max_length=500)
    scale_abbreviation: str = pydantic.Field(default="", max_length=32)
    scale_items: int | None = pydantic.Field(default=None, ge=1, le=2000)
    scale_age_range: str = pydantic.Field(default="", max_length=64)
    scale_minutes: int | None = pydantic.Field(default=None, ge=1, le=600)
    scale_norm_source: str = pydantic.Field(default="", max_length=300)
    scale_scoring_notes: str = pydantic.Field(default="", max_length=4000)
    licensed_by_service_id: RecordId | None = None
    privacy: PrivacyChoice | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ResourceCreate:
        if self.video_url and not self.video_url.startswith(("https://", "http://")):
            raise ValueError("视频链接须以 http:// 或 https:// 开头")
        return self


class ResourceUpdate(_Fields):
    title: NameText | None = pydantic.Field(default=None, min_length=2, max_length=200)
    summary: str | None = pydantic.Field(default=None, max_length=4000)
    body: str | None = pydantic.Field(default=None, max_length=20000)
    audiences: list[Audience] | None = pydantic.Field(default=None, max_length=6)
    specialties: list[str] | None = pydantic.Field(default=None, max_length=12)
    author_names: list[str] | None = pydantic.Field(default=None, max_length=10)
    licence: str | None = pydantic.Field(default=None, max_length=200)
    access: Access | None = None
    center_id: RecordId | None = None
    video_url: str | None = pydantic.Field(default=None, max_length=500)
    scale_abbreviation: str | None = pydantic.Field(default=None, max_length=32)
    scale_items: int | None = pydantic.Field(default=None, ge=1, le=2000)
    scale_age_range: str | None = pydantic.Field(default=None, max_length=64)
    scale_minutes: int | None = pydantic.Field(default=None, ge=1, le=600)
    scale_norm_source: str | None = pydantic.Field(default=None, max_length=300)
    scale_scoring_notes: str | None = pydantic.Field(default=None, max_length=4000)
    licensed_by_service_id: RecordId | None = None
    change_reason: str | None = pydantic.Field(default=None, max_length=1000)
    privacy: PrivacyChoice | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ResourceUpdate:
        if self.video_url and not self.video_url.startswith(("https://", "http://")):
            raise ValueError("视频链接须以 http:// 或 https:// 开头")
        return self


class VersionBody(_Fields):
    change_reason: str = pydantic.Field(default="", max_length=1000)


class SubmitBody(_Fields):
    privacy: PrivacyChoice | None = None


class ReasonBody(_Fields):
    reason: str = pydantic.Field(min_length=2, max_length=1000)


class PublishBody(_Fields):
    # The reviewer confirms a case write-up whose remaining findings are not student data.
    privacy: PrivacyChoice | None = None


class ResourceFilePublic(BaseModel):
    id: int
    filename: str
    media_type: str
    size: int
    text_status: str
    scanned: bool


class ResourcePublic(BaseModel):
    id: int
    lineage_id: int
    version: int
    kind: ResourceKind
    kind_label: str
    status: ResourceStatus
    status_label: str
    title: str
    summary: str
    body: str
    audiences: list[str]
    specialties: list[str]
    author_expert_ids: list[str]
    author_names: list[str]
    center_id: int | None = None
    center: str
    licence: str
    access: Access
    video_url: str
    scale_abbreviation: str
    scale_items: int | None
    scale_age_range: str
    scale_minutes: int | None
    scale_norm_source: str
    scale_scoring_notes: str
    licensed_by_service_id: int | None
    decision_reason: str
    change_reason: str = ""
    files: list[ResourceFilePublic]
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    views: int = 0
    downloads: int = 0
