"""Subscription feed records: the secret token of an expert's or a district's feed."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from marketplace.clock import utcnow


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


class FeedTokenPublic(BaseModel):
    url: str
    token: str
