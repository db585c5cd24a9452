"""Stored batch proposals: a run over some requests, its pairs, and what staff did with them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import pydantic
from pydantic import BaseModel
from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from marketplace.clock import utcnow
from marketplace.requests.models import DistrictRequestPublic
from marketplace.validation import InputModel, RecordId


class RunStatus(StrEnum):
    proposed = "proposed"
    confirmed = "confirmed"
    discarded = "discarded"


class PairRole(StrEnum):
    assigned = "assigned"
    alternate = "alternate"


class PairStatus(StrEnum):
    proposed = "proposed"
    removed = "removed"
    confirmed = "confirmed"


class MatchRun(SQLModel, table=True):
    """One batch proposal; `summary` keeps totals and the unserved requests with reasons."""

    __tablename__ = "match_run"
    id: int | None = Field(default=None, primary_key=True)
    status: str = Field(default=RunStatus.proposed.value, max_length=16, index=True)
    method: str = Field(default="solver", max_length=16)
    request_ids: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    summary: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    unassigned: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    created_by: int | None = Field(default=None, foreign_key="user_account.id")
    created_at: datetime = Field(default_factory=utcnow)
    confirmed_at: datetime | None = None


class MatchPair(SQLModel, table=True):
    __tablename__ = "match_pair"
    __table_args__ = (UniqueConstraint("run_id", "request_id", "expert_id"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="match_run.id", index=True, ondelete="CASCADE")
    request_id: int = Field(foreign_key="district_request.id", index=True)
    expert_id: str = Field(foreign_key="expert.id", max_length=32, index=True)
    role: str = Field(default=PairRole.assigned.value, max_length=16)
    status: str = Field(default=PairStatus.proposed.value, max_length=16, index=True)
    score: float = 0.0
    hours: int = 0
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    source: str = Field(default="solver", max_length=16)  # "solver" | "staff"
    created_at: datetime = Field(default_factory=utcnow)


# --- API schemas ---------------------------------------------------------------------------


class PairPublic(BaseModel):
    request_id: int
    expert_id: str
    role: PairRole
    status: PairStatus
    score: float
    hours: int
    reasons: list[str]
    source: str


class RunPublic(BaseModel):
    id: int
    status: RunStatus
    method: str
    request_ids: list[int]
    summary: dict[str, Any]
    unassigned: list[dict[str, Any]]
    pairs: list[PairPublic]
    created_by: int | None
    created_at: datetime
    confirmed_at: datetime | None


class RunCreate(InputModel):
    request_ids: list[RecordId] | None = pydantic.Field(default=None, max_length=5000)
    method: str = pydantic.Field(default="solver", pattern="^(solver|greedy)$")


class PairChange(InputModel):
    request_id: RecordId
    expert_id: str = pydantic.Field(min_length=1, max_length=32)


class RunAdjust(InputModel):
    add: list[PairChange] = pydantic.Field(default_factory=list, max_length=500)
    remove: list[PairChange] = pydantic.Field(default_factory=list, max_length=500)


class Recommendation(BaseModel):
    expert_id: str
    name: str
    score: float
    reasons: list[str]


class AssignedExpert(BaseModel):
    """An expert staff assigned to a request in a confirmed match."""

    expert_id: str
    name: str
    organization: str
    city: str
    reasons: list[str] = []


class RequestDetail(DistrictRequestPublic):
    """A request with the experts a confirmed match assigned to it."""

    assigned_experts: list[AssignedExpert] = []


class Exclusion(BaseModel):
    expert_id: str
    name: str
    reasons: list[str]


class Recommendations(BaseModel):
    request_id: int
    items: list[Recommendation]
    excluded: list[Exclusion] | None = None


class ConfirmedPair(BaseModel):
    """A confirmed pair, the input of booking: a pending session to schedule."""

    run_id: int
    request_id: int
    expert_id: str
    hours: int
    window_start: Any
    window_end: Any
    format: str
    service_type: str
    district_id: int
