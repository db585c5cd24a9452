"""Training registrations: a school's participants in a training, and their API shapes."""

from __future__ import annotations

from datetime import datetime

import pydantic
from pydantic import BaseModel, ConfigDict
from sqlmodel import Field, SQLModel

from marketplace.clock import utcnow
from marketplace.validation import InputModel


class TrainingRegistration(SQLModel, table=True):
    __tablename__ = "training_registration"
    id: int | None = Field(default=None, primary_key=True)
    booking_id: int = Field(foreign_key="booking_session.id", index=True, ondelete="CASCADE")
    district_id: int = Field(foreign_key="district.id", index=True)
    school: str = Field(max_length=100)
    participants: int
    created_at: datetime = Field(default_factory=utcnow)


class RegistrationCreate(InputModel):
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
