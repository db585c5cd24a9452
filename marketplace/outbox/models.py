"""The search outbox: every write to an indexed record leaves a row, drained into the index."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from marketplace.clock import utcnow


class IndexOutbox(SQLModel, table=True):
    __tablename__ = "index_outbox"
    id: int | None = Field(default=None, primary_key=True)
    entity_type: str = Field(max_length=32)  # "expert" | "service"
    entity_id: str = Field(max_length=64)
    operation: str = Field(max_length=8)  # "upsert" | "delete"
    created_at: datetime = Field(default_factory=utcnow)
    processed_at: datetime | None = Field(default=None, index=True)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)
