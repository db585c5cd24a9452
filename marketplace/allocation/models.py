"""The allocation ledger: every movement of a procured service's quantity is one entry.

Entries are append-only and positive; their kind gives the direction:

- allocation:  pool → district (an application approved)
- release:     district → pool (unused quantity given back)
- expiry:      district → gone (unused quantity lapsed with the service's validity)
- consumption: district → used (licences assigned, seats taken, hours of booked sessions)

So for each service: bought = remaining + Σ district balances + consumed + expired, exactly.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import pydantic
from pydantic import BaseModel
from sqlalchemy import CheckConstraint
from sqlmodel import Field, SQLModel

from marketplace.clock import utcnow
from marketplace.validation import InputModel


class LedgerKind(StrEnum):
    allocation = "allocation"
    release = "release"
    expiry = "expiry"
    consumption = "consumption"


class LedgerEntry(SQLModel, table=True):
    __tablename__ = "allocation_ledger"
    __table_args__ = (CheckConstraint("hundredths > 0", name="ck_allocation_ledger_positive"),)
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    kind: str = Field(max_length=16, index=True)
    service_id: int = Field(foreign_key="procured_service.id", index=True)
    district_id: int = Field(foreign_key="district.id", index=True)
    application_id: int = Field(foreign_key="service_application.id", index=True)
    hundredths: int
    reference: str = Field(default="", max_length=128, index=True)
    actor: str = Field(default="", max_length=64)
    note: str = Field(default="", max_length=500)


class LedgerEntryPublic(BaseModel):
    id: int
    at: datetime
    kind: LedgerKind
    service_id: int
    district_id: int
    application_id: int
    quantity: float
    reference: str
    actor: str
    note: str


class DistrictBalance(BaseModel):
    district_id: int
    district_name: str
    allocated: float
    released: float
    expired: float
    consumed: float
    balance: float


class PoolBalance(BaseModel):
    """A service's quantities derived from the ledger; `reconciled` checks the identity above."""

    service_id: int
    bought: float
    allocated: float
    released: float
    expired: float
    consumed: float
    held_by_districts: float
    remaining: float
    reconciled: bool


class LedgerView(BaseModel):
    pool: PoolBalance | None
    balances: list[DistrictBalance]
    entries: list[LedgerEntryPublic]


class DistrictProposalPublic(BaseModel):
    district_id: int
    district_name: str
    students: int
    already_allocated: float
    requested: float
    proposed: float
    no_allocation_yet: bool
    reasoning: str


class ApplicationShare(BaseModel):
    application_id: int
    district_id: int
    requested: float
    proposed: float


class ProposalPublic(BaseModel):
    service_id: int
    unit: str
    remaining_quantity: float
    total_requested: float
    total_proposed: float
    rule: str
    fingerprint: str
    districts: list[DistrictProposalPublic]
    applications: list[ApplicationShare]


class ProposalConfirm(InputModel):
    """Staff confirm the proposal they were shown, identified by its fingerprint."""

    fingerprint: str = pydantic.Field(min_length=8, max_length=64)


class ApprovalContext(BaseModel):
    """What staff see beside a pending application before deciding it."""

    application_id: int
    unit: str
    remaining_quantity: float
    period_label: str
    district_students: int
    district_period_total: float  # this service, approved to the district this term, net
    district_period_per_10k: float | None  # per PER_STUDENTS students; None without a count
    suggested_quantity: float  # the fair-share proposal's amount for this application
    left_after_suggestion: float
