"""Pages: log in (rate-limited, always a new session id) and log out (POST, CSRF-checked)."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from marketplace import messages
from marketplace.accounts.models import User
from marketplace.accounts.service import authenticate
from marketplace.errors import Unauthorized
from marketplace.login_sessions import throttle
from marketplace.login_sessions.service import end_session, end_session_by_token
from web.deps import PUBLIC_ROUTE, PasswordTurn, ReadSessionDep, SessionDep, get_optional_user
from web.pages import set_flash
from web.sessions import (
    COOKIE_NAME,
    LOGIN_FORM_COOKIE,
    clear_cookie,
    client_address,
    cookie_token,
    log_in,
    set_cookie,
    throttle_policy,
)
from web.templating import render

router = APIRouter(include_in_schema=False)

MAX_USERNAME = 64
MAX_PASSWORD = 256


def safe_next(target: str | None) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    if any(c in target for c in "\r\n\\") or target.startswith("/login"):
        return "/"
    # Browsers drop tabs and line breaks from a URL they parse: "/\t/evil.example" would read
    # as "//evil.example" wherever the path were put in a link or script unencoded.
    if any(c.isspace() or not c.isprintable() for c in target):
        return "/"
    return target


def _login_form(
    request: Request,
    *,
    next_path: str,
    username: str = "",
    error: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    """The login page with a fresh pre-login CSRF token (double-submit: cookie and field)."""
    form_token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        {
            "next": next_path,
            "username": username[:MAX_USERNAME],
            "error": error,
            "notice": notice,
            "login_token": form_token,
        },
        status_code=status_code,
    )
    set_cookie(response, request, LOGIN_FORM_COOKIE, form_token, max_age=2 * 60 * 60)
    return response


@router.get("/login", summary="登录页", dependencies=[PUBLIC_ROUTE])
def login_page(
    request: Request,
    user: Annotated[User | None, Depends(get_optional_user)],
    next: str | None = None,
    expired: str | None = None,
) -> Response:
    if user is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    notice = messages.SESSION_EXPIRED if expired else None
    return _login_form(request, next_path=safe_next(next), notice=notice)


@router.post("/login", summary="登录", dependencies=[PUBLIC_ROUTE])
def login_submit(
    request: Request,
    session: ReadSessionDep,  # verify without the write lock; writes follow (write_later)
    _turn: PasswordTurn,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    next_path = safe_next(next)
    username = username.strip()
    expected = request.cookies.get(LOGIN_FORM_COOKIE, "")
    if not expected or not hmac.compare_digest(expected.encode(), csrf_token.encode()):
        return _login_form(
            request,
            next_path=next_path,
            username=username,
            error=messages.CSRF_FAILED,
            status_code=403,
        )
    policy = throttle_policy(request.app.state.settings)
    address = client_address(request)
    wait = throttle.retry_after(session=session, username=username, address=address, policy=policy)
    if wait > 0:
        minutes = max(1, round(wait / 60))
        return _login_form(
            request,
            next_path=next_path,
            username=username,
            error=messages.LOGIN_RATE_LIMITED.format(minutes=minutes),
            status_code=429,
        )
    try:
        if (
            not username
            or len(username) > MAX_USERNAME
            or not password
            or len(password) > MAX_PASSWORD
        ):
            raise Unauthorized(messages.BAD_CREDENTIALS)
        user = authenticate(session=session, username=username, password=password)
    except Unauthorized:
        throttle.record_failure(session=session, username=username, address=address, policy=policy)
        return _login_form(
            request,
            next_path=next_path,
            username=username,
            error=messages.BAD_CREDENTIALS,
            status_code=401,
        )
    throttle.record_success(session=session, username=username, address=address)
    old = cookie_token(request)
    if old is not None:  # a session id that existed before login is never reused
        end_session_by_token(session=session, token=old)
    response = RedirectResponse(next_path, status_code=303)
    log_in(request=request, response=response, session=session, user=user)
    clear_cookie(response, request, LOGIN_FORM_COOKIE)
    return response


@router.post("/logout", summary="退出登录", dependencies=[PUBLIC_ROUTE])
def logout(
    request: Request,
    session: SessionDep,
    user: Annotated[User | None, Depends(get_optional_user)],
) -> Response:
    login = getattr(request.state, "login_session", None)
    if user is not None and login is not None:
        end_session(session=session, login=login)
    response = RedirectResponse("/login", status_code=303)
    clear_cookie(response, request, COOKIE_NAME)
    set_flash(response, "logged_out")
    return response
