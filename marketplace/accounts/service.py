"""Users: creation, password policy and hashing (Argon2id), authentication, access tokens."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import jwt
from pwdlib import PasswordHash
from sqlmodel import Session, col, select, update
from zxcvbn import zxcvbn

from marketplace import messages
from marketplace.accounts.models import User, UserContactUpdate, UserCreate, UserPublic
from marketplace.accounts.permissions import Action, require
from marketplace.accounts.principal import actor_for as actor_for  # callers import it here too
from marketplace.audit.service import Actor, save_and_record
from marketplace.centers.service import center_named, province_center
from marketplace.clock import utcnow
from marketplace.db import write_later
from marketplace.districts.models import District
from marketplace.districts.service import find_district
from marketplace.errors import Conflict, InvalidInput, Unauthorized
from marketplace.experts.service import get_expert
from marketplace.login_sessions.models import LoginSession
from marketplace.login_sessions.service import (
    API,
    live_token_session,
    revoke_all_sessions,
    start_session,
)
from marketplace.validation import MAX_RECORD_ID, has_control_characters
from marketplace.vocabulary import Role

MIN_PASSWORD_LENGTH = 8
# zxcvbn's score: 3 = about 10^8 guesses or more ("safely unguessable" against online attacks
# with throttling, moderate protection offline). 0-2 covers common passwords, single words,
# keyboard walks, dates and the user's own name.
MIN_PASSWORD_SCORE = 3
# The estimator's cost grows with length; what follows the first 100 characters adds strength.
_ESTIMATED_PREFIX = 100
# Words of this site a password should not lean on (the estimator treats them as known).
_SITE_WORDS = ("heart", "hub", "heart-hub", "xian", "beilin", "shaanxi")
# Only these log in: a row holding any other role (the system principal's) is nobody.
PERSON_ROLES = frozenset(role.value for role in Role)
TOKEN_ALGORITHM = "HS256"  # noqa: S105 - an algorithm name, not a secret


@lru_cache(maxsize=1)
def _hasher() -> PasswordHash:
    return PasswordHash.recommended()  # Argon2id with the library's current parameters


# A real hash to compare against when the user does not exist, so timing does not reveal it.
@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher().hash("not-a-real-password-0")


def check_password_policy(password: str, *, user_inputs: Sequence[str] = ()) -> None:
    """Refuse short passwords and guessable ones (zxcvbn's estimate), saying why in Chinese.

    `user_inputs` are the account's own words (username, display name): a password built on
    them counts as guessable.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            messages.PASSWORD_TOO_SHORT.format(n=MIN_PASSWORD_LENGTH),
            code="password_short",
            field="password",
        )
    words = [w for w in (*user_inputs, *_SITE_WORDS) if w]
    estimate = zxcvbn(password[:_ESTIMATED_PREFIX], user_inputs=words)
    if estimate["score"] >= MIN_PASSWORD_SCORE:
        return
    reasons = _weakness_reasons(estimate.get("sequence") or [])
    raise InvalidInput(
        messages.PASSWORD_GUESSABLE.format(
            reasons="、".join(reasons) if reasons else messages.PASSWORD_REASON_SHORT_OR_SIMPLE
        ),
        code="password_guessable",
        field="password",
    )


