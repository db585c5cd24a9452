"""Login sessions: start one at login (a cookie's or a bearer token's), resolve, touch, end,
revoke all of a user's, purge."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, delete, select, update

from marketplace.accounts.models import User
from marketplace.audit.service import Actor, record, save_and_record
from marketplace.clock import utcnow
from marketplace.db import write_later
from marketplace.login_sessions.models import LoginSession

# last_seen_at is written at most this often, so reading pages does not write on every request.
TOUCH_INTERVAL = timedelta(minutes=1)
PAGE = "page"
API = "api"
# Revoked and expired rows are kept this long (visible to staff investigating), then purged.
RETENTION = timedelta(days=7)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class SessionLookup:
    """The outcome of resolving a cookie: the live session and its user, or why there is none."""

    login: LoginSession | None = None
    user: User | None = None
    expired: bool = False


def start_session(
    *,
    session: Session,
    user: User,
    lifetime: timedelta,
    ip: str = "",
    user_agent: str = "",
    now: datetime | None = None,
    kind: str = PAGE,
) -> tuple[LoginSession, str]:
    """Open a new login session for `user`; returns the row and the secret id for the cookie.

    `kind=API` opens the session a bearer token names instead (no cookie is ever made of it).
    """
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    login = LoginSession(
        kind=kind,
        token_hash=hash_token(token),
        user_id=user.id or 0,
        csrf_token=secrets.token_urlsafe(32),
        user_token_version=user.token_version,
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetime,
        ip=ip[:64],
        user_agent=user_agent[:255],
    )
    actor = Actor(label=user.username, user_id=user.id)

    def write(target: Session) -> None:
        save_and_record(
            session=target,
            row=login,
            actor=actor,
            action="session.login",
            entity_type="user",
            entity_id=login.user_id,
            after={"login_session": login.id, "ip": login.ip, "kind": kind},
        )

    # Through write_later: a login verifies the password in a read session (no write lock held
    # for Argon2) and writes the new session after it.
    write_later(session, write)
    return login, token


def resolve_session(
    *, session: Session, token: str, idle: timedelta, now: datetime | None = None
) -> SessionLookup:
    """The live session a cookie id names (touched), or an empty lookup saying if it expired."""
    now = now or utcnow()
    login = session.exec(
        select(LoginSession).where(
            LoginSession.token_hash == hash_token(token), LoginSession.kind == PAGE
        )
    ).first()
    if login is None or login.revoked_at is not None:
        return SessionLookup()
    if now >= login.expires_at or now - login.last_seen_at > idle:
        _set_later(session, login, revoked_at=now)
        return SessionLookup(expired=True)
    user = session.get(User, login.user_id)
    if user is None or not user.is_active or user.token_version != login.user_token_version:
        _set_later(session, login, revoked_at=now)
        return SessionLookup(expired=True)
    if now - login.last_seen_at >= TOUCH_INTERVAL:
        _set_later(session, login, last_seen_at=now)
    return SessionLookup(login=login, user=user)


def _set_later(session: Session, login: LoginSession, **values: datetime) -> None:
    """Update one session row through write_later: a page read never writes while reading."""
    session_id = login.id

    def write(target: Session) -> None:
        target.exec(update(LoginSession).where(col(LoginSession.id) == session_id).values(**values))

    write_later(session, write)


def live_token_session(
    *, session: Session, token: str, user: User, now: datetime | None = None
) -> LoginSession | None:
    """The open login session a bearer token's `sid` names, if it still belongs to `user`."""
    login = session.exec(
        select(LoginSession).where(
            LoginSession.token_hash == hash_token(token), LoginSession.kind == API
        )
    ).first()
    if (
        login is None
        or login.user_id != user.id
        or login.revoked_at is not None
        or (now or utcnow()) >= login.expires_at
        or login.user_token_version != user.token_version
    ):
        return None
    return login


def revoke_all_sessions(
    *, session: Session, user: User, actor: Actor, reason: str, now: datetime | None = None
) -> int:
    """End every session and bearer token of `user` (password change or reset, deactivation).

    Bumps the user's token_version, which every session and token is checked against on use,
    and marks the open sessions revoked so the record shows when they ended. Returns how many
    open sessions were ended. Runs in the caller's transaction.
    """
    now = now or utcnow()
    user.token_version += 1
    session.add(user)
    result = session.exec(
        update(LoginSession)
        .where(col(LoginSession.user_id) == user.id, col(LoginSession.revoked_at).is_(None))
        .values(revoked_at=now)
    )
    ended = result.rowcount or 0
    record(
        session=session,
        actor=actor,
        action="session.revoke_all",
        entity_type="user",
        entity_id=str(user.id),
        after={"reason": reason, "sessions_ended": ended, "token_version": user.token_version},
    )
    return ended


def end_session(*, session: Session, login: LoginSession, now: datetime | None = None) -> None:
    """Revoke one session (logout); its cookie opens nothing afterwards."""
    if login.revoked_at is not None:
        return
    user = session.get(User, login.user_id)
    actor = Actor(label=user.username if user else "unknown", user_id=login.user_id)
    session_id, user_id = login.id, login.user_id
    _set_later(session, login, revoked_at=now or utcnow())

    def write(target: Session) -> None:
        record(
            session=target,
            actor=actor,
            action="session.logout",
            entity_type="user",
            entity_id=str(user_id),
            before={"login_session": session_id},
        )

    write_later(session, write)


def end_session_by_token(*, session: Session, token: str) -> None:
    """Revoke the session a cookie id names, if still open (re-login from the same browser)."""
    login = session.exec(
        select(LoginSession).where(LoginSession.token_hash == hash_token(token))
    ).first()
    if login is not None:
        end_session(session=session, login=login)


def purge_sessions(*, session: Session, now: datetime | None = None) -> int:
    """Delete sessions that ended more than RETENTION ago; returns how many."""
    cutoff = (now or utcnow()) - RETENTION
    result = session.exec(
        delete(LoginSession).where(
            (col(LoginSession.expires_at) < cutoff) | (col(LoginSession.revoked_at) < cutoff)
        )
    )
    return result.rowcount or 0
