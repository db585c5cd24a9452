"""Experts: the table, the import/export record, and the API schemas."""

from __future__ import annotations

from datetime import datetime

import pydantic
from pydantic import BaseModel, ConfigDict, field_validator
from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from marketplace.clock import utcnow
from marketplace.validation import InputModel, NameText
from marketplace.vocabulary import Domain, ExpertStatus, Format, ServiceType

EXPERT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"
MAX_MONTHLY_HOURS = 744  # hours in a 31-day month


class Expert(SQLModel, table=True):
    __tablename__ = "expert"
    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(max_length=64, index=True)
    domain: str = Field(max_length=32, index=True)
    title: str = Field(default="", max_length=64)
    organization_id: int | None = Field(default=None, foreign_key="organization.id")
    district_id: int = Field(foreign_key="district.id", index=True)
    bio: str = Field(default="", sa_column=Column(Text, nullable=False))
    certifications: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    formats: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    service_types: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    years_experience: int = 0
    monthly_capacity_hours: int = 0
    status: str = Field(default=ExpertStatus.active.value, max_length=16, index=True)
    verified: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ExpertSpecialty(SQLModel, table=True):
    """An expert's specialty; `position` keeps the order the expert gave."""

    __tablename__ = "expert_specialty"
    expert_id: str = Field(foreign_key="expert.id", primary_key=True, ondelete="CASCADE")
    specialty_id: int = Field(foreign_key="specialty.id", primary_key=True, index=True)
    position: int = 0


def _unique_nonblank(values: list[str]) -> list[str]:
    cleaned = [v.strip() for v in values]
    if any(not v for v in cleaned):
        raise ValueError("列表中不能有空白项")
    if len(set(cleaned)) != len(cleaned):
        raise ValueError("列表中有重复项")
    return cleaned


class RegionRef(InputModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    province: str = pydantic.Field(min_length=1, max_length=64)
    city: str = pydantic.Field(min_length=1, max_length=64)
    district: str = pydantic.Field(min_length=1, max_length=64)


class ExpertFields(InputModel):
    """Every field of the import format except the id."""

    model_config = ConfigDict(str_strip_whitespace=True)

    name: NameText = pydantic.Field(min_length=1, max_length=64)
    domain: Domain
    title: str = pydantic.Field(default="", max_length=64)
    organization: str = pydantic.Field(min_length=1, max_length=128)
    region: RegionRef
    specialties: list[str] = pydantic.Field(min_length=1, max_length=12)
    bio: str = pydantic.Field(default="", max_length=4000)
    certifications: list[str] = pydantic.Field(default_factory=list, max_length=30)
    formats: list[Format] = pydantic.Field(min_length=1, max_length=2)
    service_types: list[ServiceType] = pydantic.Field(min_length=1, max_length=5)
    languages: list[str] = pydantic.Field(
        default_factory=lambda: ["普通话"], min_length=1, max_length=10
    )
    years_experience: int = pydantic.Field(ge=0, le=70)
    monthly_capacity_hours: int = pydantic.Field(ge=0, le=MAX_MONTHLY_HOURS)

    @field_validator("specialties", "certifications", "languages")
    @classmethod
    def _items_are_short_unique_text(cls, values: list[str]) -> list[str]:
        values = _unique_nonblank(values)
        if any(len(v) > 64 for v in values):
            raise ValueError("每一项不能超过 64 个字符")
        return values

    @field_validator("formats", "service_types")
    @classmethod
    def _no_duplicate_choices(cls, values: list) -> list:
        if len(set(values)) != len(values):
            raise ValueError("列表中有重复项")
        return values


class ExpertRecord(ExpertFields):
    """One line of the JSONL import/export format."""

    id: str = pydantic.Field(pattern=EXPERT_ID_PATTERN)

    def to_json_dict(self) -> dict:
        """The record in exactly the import format's field order."""
        data = self.model_dump(mode="json")
        return {"id": data.pop("id"), **data}


class ExpertCreate(ExpertFields):
    id: str | None = pydantic.Field(default=None, pattern=EXPERT_ID_PATTERN)
    verified: bool = False


class ExpertUpdate(InputModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: NameText | None = pydantic.Field(default=None, min_length=1, max_length=64)
    domain: Domain | None = None
    title: str | None = pydantic.Field(default=None, max_length=64)
    organization: str | None = pydantic.Field(default=None, min_length=1, max_length=128)
    region: RegionRef | None = None
    specialties: list[str] | None = pydantic.Field(default=None, min_length=1, max_length=12)
    bio: str | None = pydantic.Field(default=None, max_length=4000)
    certifications: list[str] | None = pydantic.Field(default=None, max_length=30)
    formats: list[Format] | None = pydantic.Field(default=None, min_length=1, max_length=2)
    service_types: list[ServiceType] | None = pydantic.Field(
        default=None, min_length=1, max_length=5
    )
    languages: list[str] | None = pydantic.Field(default=None, min_length=1, max_length=10)
    years_experience: int | None = pydantic.Field(default=None, ge=0, le=70)
    monthly_capacity_hours: int | None = pydantic.Field(default=None, ge=0, le=MAX_MONTHLY_HOURS)

    @field_validator("specialties", "certifications", "languages")
    @classmethod
    def _check_lists(cls, values: list[str] | None) -> list[str] | None:
        # null means "leave unchanged" (the service drops it); only lists are checked.
        if values is None:
            return None
        return ExpertFields._items_are_short_unique_text(values)


class ExpertAdminUpdate(ExpertUpdate):
    """Fields only resource-center staff may change."""

    status: ExpertStatus | None = None
    verified: bool | None = None


class ExpertPublic(ExpertRecord):
    model_config = ConfigDict(extra="ignore")  # an answer, not input

    status: ExpertStatus
    verified: bool
    updated_at: datetime


class ExpertPage(BaseModel):
    items: list[ExpertPublic]
    total: int
    page: int
    page_size: int
