"""A request for a time: the window a district can use, and the expert's answer."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import pydantic
from pydantic import BaseModel, ConfigDict, model_validator
from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from booking.availability import MAX_DURATION_MINUTES, MIN_DURATION_MINUTES
from booking.fields import AwareDatetime
from booking.sessions.models import BookingKind
from marketplace import messages
from marketplace.clock import utcnow
from marketplace.validation import InputModel, RecordId, SaneDate, cross_field_error
from marketplace.vocabulary import Format

MAX_WINDOW_DAYS = 60  # how far apart the earliest and latest day of a request may be


class DayPart(StrEnum):
    any = "any"
    morning = "morning"
    afternoon = "afternoon"
    evening = "evening"


# Local hours (start inclusive, end exclusive) a session must start and end within.
DAY_PART_HOURS = {
    DayPart.any: (0, 24),
    DayPart.morning: (6, 12),
    DayPart.afternoon: (12, 18),
    DayPart.evening: (18, 22),
}


class RequestableKind(StrEnum):
    """The session kinds a district may ask a time for: a training has seats for many
    districts, so the expert publishes it and districts register instead."""

    supervision = "supervision"
    consultation = "consultation"
    crisis_support = "crisis_support"


class TimeRequestStatus(StrEnum):
    open = "open"  # waiting for the expert
    offered = "offered"  # the expert offered a time: a confirmed session exists
    declined = "declined"  # the expert cannot, with a reason
    withdrawn = "withdrawn"  # the district no longer needs it


class TimeRequest(SQLModel, table=True):
    """A district's request for a session with an expert at a time still to be found."""

    __tablename__ = "booking_time_request"
    id: int | None = Field(default=None, primary_key=True)
    expert_id: str = Field(foreign_key="expert.id", index=True, max_length=32)
    district_id: int = Field(foreign_key="district.id", index=True)
    # Plain integer, as on the booking: the district's request, when the time is for one.
    request_id: int | None = Field(default=None, index=True)
    created_by_user_id: int | None = None
    kind: str = Field(max_length=16)
    format: str = Field(max_length=8)
    duration_minutes: int
    earliest_day: date
    latest_day: date
    day_part: str = Field(default=DayPart.any.value, max_length=12)
    title: str = Field(max_length=120)
    note: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: str = Field(default=TimeRequestStatus.open.value, max_length=12, index=True)
    booking_id: int | None = Field(default=None, foreign_key="booking_session.id")
    decline_reason: str | None = Field(default=None, max_length=500)
    answered_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class TimeRequestCreate(InputModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    expert_id: str = pydantic.Field(min_length=1, max_length=32)
    kind: RequestableKind
    format: Format
    duration_minutes: int = pydantic.Field(
        default=60, ge=MIN_DURATION_MINUTES, le=MAX_DURATION_MINUTES, multiple_of=15
    )
    earliest_day: SaneDate
    latest_day: SaneDate
    day_part: DayPart = DayPart.any
    title: str = pydantic.Field(min_length=1, max_length=120)
    note: str = pydantic.Field(default="", max_length=2000)
    request_id: RecordId | None = None
    # Staff may ask on behalf of a district.
    district_id: RecordId | None = None

    @model_validator(mode="after")
    def _window(self) -> TimeRequestCreate:
        if self.latest_day < self.earliest_day:
            raise cross_field_error(messages.TIME_REQUEST_DATE_ORDER, "earliest_day", "latest_day")
        if (self.latest_day - self.earliest_day).days > MAX_WINDOW_DAYS:
            raise cross_field_error(
                messages.TIME_REQUEST_WINDOW_TOO_LONG.format(days=MAX_WINDOW_DAYS),
                "earliest_day",
                "latest_day",
            )
        return self


class TimeOffer(InputModel):
    model_config = ConfigDict(extra="forbid")
    start: AwareDatetime
    end: AwareDatetime


class TimeRequestPublic(BaseModel):
    id: int
    expert_id: str
    expert_name: str
    district_id: int
    district_name: str
    request_id: int | None
    kind: BookingKind
    format: Format
    duration_minutes: int
    earliest_day: date
    latest_day: date
    day_part: DayPart
    title: str
    note: str
    status: TimeRequestStatus
    booking_id: int | None
    decline_reason: str | None
    answered_at: datetime | None
    created_at: datetime
