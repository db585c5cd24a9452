"""Login sessions of the web pages: one row per browser login, found by the hash of its cookie."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from marketplace.clock import utcnow


class LoginSession(SQLModel, table=True):
    __tablename__ = "login_session"
    id: int | None = Field(default=None, primary_key=True)
    # "page": a browser's cookie session; "api": the session a bearer token names (its `sid`).
    kind: str = Field(default="page", max_length=8, sa_column_kwargs={"server_default": "page"})
    # SHA-256 of the random session id the cookie carries: a copy of the table opens no session.
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="user_account.id", index=True, ondelete="CASCADE")
    # The synchroniser token every state-changing request of this session must echo.
    csrf_token: str = Field(max_length=64)
    # The user's token_version at login: bumping it (password change, forced logout) ends
    # the session.
    user_token_version: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    last_seen_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)
    revoked_at: datetime | None = None
    ip: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=255)


class LoginFailure(SQLModel, table=True):
    """One failed login, counted per username at an address, per username and per address."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_scope_key_failed_at", "scope", "key", "failed_at"),)
    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=8)  # "pair" (username at an address), "user" or "address"
    key: str = Field(max_length=128)
    failed_at: datetime = Field(default_factory=utcnow, index=True)
