"""Login throttling shared by every worker process: failed logins are rows in the database.

A username is locked after `max_failures` failures within the window (guessing one account's
password), an address after `address_failures` (one client trying many accounts; higher,
because a school's NAT puts many people behind one address). A success forgets the username's
failures, never the address's (a valid account must not reset an attacker's count).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, delete, func, select

from marketplace.clock import utcnow
from marketplace.db import write_later
from marketplace.login_sessions.models import LoginFailure
from marketplace.validation import strip_control_characters

USER = "user"
ADDRESS = "address"
# A flood of made-up usernames must not grow the key column past its width.
MAX_KEY = 128


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int
    address_failures: int
    window: timedelta


def user_key(username: str) -> str:
    return strip_control_characters(username).strip().lower()[:MAX_KEY]


def address_key(address: str) -> str:
    return strip_control_characters(address)[:MAX_KEY]


def _wait(
    session: Session, scope: str, key: str, limit: int, window: timedelta, now: datetime
) -> float:
    since = now - window
    count, oldest = session.exec(
        select(func.count(), func.min(LoginFailure.failed_at)).where(
            LoginFailure.scope == scope,
            LoginFailure.key == key,
            col(LoginFailure.failed_at) > since,
        )
    ).one()
    if count < limit or oldest is None:
        return 0.0
    if oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=now.tzinfo)
    return max(0.0, (oldest + window - now).total_seconds())


def retry_after(
    *,
    session: Session,
    username: str,
    address: str,
    policy: ThrottlePolicy,
    now: datetime | None = None,
) -> float:
    """Seconds until this username may try again from this address; 0 when it may now."""
    now = now or utcnow()
    return max(
        _wait(session, USER, user_key(username), policy.max_failures, policy.window, now),
        _wait(session, ADDRESS, address_key(address), policy.address_failures, policy.window, now),
    )


def record_failure(
    *,
    session: Session,
    username: str,
    address: str,
    policy: ThrottlePolicy,
    now: datetime | None = None,
) -> None:
    """Count one failed login for the username and for the address (written even if the
    request then fails), and drop failures older than the window."""
    now = now or utcnow()
    rows = [(USER, user_key(username)), (ADDRESS, address_key(address))]

    def write(target: Session) -> None:
        target.exec(  # type: ignore[call-overload]
            delete(LoginFailure).where(col(LoginFailure.failed_at) <= now - policy.window)
        )
        for scope, key in rows:
            target.add(LoginFailure(scope=scope, key=key, failed_at=now))

    write_later(session, write, even_on_error=True)


def record_success(*, session: Session, username: str) -> None:
    """Forget the failures of this username (the address keeps its count)."""
    key = user_key(username)

    def write(target: Session) -> None:
        target.exec(  # type: ignore[call-overload]
            delete(LoginFailure).where(
                col(LoginFailure.scope) == USER, col(LoginFailure.key) == key
            )
        )

    write_later(session, write)
