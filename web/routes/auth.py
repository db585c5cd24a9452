"""API authentication: OAuth2 password form → bearer token; who am I."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from marketplace import messages
from marketplace.accounts.models import Token, UserContactUpdate, UserPublic
from marketplace.accounts.permissions import Action
from marketplace.accounts.service import (
    authenticate,
    issue_token,
    public_user,
    update_contact,
)
from marketplace.errors import TooManyRequests, Unauthorized
from marketplace.login_sessions import throttle
from marketplace.login_sessions.service import end_session
from web.deps import (
    PUBLIC_ROUTE,
    CurrentUser,
    PasswordTurn,
    ReadSessionDep,
    SessionDep,
    SettingsDep,
    performs,
)
from web.sessions import client_address, throttle_policy

router = APIRouter(prefix="/api", tags=["auth"])


@router.post(
    "/auth/token",
    response_model=Token,
    summary="登录获取令牌 / get a bearer token",
    dependencies=[PUBLIC_ROUTE],
)
def login_for_token(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: ReadSessionDep,
    _turn: PasswordTurn,
    settings: SettingsDep,
) -> Token:
    # A read session: the password is verified (Argon2) without holding the write lock; the
    # new login session and the last-login time are written after the route (write_later).
    # The same throttle as the login page (per username and per address, shared by every
    # worker through the database), so the API is no way around it.
    policy = throttle_policy(settings)
    address = client_address(request)
    wait = throttle.retry_after(
        session=session, username=form.username, address=address, policy=policy
    )
    if wait > 0:
        raise TooManyRequests(messages.LOGIN_RATE_LIMITED.format(minutes=max(1, round(wait / 60))))
    try:
        user = authenticate(session=session, username=form.username, password=form.password)
    except Unauthorized:
        throttle.record_failure(
            session=session, username=form.username, address=address, policy=policy
        )
        raise
    throttle.record_success(session=session, username=form.username, address=address)
    token = issue_token(
        session=session,
        user=user,
        secret=settings.secret_key,
        minutes=settings.access_token_minutes,
        ip=address,
        user_agent=request.headers.get("user-agent", ""),
    )
    return Token(access_token=token, expires_in=settings.access_token_minutes * 60)


@router.post(
    "/auth/logout",
    status_code=204,
    summary="注销当前令牌 / revoke the bearer token",
    responses={401: {"description": "未登录或令牌无效"}},
    dependencies=[performs(Action.account)],
)
def logout_token(request: Request, user: CurrentUser, session: SessionDep) -> None:
    """End the login session the request's bearer token names; the token opens nothing after."""
    login = getattr(request.state, "token_session", None)
    if login is None:  # a cookie session logs out through the page's POST /logout
        raise Unauthorized(messages.TOKEN_REQUIRED)
    end_session(session=session, login=login)


@router.get(
    "/me",
    response_model=UserPublic,
    summary="当前用户 / current user",
    dependencies=[performs(Action.account)],
)
def read_me(user: CurrentUser, session: SessionDep) -> UserPublic:
    return public_user(session=session, user=user)


@router.patch(
    "/me",
    response_model=UserPublic,
    summary="修改我的联系方式 / edit my e-mail and phone",
    dependencies=[performs(Action.account)],
)
def update_me(data: UserContactUpdate, user: CurrentUser, session: SessionDep) -> UserPublic:
    update_contact(session=session, user=user, data=data)
    return public_user(session=session, user=user)
