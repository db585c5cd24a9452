"""Accounts API: admins manage users; everyone changes their own password."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from marketplace.accounts.admin import (
    PasswordChange,
    TemporaryPassword,
    UserPage,
    UserUpdate,
    change_own_password,
    force_logout,
    get_user,
    list_users,
    public_users,
    reset_password,
    set_active,
    update_user,
)
from marketplace.accounts.models import Token, UserCreate, UserPublic
from marketplace.accounts.permissions import Action
from marketplace.accounts.service import create_user, issue_token, public_user
from marketplace.validation import RecordId
from marketplace.vocabulary import Role
from web.deps import (
    AdminUser,
    ReadingUser,
    ReadSessionDep,
    SessionDep,
    SettingsDep,
    performs_reading,
)
from web.sessions import client_address

router = APIRouter(prefix="/api", tags=["users"])


@router.get("/users", response_model=UserPage, summary="用户列表（管理员） / list users")
def list_users_route(
    session: SessionDep,
    user: AdminUser,
    q: Annotated[str | None, Query(max_length=64)] = None,
    role: Role | None = None,
    active: bool | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> UserPage:
    users, total = list_users(
        session=session, q=q, role=role, active=active, page=page, page_size=page_size
    )
    return UserPage(
        items=public_users(session=session, users=users),
        total=total,
        page=page,
        page_size=page_size,
    )


@router.post("/users", response_model=UserPublic, status_code=201, summary="创建用户（管理员）")
def create_user_route(data: UserCreate, session: SessionDep, user: AdminUser) -> UserPublic:
    created = create_user(session=session, data=data, user=user)
    return public_user(session=session, user=created)


@router.get("/users/{user_id}", response_model=UserPublic, summary="用户详情（管理员）")
def read_user_route(user_id: RecordId, session: SessionDep, user: AdminUser) -> UserPublic:
    return public_user(session=session, user=get_user(session=session, user_id=user_id))


@router.patch("/users/{user_id}", response_model=UserPublic, summary="修改用户（管理员）")
def update_user_route(
    user_id: RecordId, data: UserUpdate, session: SessionDep, user: AdminUser
) -> UserPublic:
    changed = update_user(session=session, user_id=user_id, data=data, user=user)
    return public_user(session=session, user=changed)


@router.post("/users/{user_id}/deactivate", response_model=UserPublic, summary="停用用户（管理员）")
def deactivate_user_route(user_id: RecordId, session: SessionDep, user: AdminUser) -> UserPublic:
    changed = set_active(session=session, user_id=user_id, active=False, user=user)
    return public_user(session=session, user=changed)


@router.post(
    "/users/{user_id}/reactivate", response_model=UserPublic, summary="恢复启用用户（管理员）"
)
def reactivate_user_route(user_id: RecordId, session: SessionDep, user: AdminUser) -> UserPublic:
    changed = set_active(session=session, user_id=user_id, active=True, user=user)
    return public_user(session=session, user=changed)


@router.post(
    "/users/{user_id}/reset-password",
    response_model=TemporaryPassword,
    summary="重置密码（管理员）：临时密码，下次登录须修改",
)
def reset_password_route(
    user_id: RecordId, session: SessionDep, user: AdminUser
) -> TemporaryPassword:
    return reset_password(session=session, user_id=user_id, user=user)


@router.post("/users/{user_id}/logout", summary="强制下线（管理员）：吊销登录与令牌")
def force_logout_route(user_id: RecordId, session: SessionDep, user: AdminUser) -> dict:
    ended = force_logout(session=session, user_id=user_id, user=user)
    return {"user_id": user_id, "sessions_ended": ended}


@router.post(
    "/me/password",
    response_model=Token,
    summary="修改自己的密码 / change own password",
    dependencies=[performs_reading(Action.account)],
)
def change_password_route(
    request: Request,
    data: PasswordChange,
    session: ReadSessionDep,  # verify (Argon2) without the write lock; the write follows
    user: ReadingUser,
    settings: SettingsDep,
) -> Token:
    """Other sessions and tokens (this one too) end; the answer carries a fresh token."""
    changed = change_own_password(session=session, user=user, data=data)
    token = issue_token(
        session=session,
        user=changed,
        secret=settings.secret_key,
        minutes=settings.access_token_minutes,
        ip=client_address(request),
        user_agent=request.headers.get("user-agent", ""),
    )
    return Token(access_token=token, expires_in=settings.access_token_minutes * 60)
