"""District requests: what a district asks the resource center for, and its life cycle."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import pydantic
from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel

from marketplace import messages
from marketplace.clock import LOCAL_TZ, utcnow
from marketplace.experts.models import EXPERT_ID_PATTERN, MAX_MONTHLY_HOURS, RegionRef
from marketplace.validation import InputModel, cross_field_error
from marketplace.vocabulary import Format, ServiceType

MAX_EXPERTS_PER_REQUEST = 20
MAX_EXCLUDED = 200
EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"


class PrivacyChoice(StrEnum):
    mask = "mask"  # replace the personal data found with stars, then save
    confirm = "confirm"  # the writer confirms the text is needed as it is


class Urgency(StrEnum):
    normal = "normal"
    urgent = "urgent"
    crisis = "crisis"


class RequestStatus(StrEnum):
    draft = "draft"
    submitted = "submitted"
    matched = "matched"
    scheduled = "scheduled"
    done = "done"
    withdrawn = "withdrawn"


# Allowed status changes; "matched" and "scheduled" are set by matching and booking.
TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    RequestStatus.draft: frozenset({RequestStatus.submitted, RequestStatus.withdrawn}),
    # A district may book a recommended expert before any batch match: that schedules it too.
    RequestStatus.submitted: frozenset(
        {
            RequestStatus.matched,
            RequestStatus.scheduled,
            RequestStatus.withdrawn,
            RequestStatus.draft,
        }
    ),
    RequestStatus.matched: frozenset(
        {RequestStatus.scheduled, RequestStatus.submitted, RequestStatus.withdrawn}
    ),
    RequestStatus.scheduled: frozenset({RequestStatus.done, RequestStatus.withdrawn}),
    RequestStatus.done: frozenset(),
    RequestStatus.withdrawn: frozenset(),
}
# Requests a batch run considers.
OPEN_STATUSES = (RequestStatus.submitted,)


class DistrictRequest(SQLModel, table=True):
    __tablename__ = "district_request"
    id: int | None = Field(default=None, primary_key=True)
    external_id: str | None = Field(default=None, max_length=32, unique=True)
    text: str = Field(sa_column=Column(Text, nullable=False))
    district_id: int = Field(foreign_key="district.id", index=True)
    service_type: str = Field(max_length=32)
    format: str = Field(max_length=16)
    hours: int
    experts_needed: int = 1
    window_start: date
    window_end: date
    urgency: str = Field(default=Urgency.normal.value, max_length=16)
    excluded_expert_ids: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    min_years_experience: int | None = None
    status: str = Field(default=RequestStatus.draft.value, max_length=16, index=True)
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class _RequestFields(InputModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: str = pydantic.Field(min_length=2, max_length=2000)
    service_type: ServiceType
    format: Format
    hours: int = pydantic.Field(ge=1, le=MAX_MONTHLY_HOURS)
    experts_needed: int = pydantic.Field(default=1, ge=1, le=MAX_EXPERTS_PER_REQUEST)
    window_start: date
    window_end: date
    urgency: Urgency = Urgency.normal
    excluded_expert_ids: list[str] = pydantic.Field(default_factory=list, max_length=MAX_EXCLUDED)
    min_years_experience: int | None = pydantic.Field(default=None, ge=0, le=70)

    @field_validator("excluded_expert_ids")
    @classmethod
    def _valid_ids(cls, values: list[str]) -> list[str]:
        import re

        cleaned = list(dict.fromkeys(v.strip() for v in values))
        bad = [v for v in cleaned if not re.match(EXPERT_ID_PATTERN, v)]
        if bad:
            raise ValueError(f"专家编号格式不正确：{'、'.join(bad[:5])}")
        return cleaned

    @model_validator(mode="after")
    def _window_in_order(self) -> _RequestFields:
        if self.window_end < self.window_start:
            raise cross_field_error(messages.REQUEST_WINDOW_ORDER, "window_start", "window_end")
        return self


def window_problems(start: date | None, end: date | None, today: date) -> dict[str, str]:
    """What is wrong with a new request's window, by field: its end before its start, or the
    whole window in the past (a form reports these beside its other errors, in one round)."""
    problems: dict[str, str] = {}
    if start is not None and end is not None and end < start:
        problems["window_start"] = problems["window_end"] = messages.REQUEST_WINDOW_ORDER
    elif end is not None and end < today:
        problems["window_end"] = messages.REQUEST_WINDOW_PAST.format(today=today.isoformat())
    return problems


class DistrictRequestCreate(_RequestFields):
    """A new request; staff name the district, a district user files for their own."""

    district: str | None = pydantic.Field(default=None, max_length=128)
    external_id: str | None = pydantic.Field(default=None, pattern=EXTERNAL_ID_PATTERN)
    submit: bool = False
    # Student personal data in `text` is refused unless the writer masks or confirms it.
    privacy: PrivacyChoice | None = None

    @model_validator(mode="after")
    def _window_ahead(self) -> DistrictRequestCreate:
        past = window_problems(None, self.window_end, utcnow().astimezone(LOCAL_TZ).date())
        if past:
            raise cross_field_error(past["window_end"], "window_end")
        return self


class DistrictRequestUpdate(InputModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: str | None = pydantic.Field(default=None, min_length=2, max_length=2000)
    service_type: ServiceType | None = None
    format: Format | None = None
    hours: int | None = pydantic.Field(default=None, ge=1, le=MAX_MONTHLY_HOURS)
    experts_needed: int | None = pydantic.Field(default=None, ge=1, le=MAX_EXPERTS_PER_REQUEST)
    window_start: date | None = None
    window_end: date | None = None
    urgency: Urgency | None = None
    excluded_expert_ids: list[str] | None = pydantic.Field(default=None, max_length=MAX_EXCLUDED)
    min_years_experience: int | None = pydantic.Field(default=None, ge=0, le=70)
    privacy: PrivacyChoice | None = None

    @field_validator("excluded_expert_ids")
    @classmethod
    def _check_ids(cls, values: list[str] | None) -> list[str] | None:
        # null means "leave unchanged" (the service drops it); only lists are checked.
        return None if values is None else _RequestFields._valid_ids(values)


class DistrictRequestPublic(BaseModel):
    id: int
    external_id: str | None
    text: str
    district_id: int
    district: RegionRef
    service_type: ServiceType
    format: Format
    hours: int
    experts_needed: int
    window_start: date
    window_end: date
    urgency: Urgency
    excluded_expert_ids: list[str]
    min_years_experience: int | None
    status: RequestStatus
    created_by: int | None
    created_at: datetime
    updated_at: datetime


class DistrictRequestPage(BaseModel):
    items: list[DistrictRequestPublic]
    total: int
    page: int
    page_size: int


class RequestWindow(InputModel):
    model_config = ConfigDict(extra="ignore")
    start: date
    end: date


class RequestLine(InputModel):
    """One line of the request exchange format (`../shared/eval/dev/requests.jsonl`)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    id: str = pydantic.Field(pattern=EXTERNAL_ID_PATTERN)
    text: str = pydantic.Field(min_length=1, max_length=2000)
    district: RegionRef
    service_type: ServiceType
    format: Format
    hours: int = pydantic.Field(ge=1, le=MAX_MONTHLY_HOURS)
    experts_needed: int = pydantic.Field(default=1, ge=1, le=MAX_EXPERTS_PER_REQUEST)
    exclude_experts: list[str] = pydantic.Field(default_factory=list, max_length=MAX_EXCLUDED)
    window: RequestWindow | None = None
    urgency: Urgency = Urgency.normal
    min_years_experience: int | None = pydantic.Field(default=None, ge=0, le=70)
