"""Procured services: what the resource center bought centrally and districts may apply for."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import pydantic
from pydantic import BaseModel, ConfigDict, model_validator
from sqlalchemy import JSON, CheckConstraint, Column, Text
from sqlmodel import Field, SQLModel

from marketplace import messages
from marketplace.clock import utcnow
from marketplace.services.quantity import PositiveQuantity
from marketplace.validation import InputModel, NameText, RecordId, cross_field_error


class ServiceKind(StrEnum):
    assessment_licence = "assessment_licence"
    training_seats = "training_seats"
    supervision_hours = "supervision_hours"
    hotline = "hotline"
    other = "other"


class ProcuredService(SQLModel, table=True):
    __tablename__ = "procured_service"
    __table_args__ = (
        CheckConstraint("quantity_hundredths > 0", name="ck_procured_service_quantity_positive"),
        CheckConstraint("valid_from <= valid_to", name="ck_procured_service_validity_ordered"),
    )
    id: int | None = Field(default=None, primary_key=True)
    # The resource center that bought it and decides its applications (None: the province's).
    center_id: int | None = Field(default=None, foreign_key="resource_center.id", index=True)
    name: str = Field(max_length=128, index=True)
    kind: str = Field(max_length=32, index=True)
    vendor: str = Field(default="", max_length=128)
    unit: str = Field(max_length=16)
    # Quantity bought, in hundredths of `unit` (see marketplace.services.quantity).
    quantity_hundredths: int
    valid_from: date
    valid_to: date = Field(index=True)
    # Both empty: every district may apply. Otherwise a district listed, or in a zone listed.
    eligible_district_ids: list[int] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    eligible_zone_ids: list[int] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class _ServiceFields(InputModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ServiceCreate(_ServiceFields):
    name: NameText = pydantic.Field(min_length=1, max_length=128)
    kind: ServiceKind
    vendor: str = pydantic.Field(default="", max_length=128)
    unit: str = pydantic.Field(min_length=1, max_length=16)
    quantity: PositiveQuantity
    valid_from: date
    valid_to: date
    eligible_district_ids: list[RecordId] = pydantic.Field(default_factory=list, max_length=500)
    eligible_zone_ids: list[RecordId] = pydantic.Field(default_factory=list, max_length=200)
    description: str = pydantic.Field(default="", max_length=4000)

    @model_validator(mode="after")
    def _validity_ordered(self) -> ServiceCreate:
        if self.valid_from > self.valid_to:
            raise cross_field_error(messages.SERVICE_VALIDITY_INVALID, "valid_from", "valid_to")
        return self


class ServiceUpdate(_ServiceFields):
    name: NameText | None = pydantic.Field(default=None, min_length=1, max_length=128)
    kind: ServiceKind | None = None
    vendor: str | None = pydantic.Field(default=None, max_length=128)
    unit: str | None = pydantic.Field(default=None, min_length=1, max_length=16)
    quantity: PositiveQuantity | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    eligible_district_ids: list[RecordId] | None = pydantic.Field(default=None, max_length=500)
    eligible_zone_ids: list[RecordId] | None = pydantic.Field(default=None, max_length=200)
    description: str | None = pydantic.Field(default=None, max_length=4000)


class ServicePublic(BaseModel):
    id: int
    center_id: int | None = None
    center_label: str = ""
    name: str
    kind: ServiceKind
    vendor: str
    unit: str
    quantity: float
    valid_from: date
    valid_to: date
    eligible_district_ids: list[int]
    eligible_zone_ids: list[int]
    description: str
    remaining_quantity: float
    allocated_quantity: float
    consumed_quantity: float
    expired_quantity: float
    is_valid_today: bool
    updated_at: datetime
