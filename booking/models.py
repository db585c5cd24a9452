"""Booking records: availability, busy calendars, sessions, trainings, ratings, feeds, outbox."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from booking.availability import (
    MAX_DURATION_MINUTES,
    MIN_DURATION_MINUTES,
    parse_clock,
    parse_timezone,
)
from marketplace.clock import utcnow
from marketplace.validation import RecordId
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
# Kinds that draw on a district's procured supervision package when completed.
CHARGED_KINDS = (BookingKind.supervision.value, BookingKind.training.value)


# --- tables -------------------------------------------------------------------------------


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


class BusyCalendar(SQLModel, table=True):
    """An expert's own calendar: an uploaded .ics or a feed URL the hub polls."""

    __tablename__ = "busy_calendar"
    id: int | None = Field(default=None, primary_key=True)
    expert_id: str = Field(foreign_key="expert.id", index=True, ondelete="CASCADE", max_length=32)
    source: str = Field(max_length=8)  # "upload" | "feed"
    name: str = Field(default="", max_length=100)
    url: str | None = Field(default=None, max_length=2000)
    event_count: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    synced_at: datetime | None = None
    last_error: str | None = Field(default=None, max_length=500)


class BusyTime(SQLModel, table=True):
    __tablename__ = "busy_time"
    id: int | None = Field(default=None, primary_key=True)
    calendar_id: int = Field(foreign_key="busy_calendar.id", index=True, ondelete="CASCADE")
    expert_id: str = Field(index=True, max_length=32)
    start_at: datetime
    end_at: datetime


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


class TrainingRegistration(SQLModel, table=True):
    __tablename__ = "training_registration"
    id: int | None = Field(default=None, primary_key=True)
    booking_id: int = Field(foreign_key="booking_session.id", index=True, ondelete="CASCADE")
    district_id: int = Field(foreign_key="district.id", index=True)
    school: str = Field(max_length=100)
    participants: int
    created_at: datetime = Field(default_factory=utcnow)


class BookingRating(SQLModel, table=True):
    __tablename__ = "booking_rating"
    id: int | None = Field(default=None, primary_key=True)
    booking_id: int = Field(foreign_key="booking_session.id", unique=True, ondelete="CASCADE")
    district_id: int = Field(foreign_key="district.id", index=True)
    score: int
    feedback: str = Field(default="", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)


class CalendarFeedToken(SQLModel, table=True):
    """A secret subscription URL for an expert's or a district's sessions (hash kept only)."""

    __tablename__ = "calendar_feed_token"
    __table_args__ = (UniqueConstraint("token_hash"),)
    id: int | None = Field(default=None, primary_key=True)
    owner_type: str = Field(max_length=8)  # "expert" | "district"
    owner_id: str = Field(max_length=32, index=True)
    token_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    revoked_at: datetime | None = None


class BookingNotification(SQLModel, table=True):
    """Outbox of e-mails; `dedupe_key` makes enqueueing idempotent, `claimed_at` sending once."""

    __tablename__ = "booking_notification"
    id: int | None = Field(default=None, primary_key=True)
    booking_id: int | None = Field(default=None, foreign_key="booking_session.id", index=True)
    kind: str = Field(max_length=16)  # request|confirmation|change|cancellation|reminder|escalation
    recipient: str = Field(max_length=254)
    subject: str = Field(max_length=200)
    body: str = Field(sa_column=Column(Text, nullable=False))
    ics: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    ics_method: str | None = Field(default=None, max_length=8)
    dedupe_key: str = Field(max_length=200, unique=True)
    created_at: datetime = Field(default_factory=utcnow)
    claimed_at: datetime | None = Field(default=None, index=True)
    sent_at: datetime | None = Field(default=None, index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)


# --- API schemas ----------------------------------------------------------------------------


def _clock(value: str) -> str:
    parse_clock(value)
    return value


def _aware(value: datetime) -> datetime:
    if value.utcoffset() is None:
        raise ValueError("时间必须带时区偏移，例如 2027-03-01T09:00:00+08:00")
    return value


