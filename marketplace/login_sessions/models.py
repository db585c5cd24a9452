"""Login sessions of the web pages: one row per browser login, found by the hash of its cookie."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from marketplace.clock import utcnow


class LoginSession(SQLModel, table=True):
    __tablename__ = "login_session"
    id: int | None = Field(default=None, primary_key=True)
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
