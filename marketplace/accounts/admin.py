"""Account management (admins) and one's own password: list, edit, deactivate, reset, revoke."""

from __future__ import annotations

import secrets
import string

import pydantic
from pydantic import BaseModel, ConfigDict
from sqlmodel import Session, col, func, or_, select

from marketplace import messages
from marketplace.accounts.contact import Email, Phone, TimeZoneName
from marketplace.accounts.models import User, UserPublic
from marketplace.accounts.permissions import Action, require
from marketplace.accounts.principal import actor_for
from marketplace.accounts.service import (
    CENTER_ROLES,
    _hasher,
    center_for_role,
    check_password_policy,
    hash_password,
    set_password,
)
from marketplace.audit.service import record, save_and_record
from marketplace.centers.models import ResourceCenter
from marketplace.clock import DEFAULT_ZONE
from marketplace.db import write_later
from marketplace.districts.models import District
from marketplace.districts.service import find_district
from marketplace.errors import Conflict, Forbidden, InvalidInput, NotFound
from marketplace.experts.service import get_expert
from marketplace.login_sessions.service import revoke_all_sessions
from marketplace.validation import InputModel, NameText
from marketplace.vocabulary import Role

TEMPORARY_PASSWORD_LENGTH = 14


class UserUpdate(InputModel):
    """An admin's edit of an account; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    display_name: NameText | None = pydantic.Field(default=None, min_length=1, max_length=64)
    role: Role | None = None
    district: str | None = pydantic.Field(default=None, max_length=128)
    expert_id: str | None = pydantic.Field(default=None, max_length=32)
    center: str | None = pydantic.Field(default=None, max_length=64)
    email: Email = None
    phone: Phone = None
    timezone: TimeZoneName = DEFAULT_ZONE


class PasswordChange(InputModel):
    old_password: str = pydantic.Field(min_length=1, max_length=256)
    new_password: str = pydantic.Field(min_length=1, max_length=256)


class TemporaryPassword(BaseModel):
    user_id: int
    temporary_password: str
    must_change_password: bool = True


def get_user(*, session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(messages.USER_NOT_FOUND.format(id=user_id))
    return user


def find_user(*, session: Session, username: str) -> User:
    user = session.exec(select(User).where(User.username == username)).first()
    if user is None:
        raise NotFound(messages.USER_NOT_FOUND.format(id=username))
    return user


def list_users(
    *,
    session: Session,
    q: str | None = None,
    role: Role | None = None,
    active: bool | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[User], int]:
    """Accounts by username, filtered by a name fragment, role and whether active."""
    query = select(User)
    if q:
        pattern = f"%{q.replace('%', '').replace('_', '')}%"
        query = query.where(
            or_(col(User.username).ilike(pattern), col(User.display_name).ilike(pattern))
        )
    if role is not None:
        query = query.where(User.role == role.value)
    if active is not None:
        query = query.where(User.is_active == active)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(User.username)).offset((page - 1) * page_size).limit(page_size)
    ).all()
    return list(rows), total


def _snapshot(user: User) -> dict:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "district_id": user.district_id,
        "expert_id": user.expert_id,
        "center_id": user.center_id,
        "email": user.email,
        "phone": user.phone,
        "timezone": user.timezone,
        "is_active": user.is_active,
    }


def _managed_account(session: Session, user: User, user_id: int) -> User:
    """The account `user_id`, once the policy lets `user` manage accounts."""
    require(user, Action.user_manage)
    return get_user(session=session, user_id=user_id)


def _not_self(account: User, user: User) -> None:
    if user.id is not None and user.id == account.id:
        raise Forbidden(messages.CANNOT_CHANGE_OWN_ACCOUNT, code="own_account", field="role")


def update_user(*, session: Session, user_id: int, data: UserUpdate, user: User) -> User:
    """Edit an account (whoever manages accounts); the role's binding (district or expert) must
    fit the role."""
    actor = actor_for(user)
    acting, user = user, _managed_account(session, user, user_id)
    before = _snapshot(user)
    fields = data.model_dump(exclude_unset=True)
    role = data.role.value if data.role is not None else user.role
    if role != user.role:
        _not_self(user, acting)
    if "display_name" in fields and data.display_name:
        user.display_name = data.display_name
    if "email" in fields:
        user.email = data.email
    if "phone" in fields:
        user.phone = data.phone
    if "timezone" in fields:
        user.timezone = data.timezone
    district_id = user.district_id
    expert_id = user.expert_id
    if "district" in fields:
        district_id = (
            find_district(session=session, name=data.district).id if data.district else None
        )
    if "expert_id" in fields:
        expert_id = (
            get_expert(session=session, expert_id=data.expert_id).id if data.expert_id else None
        )
    if role != Role.district.value:
        if "district" in fields and district_id is not None:
            raise InvalidInput(
                messages.ROLE_DISTRICT_ONLY_FOR_DISTRICT,
                code="district_not_allowed",
                field="district",
            )
        district_id = None
    elif district_id is None:
        raise InvalidInput(messages.ROLE_NEEDS_DISTRICT, code="district_required", field="district")
    if role != Role.expert.value:
        if "expert_id" in fields and expert_id is not None:
            raise InvalidInput(
                messages.ROLE_EXPERT_ONLY_FOR_EXPERT, code="expert_not_allowed", field="expert_id"
            )
        expert_id = None
    elif expert_id is None:
        raise InvalidInput(messages.ROLE_NEEDS_EXPERT, code="expert_required", field="expert_id")
    center_id = user.center_id
    if "center" in fields or role != user.role:
        # A role change keeps the account's center only where the new role works for one.
        kept = _center_name(session, user.center_id) if Role(role) in CENTER_ROLES else None
        center = data.center if "center" in fields else kept
        center_id = center_for_role(session=session, role=Role(role), center=center)
    user.role, user.district_id, user.expert_id = role, district_id, expert_id
    user.center_id = center_id
    after = _snapshot(user)
    if after != before:
        save_and_record(
            session=session,
            row=user,
            actor=actor,
            action="user.update",
            entity_type="user",
            before=before,
            after=after,
        )
    return user


def _center_name(session: Session, center_id: int | None) -> str | None:
    center = None if center_id is None else session.get(ResourceCenter, center_id)
    return None if center is None else center.name


def set_active(*, session: Session, user_id: int, active: bool, user: User) -> User:
    """Deactivate (every session and token fails at once) or reactivate an account (whoever
    manages accounts, never their own)."""
    actor = actor_for(user)
    acting, user = user, _managed_account(session, user, user_id)
    _not_self(user, acting)
    if user.is_active == active:
        return user
    before = _snapshot(user)
    user.is_active = active
    ended = (
        0
        if active
        else revoke_all_sessions(session=session, user=user, actor=actor, reason="deactivate")
    )
    save_and_record(
        session=session,
        row=user,
        actor=actor,
        action="user.reactivate" if active else "user.deactivate",
        entity_type="user",
        before=before,
        after={**_snapshot(user), "sessions_ended": ended},
    )
    return user


def force_logout(*, session: Session, user_id: int, user: User) -> int:
    """Log a user out everywhere (sessions and bearer tokens); returns sessions ended."""
    actor = actor_for(user)
    user = _managed_account(session, user, user_id)
    ended = revoke_all_sessions(session=session, user=user, actor=actor, reason="force_logout")
    record(
        session=session,
        actor=actor,
        action="user.force_logout",
        entity_type="user",
        entity_id=str(user.id),
        after={"sessions_ended": ended},
    )
    return ended


def temporary_password() -> str:
    """A random password that meets the policy (letters and digits, no look-alikes)."""
    letters = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ"
    digits = "23456789"
    while True:
        text = "".join(secrets.choice(letters + digits) for _ in range(TEMPORARY_PASSWORD_LENGTH))
        if any(c in string.ascii_letters for c in text) and any(c in digits for c in text):
            return text


def reset_password(*, session: Session, user_id: int, user: User) -> TemporaryPassword:
    """Give an account a temporary password that must be changed at the next login."""
    actor = actor_for(user)
    user = _managed_account(session, user, user_id)
    password = temporary_password()
    set_password(session=session, user=user, password=password, actor=actor)
    user.must_change_password = True
    session.add(user)
    record(
        session=session,
        actor=actor,
        action="user.reset_password",
        entity_type="user",
        entity_id=str(user.id),
        after={"must_change_password": True},
    )
    return TemporaryPassword(user_id=user.id or 0, temporary_password=password)


def change_own_password(*, session: Session, user: User, data: PasswordChange) -> User:
    """Change one's own password (the current one first); other sessions and tokens end.

    The slow part reads only: the current password is verified and the new one checked and
    hashed (Argon2) before any write; the short write follows (write_later: after the read,
    in the write queue's turn, when `session` defers writes). Returns the account as it is
    after the write, to open the fresh session or token on.
    """
    valid, _ = _hasher().verify_and_update(data.old_password, user.password_hash)
    if not valid:
        raise InvalidInput(
            messages.OLD_PASSWORD_WRONG, code="old_password_wrong", field="old_password"
        )
    if data.new_password == data.old_password:
        raise InvalidInput(
            messages.PASSWORD_SAME_AS_OLD, code="password_unchanged", field="password"
        )
    check_password_policy(data.new_password, user_inputs=(user.username, user.display_name))
    new_hash = hash_password(data.new_password)
    user_id, read_version = user.id, user.token_version
    actor = actor_for(user)

    def write(target: Session) -> None:
        row = target.get(User, user_id)
        # Someone else changed or reset the password (or ended the account) meanwhile.
        if row is None or not row.is_active or row.token_version != read_version:
            raise Conflict(messages.PASSWORD_CHANGED_MEANWHILE, code="password_changed_meanwhile")
        row.password_hash = new_hash
        row.must_change_password = False
        target.add(row)
        revoke_all_sessions(session=target, user=row, actor=actor, reason="password")
        record(
            session=target,
            actor=actor,
            action="user.password_change",
            entity_type="user",
            entity_id=str(user_id),
        )

    write_later(session, write)
    if user.token_version != read_version:  # written at once (a session that does not defer)
        return user
    after = User.model_validate(user.model_dump())
    after.password_hash = new_hash
    after.must_change_password = False
    after.token_version = read_version + 1
    return after


class UserPage(BaseModel):
    items: list[UserPublic]
    total: int
    page: int
    page_size: int


def public_users(*, session: Session, users: list[User]) -> list[UserPublic]:
    """Accounts with their district names, in one query for the districts."""
    ids = {u.district_id for u in users if u.district_id is not None}
    names = (
        dict(
            session.exec(select(District.id, District.name).where(col(District.id).in_(ids))).all()
        )
        if ids
        else {}
    )
    return [
        UserPublic(
            id=u.id or 0,
            username=u.username,
            display_name=u.display_name,
            role=Role(u.role),
            district_id=u.district_id,
            district_name=names.get(u.district_id),
            expert_id=u.expert_id,
            email=u.email,
            phone=u.phone,
            is_active=u.is_active,
            must_change_password=u.must_change_password,
        )
        for u in users
    ]