def _weakness_reasons(sequence: Sequence[dict]) -> list[str]:
    """The Chinese names of the guessable patterns zxcvbn found, in order, each once."""
    reasons: list[str] = []
    for match in sequence:
        pattern = match.get("pattern")
        if pattern == "dictionary":
            name = match.get("dictionary_name")
            if name == "passwords":
                reason = messages.PASSWORD_REASON_COMMON
            elif name == "user_inputs":
                reason = messages.PASSWORD_REASON_OWN_NAME
            else:
                reason = messages.PASSWORD_REASON_WORD
        else:
            reason = {
                "spatial": messages.PASSWORD_REASON_KEYBOARD,
                "repeat": messages.PASSWORD_REASON_REPEAT,
                "sequence": messages.PASSWORD_REASON_SEQUENCE,
                "regex": messages.PASSWORD_REASON_DATE,
                "date": messages.PASSWORD_REASON_DATE,
            }.get(pattern or "", "")
        if reason and reason not in reasons:
            reasons.append(reason)
    return reasons


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def create_user(*, session: Session, data: UserCreate, user: User) -> User:
    """Create an account (whoever manages accounts: admins, `heart users`, demo seeding);
    district users need a district, expert users an expert profile."""
    require(user, Action.user_manage)
    actor = actor_for(user)
    check_password_policy(data.password, user_inputs=(data.username, data.display_name))
    if session.exec(select(User).where(User.username == data.username)).first():
        raise Conflict(
            messages.USER_EXISTS.format(username=data.username),
            code="username_taken",
            field="username",
        )
    district_id = None
    expert_id = None
    if data.role == Role.district:
        if not data.district:
            raise InvalidInput(
                messages.ROLE_NEEDS_DISTRICT, code="district_required", field="district"
            )
        district_id = find_district(session=session, name=data.district).id
    if data.role == Role.expert:
        if not data.expert_id:
            raise InvalidInput(
                messages.ROLE_NEEDS_EXPERT, code="expert_required", field="expert_id"
            )
        expert_id = get_expert(session=session, expert_id=data.expert_id).id
    center_id = center_for_role(session=session, role=data.role, center=data.center)
    account = User(
        username=data.username,
        display_name=data.display_name or data.username,
        password_hash=hash_password(data.password),
        role=data.role.value,
        district_id=district_id,
        expert_id=expert_id,
        center_id=center_id,
        email=data.email,
        phone=data.phone,
        timezone=data.timezone,
    )
    save_and_record(
        session=session,
        row=account,
        actor=actor,
        action="user.create",
        entity_type="user",
        after={
            "username": account.username,
            "role": account.role,
            "district_id": district_id,
            "expert_id": expert_id,
            "center_id": center_id,
            "email": account.email,
            "phone": account.phone,
        },
    )
    return account


CENTER_ROLES = (Role.staff, Role.city_staff, Role.observer)


def center_for_role(*, session: Session, role: Role, center: str | None) -> int | None:
    """The center an account of `role` works for (new or edited): province staff default to the
    province center, city staff name a city center, observers name the center whose region
    they read; other roles have none."""
    if role not in CENTER_ROLES:
        if center:
            raise InvalidInput(
                messages.FORBIDDEN_CENTER_FOR_ROLE, code="center_not_allowed", field="center"
            )
        return None
    if not center:
        if role == Role.staff:
            province = province_center(session=session)
            return None if province is None else province.id
        message = (
            messages.ROLE_NEEDS_CITY_CENTER
            if role == Role.city_staff
            else messages.ROLE_NEEDS_CENTER
        )
        raise InvalidInput(message, code="center_required", field="center")
    found = center_named(session=session, name=center)
    if (role == Role.city_staff) != (found.city_id is not None):
        message = (
            messages.ROLE_NEEDS_CITY_CENTER
            if role == Role.city_staff
            else messages.ROLE_NEEDS_PROVINCE_CENTER
        )
        if role != Role.observer:
            raise InvalidInput(message, code="center_level", field="center")
    return found.id


def update_contact(*, session: Session, user: User, data: UserContactUpdate) -> User:
    """Set the e-mail address, phone number and/or time zone of `user`'s own account (only the
    fields given)."""
    require(user, Action.account)
    actor = actor_for(user)
    before = {"email": user.email, "phone": user.phone, "timezone": user.timezone}
    if "email" in data.model_fields_set:
        user.email = data.email
    if "phone" in data.model_fields_set:
        user.phone = data.phone
    if "timezone" in data.model_fields_set:
        user.timezone = data.timezone
    after = {"email": user.email, "phone": user.phone, "timezone": user.timezone}
    if after != before:
        save_and_record(
            session=session,
            row=user,
            actor=actor,
            action="user.contact",
            entity_type="user",
            before=before,
            after=after,
        )
    return user