Clock = Annotated[str, pydantic.AfterValidator(_clock)]
AwareDatetime = Annotated[datetime, pydantic.AfterValidator(_aware)]


class WeeklyRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weekday: int = pydantic.Field(ge=0, le=6)
    start: Clock
    end: Clock

    @model_validator(mode="after")
    def _ordered(self) -> WeeklyRuleIn:
        if parse_clock(self.end) <= parse_clock(self.start):
            raise ValueError("结束时间必须晚于开始时间")
        return self


class TimeRangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: Clock
    end: Clock

    @model_validator(mode="after")
    def _ordered(self) -> TimeRangeIn:
        if parse_clock(self.end) <= parse_clock(self.start):
            raise ValueError("结束时间必须晚于开始时间")
        return self


class DateOverrideIn(BaseModel):
    """On `date` only `ranges` are open (empty: the whole day is closed)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["override"] = "override"
    date: date
    ranges: list[TimeRangeIn] = pydantic.Field(default_factory=list, max_length=12)
    note: str = pydantic.Field(default="", max_length=200)


class OutOfOfficeIn(BaseModel):
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


class AvailabilityUpdate(BaseModel):
    """PUT body: replaces the expert's weekly rules and exceptions; policy fields are optional."""

    model_config = ConfigDict(extra="forbid")
    timezone: str = "Asia/Shanghai"
    weekly: list[WeeklyRuleIn] = pydantic.Field(default_factory=list, max_length=100)
    exceptions: list[ExceptionIn] = pydantic.Field(default_factory=list, max_length=500)
    buffer_before_minutes: int = pydantic.Field(default=0, ge=0, le=240)
    buffer_after_minutes: int = pydantic.Field(default=0, ge=0, le=240)
    min_notice_minutes: int = pydantic.Field(default=24 * 60, ge=0, le=60 * 24 * 30)
    horizon_days: int = pydantic.Field(default=90, ge=1, le=366)
    daily_limit_hours: float | None = pydantic.Field(default=None, gt=0, le=24)
    monthly_limit_hours: float | None = pydantic.Field(default=None, ge=0, le=744)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        parse_timezone(value)
        return value


class AvailabilityPublic(AvailabilityUpdate):
    expert_id: str
    updated_at: datetime | None = None


class SlotPublic(BaseModel):
    start: datetime
    end: datetime


def _duration_ok(start: datetime, end: datetime) -> None:
    if end <= start:
        raise ValueError("结束时间必须晚于开始时间")
    minutes = (end - start).total_seconds() / 60
    if not MIN_DURATION_MINUTES <= minutes <= MAX_DURATION_MINUTES:
        raise ValueError(
            f"时长必须在 {MIN_DURATION_MINUTES} 分钟到 {MAX_DURATION_MINUTES // 60} 小时之间"
        )


class BookingCreate(BaseModel):
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


class Reschedule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _valid(self) -> Reschedule:
        _duration_ok(self.start, self.end)
        return self


class ReasonIn(BaseModel):
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


class RegistrationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    school: str = pydantic.Field(min_length=1, max_length=100)
    participants: int = pydantic.Field(ge=1, le=2000)


class RegistrationPublic(BaseModel):
    id: int
    booking_id: int
    district_id: int
    school: str
    participants: int
    created_at: datetime


class RatingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    score: int = pydantic.Field(ge=1, le=5)
    feedback: str = pydantic.Field(default="", max_length=2000)


class RatingPublic(BaseModel):
    booking_id: int
    score: int
    feedback: str
    created_at: datetime


class FeedRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    url: str = pydantic.Field(min_length=8, max_length=2000, pattern=r"^(https?|webcal)://")
    name: str = pydantic.Field(default="", max_length=100)


class BusyCalendarPublic(BaseModel):
    id: int
    source: str
    name: str
    url: str | None
    event_count: int
    synced_at: datetime | None
    last_error: str | None


class FeedTokenPublic(BaseModel):
    url: str
    token: str
