"""Session records: the booking, its rating, and their API shapes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import pydantic
from pydantic import BaseModel, ConfigDict, model_validator
from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from booking.availability import MAX_DURATION_MINUTES, MIN_DURATION_MINUTES
from booking.fields import AwareDatetime
from marketplace.clock import utcnow
from marketplace.validation import InputModel, RecordId
from marketplace.vocabulary import Format


class BookingKind(StrEnum):
    supervision = "supervision"
    consultation = "consultation"
    crisis_support = "crisis_support"
    training = "training"


class BookingStatus(StrEnum):
    requested = "requested"
    confirmed = "confirmed"
    declined = "declined"
    completed = "completed"
    cancelled = "cancelled"
    no_show = "no_show"


# Statuses that hold the expert's time; the database refuses two of them overlapping.
LIVE_STATUSES = (BookingStatus.requested.value, BookingStatus.confirmed.value)
# Statuses whose time counts toward the expert's daily and monthly hour limits: held sessions
# and sessions that took place (or were kept free for a district that did not come).
TIME_USING_STATUSES = (
    *LIVE_STATUSES,
    BookingStatus.completed.value,
    BookingStatus.no_show.value,
)
# Kinds that draw on a district's procured supervision package when completed.
CHARGED_KINDS = (BookingKind.supervision.value, BookingKind.training.value)


class Booking(SQLModel, table=True):
    """One session between an expert and a district; its id and UID survive reschedules."""

    __tablename__ = "booking_session"
    id: int | None = Field(default=None, primary_key=True)
    uid: str = Field(max_length=80, unique=True)
    sequence: int = 0
    expert_id: str = Field(foreign_key="expert.id", index=True, max_length=32)
    district_id: int = Field(foreign_key="district.id", index=True)
    # Plain integer: the district_request table lives in another migration branch.
    request_id: int | None = Field(default=None, index=True)
    kind: str = Field(max_length=16)
    format: str = Field(max_length=8)
    title: str = Field(max_length=120)
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: str = Field(default=BookingStatus.requested.value, max_length=12, index=True)
    start_at: datetime = Field(index=True)
    end_at: datetime
    capacity: int | None = None
    created_by_user_id: int | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    decline_reason: str | None = Field(default=None, max_length=500)
    cancel_reason: str | None = Field(default=None, max_length=500)
    cancelled_by: str | None = Field(default=None, max_length=64)
    escalated_at: datetime | None = None
    charged: bool = False
    # A new time the expert proposed; the current time stays held until the district decides.
    proposed_start_at: datetime | None = None
    proposed_end_at: datetime | None = None


class BookingRating(SQLModel, table=True):
    __tablename__ = "booking_rating"
    id: int | None = Field(default=None, primary_key=True)
    booking_id: int = Field(foreign_key="booking_session.id", unique=True, ondelete="CASCADE")
    district_id: int = Field(foreign_key="district.id", index=True)
    score: int
    feedback: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


def _duration_ok(start: datetime, end: datetime) -> None:
    if end <= start:
        raise ValueError("结束时间必须晚于开始时间")
    minutes = (end - start).total_seconds() / 60
    if not MIN_DURATION_MINUTES <= minutes <= MAX_DURATION_MINUTES:
        raise ValueError(
            f"时长必须在 {MIN_DURATION_MINUTES} 分钟到 {MAX_DURATION_MINUTES // 60} 小时之间"
        )


class BookingCreate(InputModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    expert_id: str = pydantic.Field(min_length=1, max_length=32)
    start: AwareDatetime
    end: AwareDatetime
    kind: BookingKind
    format: Format
    title: str = pydantic.Field(min_length=1, max_length=120)
    description: str = pydantic.Field(default="", max_length=4000)
    request_id: RecordId | None = None
    capacity: int | None = pydantic.Field(default=None, ge=1, le=2000)
    # Staff may book on behalf of a district.
    district_id: RecordId | None = None

    @model_validator(mode="after")
    def _valid(self) -> BookingCreate:
        _duration_ok(self.start, self.end)
        if self.kind == BookingKind.training and self.capacity is None:
            raise ValueError("培训必须填写名额（capacity）")
        if self.kind != BookingKind.training and self.capacity is not None:
            raise ValueError("只有培训可以设置名额")
        return self


class Reschedule(InputModel):
    model_config = ConfigDict(extra="forbid")
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _valid(self) -> Reschedule:
        _duration_ok(self.start, self.end)
        return self


class ReasonIn(InputModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: str = pydantic.Field(min_length=1, max_length=500)


class BookingPublic(BaseModel):
    id: int
    uid: str
    sequence: int
    expert_id: str
    district_id: int
    request_id: int | None
    kind: BookingKind
    format: Format
    title: str
    description: str
    status: BookingStatus
    start: datetime
    end: datetime
    capacity: int | None
    seats_taken: int | None = None
    decline_reason: str | None
    cancel_reason: str | None
    cancelled_by: str | None
    escalated_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # The expert's proposed new time, awaiting the district's answer (None when there is none).
    proposed_start: datetime | None = None
    proposed_end: datetime | None = None


class RatingCreate(InputModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    score: int = pydantic.Field(ge=1, le=5)
    feedback: str = pydantic.Field(default="", max_length=2000)


class RatingPublic(BaseModel):
    booking_id: int
    score: int
    feedback: str
    created_at: datetime
