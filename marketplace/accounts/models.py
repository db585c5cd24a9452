"""Users and their roles; a district user is bound to a district, an expert user to a profile."""

from __future__ import annotations

from datetime import datetime

import pydantic
from pydantic import BaseModel
from sqlmodel import Field, SQLModel

from marketplace.accounts.contact import Email, Phone, TimeZoneName
from marketplace.clock import DEFAULT_ZONE, utcnow
from marketplace.validation import InputModel, NameText
from marketplace.vocabulary import Role


class User(SQLModel, table=True):
    __tablename__ = "user_account"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(default="", max_length=64)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16, index=True)
    district_id: int | None = Field(default=None, foreign_key="district.id", index=True)
    expert_id: str | None = Field(default=None, foreign_key="expert.id", index=True)
    # The resource center a province/city staff member or an observer works for.
    center_id: int | None = Field(default=None, foreign_key="resource_center.id", index=True)
    # Where mail and reminders go; optional, validated on the way in (see contact.py).
    email: str | None = Field(default=None, max_length=254, index=True)
    phone: str | None = Field(default=None, max_length=32)
    # The IANA zone this person reads times in: pages and mail show sessions in it.
    timezone: str = Field(default=DEFAULT_ZONE, max_length=64)
    is_active: bool = True
    # Bumped on password change / forced logout: tokens carry it and die with it.
    token_version: int = 0
    # Set by an admin's password reset: the temporary password opens only the change form.
    must_change_password: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None


class UserCreate(InputModel):
    username: str = pydantic.Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = pydantic.Field(min_length=1, max_length=256)
    role: Role
    display_name: NameText = pydantic.Field(default="", max_length=64)
    district: str | None = pydantic.Field(default=None, max_length=128)
    expert_id: str | None = pydantic.Field(default=None, max_length=32)
    center: str | None = pydantic.Field(default=None, max_length=64)
    email: Email = None
    phone: Phone = None
    timezone: TimeZoneName = DEFAULT_ZONE


class UserContactUpdate(InputModel):
    """The contact details an owner (or an admin) edits; an empty value clears the field. The
    time zone cannot be cleared, only changed."""

    email: Email = None
    phone: Phone = None
    timezone: TimeZoneName = DEFAULT_ZONE


class UserPublic(BaseModel):
    id: int
    username: str
    display_name: str
    role: Role
    district_id: int | None
    district_name: str | None = None
    expert_id: str | None
    center_id: int | None = None
    email: str | None = None
    phone: str | None = None
    timezone: str = DEFAULT_ZONE
    is_active: bool = True
    must_change_password: bool = False


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int
