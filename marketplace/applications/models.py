"""District applications for procured services."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import pydantic
from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from sqlalchemy import JSON, CheckConstraint, Column, Text
from sqlmodel import Field, SQLModel

from marketplace.clock import utcnow
from marketplace.services.quantity import PositiveQuantity
from marketplace.validation import InputModel, RecordId, cross_field_error


class ApplicationStatus(StrEnum):
    """submitted → approved (fully or partly) | rejected | withdrawn; approved → in_use → closed."""

    submitted = "submitted"
    approved = "approved"
    rejected = "rejected"
    withdrawn = "withdrawn"
    in_use = "in_use"
    closed = "closed"


# Statuses whose allocation may still be used, released or expired.
HOLDING_STATUSES = (ApplicationStatus.approved.value, ApplicationStatus.in_use.value)


class ServiceApplication(SQLModel, table=True):
    __tablename__ = "service_application"
    __table_args__ = (
        CheckConstraint("quantity_hundredths > 0", name="ck_service_application_quantity_positive"),
        CheckConstraint(
            "approved_hundredths IS NULL OR approved_hundredths > 0",
            name="ck_service_application_approved_positive",
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    service_id: int = Field(foreign_key="procured_service.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    quantity_hundredths: int
    purpose: str = Field(sa_column=Column(Text, nullable=False))
    period_start: date | None = None
    period_end: date | None = None
    target_schools: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=ApplicationStatus.submitted.value, max_length=16, index=True)
    approved_hundredths: int | None = None
    rejection_reason: str | None = Field(default=None, max_length=500)
    submitted_by: str = Field(default="", max_length=64)
    decided_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    decided_at: datetime | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class ApplicationCreate(InputModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    service_id: RecordId
    quantity: PositiveQuantity
    purpose: str = pydantic.Field(min_length=1, max_length=2000)
    period_start: date | None = None
    period_end: date | None = None
    target_schools: list[str] = pydantic.Field(default_factory=list, max_length=200)

    @field_validator("target_schools")
    @classmethod
    def _schools_named(cls, values: list[str]) -> list[str]:
        cleaned = [v.strip() for v in values]
        if any(not v or len(v) > 128 for v in cleaned):
            raise ValueError("学校名称不能为空且不超过 128 个字符")
        return cleaned

    @model_validator(mode="after")
    def _period_ordered(self) -> ApplicationCreate:
        if self.period_start and self.period_end and self.period_start > self.period_end:
            raise cross_field_error("使用期开始日期不能晚于结束日期", "period_start", "period_end")
        return self


class ApprovalRequest(InputModel):
    """Approve; without a quantity the full requested quantity is approved."""

    model_config = ConfigDict(extra="forbid")
    quantity: PositiveQuantity | None = None


class RejectionRequest(InputModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: str = pydantic.Field(min_length=1, max_length=500)


class UsageRequest(InputModel):
    """Record use of an allocation: licences assigned, seats taken, hours consumed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    quantity: PositiveQuantity
    reference: str = pydantic.Field(default="", max_length=128)
    note: str = pydantic.Field(default="", max_length=500)


class ReleaseRequest(InputModel):
    """Return unused allocation to the pool; without a quantity the whole balance."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    quantity: PositiveQuantity | None = None
    note: str = pydantic.Field(default="", max_length=500)


class ApplicationPublic(BaseModel):
    id: int
    service_id: int
    service_name: str
    unit: str
    district_id: int
    district_name: str
    quantity: float
    purpose: str
    period_start: date | None
    period_end: date | None
    target_schools: list[str]
    status: ApplicationStatus
    approved_quantity: float | None
    approval: str | None  # "full" | "partial" once approved
    balance: float
    used_quantity: float
    rejection_reason: str | None
    submitted_by: str
    decided_by: str | None
    created_at: datetime
    decided_at: datetime | None