def authenticate(*, session: Session, username: str, password: str) -> User:
    """The active user with these credentials, or Unauthorized."""
    # A username with a control character (NUL fails on PostgreSQL) names nobody.
    user = (
        None
        if has_control_characters(username)
        else session.exec(select(User).where(User.username == username)).first()
    )
    hasher = _hasher()
    if user is None or not user.is_active or user.role not in PERSON_ROLES:
        hasher.verify(password, _dummy_hash())
        raise Unauthorized(messages.BAD_CREDENTIALS)
    valid, new_hash = hasher.verify_and_update(password, user.password_hash)
    if not valid:
        raise Unauthorized(messages.BAD_CREDENTIALS)
    values: dict[str, object] = {"last_login_at": utcnow()}
    if new_hash:
        values["password_hash"] = new_hash
    user_id = user.id

    def write(target: Session) -> None:
        target.exec(update(User).where(col(User.id) == user_id).values(**values))

    # The verification above is the slow part (Argon2): it reads only; the write follows it
    # (after the read, in the write queue, when the caller's session defers writes).
    write_later(session, write)
    return user


def set_password(*, session: Session, user: User, password: str, actor: Actor) -> None:
    """Give `user` a new password (policy-checked) and end all their sessions and tokens."""
    check_password_policy(password, user_inputs=(user.username, user.display_name))
    user.password_hash = hash_password(password)
    session.add(user)
    revoke_all_sessions(session=session, user=user, actor=actor, reason="password")


def issue_token(
    *,
    session: Session,
    user: User,
    secret: str,
    minutes: int,
    ip: str = "",
    user_agent: str = "",
) -> str:
    """A signed bearer token naming the user, their token version and a new login session.

    `sid` is the session's random secret (the table holds only its hash), checked on every use: logging out ends it, and revoke_all_sessions
    ends every one of the user's.
    """
    _, session_secret = start_session(
        session=session,
        user=user,
        lifetime=timedelta(minutes=minutes),
        ip=ip,
        user_agent=user_agent,
        kind=API,
    )
    now = datetime.now(UTC)
    payload = {
        "sub": str(user.id),
        "sid": session_secret,
        "ver": user.token_version,
        "iat": now,
        "exp": now + timedelta(minutes=minutes),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(payload, secret, algorithm=TOKEN_ALGORITHM)


def token_login(*, session: Session, token: str, secret: str) -> tuple[User, LoginSession]:
    """The user and the open login session a valid, unexpired, unrevoked token names."""
    try:
        payload = jwt.decode(
            token,
            secret,
            algorithms=[TOKEN_ALGORITHM],
            options={"require": ["exp", "sub", "sid"]},
        )
        user_id = int(payload["sub"])
        session_secret = payload["sid"]
        if not _is_record_id(user_id) or not isinstance(session_secret, str):
            raise ValueError(user_id)
    except (jwt.PyJWTError, ValueError, KeyError, TypeError):
        raise Unauthorized(messages.TOKEN_INVALID) from None
    user = session.get(User, user_id)
    if (
        user is None
        or not user.is_active
        or user.role not in PERSON_ROLES
        or payload.get("ver") != user.token_version
    ):
        raise Unauthorized(messages.TOKEN_INVALID)
    login = live_token_session(session=session, token=session_secret, user=user)
    if login is None:
        raise Unauthorized(messages.TOKEN_INVALID)
    return user, login


def _is_record_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_RECORD_ID


def public_user(*, session: Session, user: User) -> UserPublic:
    district_name = None
    if user.district_id is not None:
        district = session.get(District, user.district_id)
        district_name = district.name if district else None
    return UserPublic(
        id=user.id or 0,
        username=user.username,
        display_name=user.display_name,
        role=Role(user.role),
        district_id=user.district_id,
        district_name=district_name,
        expert_id=user.expert_id,
        center_id=user.center_id,
        email=user.email,
        phone=user.phone,
        timezone=user.timezone,
        is_active=user.is_active,
        must_change_password=user.must_change_password,
    )
