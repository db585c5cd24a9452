"""Page sessions: a signed cookie naming a server-side login session, resolved to the user.

The cookie holds only a random id (signed with the app secret so tampering is refused before a
database look-up); the row in `login_session` holds the user, the CSRF token and the deadlines.
HttpOnly, SameSite=Lax, and Secure whenever the request came over HTTPS.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI, Request, Response
from itsdangerous import BadSignature, URLSafeSerializer
from sqlmodel import Session

from marketplace.accounts.models import User
from marketplace.login_sessions.models import LoginSession
from marketplace.login_sessions.service import resolve_session, start_session
from marketplace.login_sessions.throttle import ThrottlePolicy
from marketplace.settings import Settings
from web.csrf import FormTokenMiddleware, check_token

COOKIE_NAME = "heart_session"
LOGIN_FORM_COOKIE = "heart_login_csrf"
_SALT = "heart.session-cookie"


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.secret_key, salt=_SALT)


def idle_timeout(settings: Settings) -> timedelta:
    return timedelta(minutes=settings.session_idle_minutes)


def lifetime(settings: Settings) -> timedelta:
    return timedelta(hours=settings.session_absolute_hours)


def client_address(request: Request) -> str:
    """The peer's address (a trusted proxy's X-Forwarded-For already applied, see web/app.py)."""
    return request.client.host if request.client else "unknown"


def cookie_token(request: Request) -> str | None:
    """The session id in the request's cookie, if the cookie is present and its signature valid."""
    raw = request.cookies.get(COOKIE_NAME)
    if not raw:
        return None
    try:
        token = _serializer(request.app.state.settings).loads(raw)
    except BadSignature:
        return None
    return token if isinstance(token, str) else None


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def clear_cookie(response: Response, request: Request, name: str = COOKIE_NAME) -> None:
    response.delete_cookie(
        name, path="/", httponly=True, samesite="lax", secure=request.url.scheme == "https"
    )


def log_in(*, request: Request, response: Response, session: Session, user: User) -> LoginSession:
    """Open a fresh login session (always a new id) and put its cookie on `response`."""
    settings: Settings = request.app.state.settings
    login, token = start_session(
        session=session,
        user=user,
        lifetime=lifetime(settings),
        ip=client_address(request),
        user_agent=request.headers.get("user-agent", ""),
    )
    value = _serializer(settings).dumps(token)
    set_cookie(response, request, COOKIE_NAME, value, int(lifetime(settings).total_seconds()))
    return login


def resolve_cookie_user(request: Request, session: Session) -> User | None:
    """app.state.cookie_user_resolver: the user of a live session cookie; CSRF-checks changes."""
    request.state.login_session = None
    token = cookie_token(request)
    if token is None:
        return None
    lookup = resolve_session(
        session=session, token=token, idle=idle_timeout(request.app.state.settings)
    )
    if lookup.login is None or lookup.user is None:
        request.state.session_expired = lookup.expired
        return None
    check_token(request, lookup.login.csrf_token)
    request.state.login_session = lookup.login
    request.state.user = lookup.user
    return lookup.user


def throttle_policy(settings: Settings) -> ThrottlePolicy:
    """The login throttle's limits from the settings."""
    return ThrottlePolicy(
        max_failures=settings.login_max_failures,
        address_failures=settings.login_max_failures_per_address,
        window=timedelta(minutes=settings.login_lockout_minutes),
        user_failures=settings.login_max_failures_per_user,
    )


def install_sessions(app: FastAPI, settings: Settings) -> None:
    """Wire cookie sessions and the CSRF form-field reader into `app`."""
    app.state.cookie_user_resolver = resolve_cookie_user
    app.add_middleware(FormTokenMiddleware, cookie_names=(COOKIE_NAME, LOGIN_FORM_COOKIE))
