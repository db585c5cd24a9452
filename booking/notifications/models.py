"""The booking e-mail outbox record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from marketplace.clock import utcnow


class BookingNotification(SQLModel, table=True):
    """Outbox of e-mails; `dedupe_key` makes enqueueing idempotent, `claimed_at` sending once."""

    __tablename__ = "booking_notification"
    id: int | None = Field(default=None, primary_key=True)
    booking_id: int | None = Field(default=None, foreign_key="booking_session.id", index=True)
    # request|confirmation|change|cancellation|declined|reminder|escalation|proposal|move_declined
    kind: str = Field(max_length=16)
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
