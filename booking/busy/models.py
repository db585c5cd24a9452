"""Busy calendar records: the calendars, their busy times, and their API shapes."""

from __future__ import annotations

from datetime import datetime

import pydantic
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from marketplace.clock import utcnow
from marketplace.validation import InputModel


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
    # The .ics as last read (uploads and feeds alike): later windows are expanded from it.
    source_ics: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    # The window the stored busy times cover; outside it the source is expanded on demand.
    expanded_from: datetime | None = None
    expanded_until: datetime | None = None
    # Events skipped one by one (too old, too far ahead), for the expert to see.
    notes: str | None = Field(default=None, max_length=500)


class BusyTime(SQLModel, table=True):
    __tablename__ = "busy_time"
    id: int | None = Field(default=None, primary_key=True)
    calendar_id: int = Field(foreign_key="busy_calendar.id", index=True, ondelete="CASCADE")
    expert_id: str = Field(index=True, max_length=32)
    start_at: datetime
    end_at: datetime


class FeedRegistration(InputModel):
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
    notes: str | None = None
