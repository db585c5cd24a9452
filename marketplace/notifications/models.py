"""An inbox entry: what happened (kind, title), where to look (link), whether it was read."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel
from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from marketplace.clock import utcnow


class NotificationKind(StrEnum):
    booking_requested = "booking_requested"
    booking_confirmed = "booking_confirmed"
    booking_declined = "booking_declined"
    booking_rescheduled = "booking_rescheduled"  # the session moved (an accepted change)
    booking_move_proposed = "booking_move_proposed"  # the expert proposes a time, not yet moved
    booking_move_declined = "booking_move_declined"  # the proposal was not accepted
    booking_cancelled = "booking_cancelled"
    booking_reminder = "booking_reminder"
    request_matched = "request_matched"
    application_submitted = "application_submitted"  # to the owning center's staff
    application_approved = "application_approved"
    application_partly_approved = "application_partly_approved"
    application_rejected = "application_rejected"
    crisis_escalation = "crisis_escalation"
    crisis_request = "crisis_request"  # a district filed a request marked 危机: staff at once
    training_update = "training_update"
    system = "system"
    time_request = "time_request"  # a district asks an expert for a time
    time_request_answered = "time_request_answered"  # the expert offered a time or declined


class Notification(SQLModel, table=True):
    __tablename__ = "notification"
    __table_args__ = (UniqueConstraint("user_id", "dedupe_key", name="uq_notification_dedupe"),)
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    kind: str = Field(max_length=40)
    title: str = Field(max_length=200)
    link: str = Field(default="", max_length=300)
    # One entry per user and event (a reminder re-queued by the next tick is not a second one).
    dedupe_key: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    read_at: datetime | None = None


class NotificationPublic(BaseModel):
    id: int
    kind: str
    title: str
    link: str
    created_at: datetime
    read_at: datetime | None
