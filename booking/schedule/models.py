"""Availability records: the policy, weekly rules and exceptions, and their API shapes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from sqlmodel import Field, SQLModel

from booking.availability import parse_clock, parse_timezone
from booking.fields import AwareDatetime, Clock
from marketplace import messages
from marketplace.clock import utcnow
from marketplace.validation import InputModel


class AvailabilityProfile(SQLModel, table=True):
    """An expert's booking policy; weekly rules and exceptions hang off the expert id."""

    __tablename__ = "availability_profile"
    expert_id: str = Field(
        foreign_key="expert.id", primary_key=True, ondelete="CASCADE", max_length=32
    )
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    min_notice_minutes: int = 24 * 60
    horizon_days: int = 90
    # Booking starts lie on this grid (minutes past local midnight): 15, 30 or 60.
    slot_step_minutes: int = 30
    daily_limit_hours: float | None = None
    # None: the expert's monthly_capacity_hours is the monthly limit.
    monthly_limit_hours: float | None = None
    updated_at: datetime = Field(default_factory=utcnow)


class AvailabilityRule(SQLModel, table=True):
    __tablename__ = "availability_rule"
    id: int | None = Field(default=None, primary_key=True)
    expert_id: str = Field(foreign_key="expert.id", index=True, ondelete="CASCADE", max_length=32)
    weekday: int
    start_minute: int
    end_minute: int


class AvailabilityException(SQLModel, table=True):
    """A date override (day + ranges; no range = closed) or an out-of-office period."""

    __tablename__ = "availability_exception"
    id: int | None = Field(default=None, primary_key=True)
    expert_id: str = Field(foreign_key="expert.id", index=True, ondelete="CASCADE", max_length=32)
    kind: str = Field(max_length=16)  # "override" | "out_of_office"
    day: date | None = None
    start_minute: int | None = None
    end_minute: int | None = None
    start_at: datetime | None = None
    end_at: datetime | None = None
    note: str = Field(default="", max_length=200)


class WeeklyRuleIn(InputModel):
    model_config = ConfigDict(extra="forbid")
    weekday: int = pydantic.Field(ge=0, le=6)
    start: Clock
    end: Clock

    @model_validator(mode="after")
    def _ordered(self) -> WeeklyRuleIn:
        if parse_clock(self.end) <= parse_clock(self.start):
            raise ValueError("结束时间必须晚于开始时间")
        return self


class TimeRangeIn(InputModel):
    model_config = ConfigDict(extra="forbid")
    start: Clock
    end: Clock

    @model_validator(mode="after")
    def _ordered(self) -> TimeRangeIn:
        if parse_clock(self.end) <= parse_clock(self.start):
            raise ValueError("结束时间必须晚于开始时间")
        return self


class DateOverrideIn(InputModel):
    """On `date` only `ranges` are open (empty: the whole day is closed)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["override"] = "override"
    date: date
    ranges: list[TimeRangeIn] = pydantic.Field(default_factory=list, max_length=12)
    note: str = pydantic.Field(default="", max_length=200)


class OutOfOfficeIn(InputModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["out_of_office"]
    start: AwareDatetime
    end: AwareDatetime
    note: str = pydantic.Field(default="", max_length=200)

    @model_validator(mode="after")
    def _ordered(self) -> OutOfOfficeIn:
        if self.end <= self.start:
            raise ValueError("结束时间必须晚于开始时间")
        return self


ExceptionIn = Annotated[DateOverrideIn | OutOfOfficeIn, pydantic.Field(discriminator="kind")]


class AvailabilityUpdate(InputModel):
    """PUT body: replaces the expert's weekly rules and exceptions; policy fields are optional."""

    model_config = ConfigDict(extra="forbid")
    timezone: str = "Asia/Shanghai"
    weekly: list[WeeklyRuleIn] = pydantic.Field(default_factory=list, max_length=100)
    exceptions: list[ExceptionIn] = pydantic.Field(default_factory=list, max_length=500)
    buffer_before_minutes: int = pydantic.Field(default=0, ge=0, le=240)
    buffer_after_minutes: int = pydantic.Field(default=0, ge=0, le=240)
    min_notice_minutes: int = pydantic.Field(default=24 * 60, ge=0, le=60 * 24 * 30)
    horizon_days: int = pydantic.Field(default=90, ge=1, le=366)
    slot_step_minutes: Literal[15, 30, 60] = 30
    daily_limit_hours: float | None = pydantic.Field(default=None, gt=0, le=24)
    monthly_limit_hours: float | None = pydantic.Field(default=None, ge=0, le=744)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            parse_timezone(value)
        except ValueError:
            raise ValueError(messages.TIMEZONE_INVALID) from None
        return value


class AvailabilityPublic(AvailabilityUpdate):
    model_config = ConfigDict(extra="ignore")  # an answer, not input

    expert_id: str
    updated_at: datetime | None = None


class SlotPublic(BaseModel):
    start: datetime
    end: datetime
