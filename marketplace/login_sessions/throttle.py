"""Login throttling shared by every worker process: failed logins are rows in the database.

Designed so that guessing cannot be turned into locking a user out of their usual place:
- a username *from one address* waits after `max_failures` failures within the window (the
  attacker's address is throttled, the user's own address is not);
- a username *across addresses* waits after `user_failures` (higher) failures, but only at
  addresses it has never logged in from: where the user has logged in before (a login session
  of theirs from that address is on record) this limit does not apply, so a guesser with many
  addresses cannot lock the user out of their office or home;
- an address waits after `address_failures` failures for any usernames (one client spraying
  many accounts; higher, because a school's NAT puts many people behind one address).
A success forgets the failures of that username at that address, never the address's or the
username's overall count (a valid login must not reset an attacker's count).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, delete, func, select

from marketplace.accounts.models import User
from marketplace.clock import utcnow
from marketplace.db import write_later
from marketplace.login_sessions.models import LoginFailure, LoginSession
from marketplace.validation import strip_control_characters

USER = "user"
ADDRESS = "address"
USER_AT_ADDRESS = "pair"
# A flood of made-up usernames must not grow the key column past its width.
MAX_KEY = 128


@dataclass(frozen=True)
class ThrottlePolicy:
    max_failures: int  # one username from one address
    address_failures: int  # one address, any usernames
    window: timedelta
    user_failures: int = 20  # one username from all addresses (unfamiliar addresses only)


def user_key(username: str) -> str:
    return strip_control_characters(username).strip().lower()[:MAX_KEY]


def address_key(address: str) -> str:
    return strip_control_characters(address)[:MAX_KEY]


def pair_key(username: str, address: str) -> str:
    """One key per (username, address), of fixed width whatever their lengths."""
    joined = f"{user_key(username)}\n{address_key(address)}"
    return hashlib.sha256(joined.encode("utf-8")).hexdigest()


def _familiar(session: Session, username: str, address: str) -> bool:
    """Whether the user named `username` has logged in from `address` (a session on record)."""
    name = strip_control_characters(username).strip()
    if not name or not address:
        return False
    found = session.exec(
        select(LoginSession.id)
        .join(User, col(User.id) == col(LoginSession.user_id))
        .where(User.username == name, LoginSession.ip == address[:64])
        .limit(1)
    ).first()
    return found is not None


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
    window = policy.window
    wait = max(
        _wait(
            session, USER_AT_ADDRESS, pair_key(username, address), policy.max_failures, window, now
        ),
        _wait(session, ADDRESS, address_key(address), policy.address_failures, window, now),
    )
    if wait > 0:
        return wait
    overall = _wait(session, USER, user_key(username), policy.user_failures, window, now)
    if overall > 0 and not _familiar(session, username, address):
        return overall
    return 0.0


def record_failure(
    *,
    session: Session,
    username: str,
    address: str,
    policy: ThrottlePolicy,
    now: datetime | None = None,
) -> None:
    """Count one failed login for the username at the address, the username and the address
    (written even if the request then fails), and drop failures older than the window."""
    now = now or utcnow()
    rows = [
        (USER_AT_ADDRESS, pair_key(username, address)),
        (USER, user_key(username)),
        (ADDRESS, address_key(address)),
    ]

    def write(target: Session) -> None:
        target.exec(delete(LoginFailure).where(col(LoginFailure.failed_at) <= now - policy.window))
        for scope, key in rows:
            target.add(LoginFailure(scope=scope, key=key, failed_at=now))

    write_later(session, write, even_on_error=True)


def record_success(*, session: Session, username: str, address: str) -> None:
    """Forget the failures of this username at this address (the user's own typos); the
    address's and the username's overall counts stay (they may be an attacker's)."""
    key = pair_key(username, address)

    def write(target: Session) -> None:
        target.exec(
            delete(LoginFailure).where(
                col(LoginFailure.scope) == USER_AT_ADDRESS, col(LoginFailure.key) == key
            )
        )

    write_later(session, write)
