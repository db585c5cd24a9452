"""Error responses without stack traces: Chinese JSON for the API, friendly pages for browsers.

/api (and the OpenAPI docs) always get {"detail": ...}. Every other path is a page: a missing
login redirects to /login (htmx requests get HX-Redirect), other errors render error.html (for
htmx requests only its "message" block, retargeted into the page's #flash region).
"""

from __future__ import annotations

import html
import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from sqlalchemy import inspect
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlmodel import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from marketplace import messages
from marketplace.errors import DomainError, PasswordChangeRequired, Unauthorized
from marketplace.validation import describe_errors

log = logging.getLogger("heart.web")

_HTTP_MESSAGES = {
    401: messages.NOT_AUTHENTICATED,
    403: messages.FORBIDDEN,
    404: "请求的资源不存在",
    405: "不支持该请求方法",
    413: "请求内容过大",
    429: "请求过于频繁，请稍后再试",
}
_API_PREFIXES = ("/api/", "/docs", "/redoc", "/openapi.json")
_ERROR_TITLES = {
    401: "需要登录",
    403: "无法访问",
    404: "页面不存在",
    408: "请求超时",
    409: "操作冲突",
    413: "提交的内容过大",
    414: "网址过长",
    422: "提交的内容有误",
    429: "请求过于频繁",
    431: "请求头过大",
    503: "服务暂时不可用",
}


def is_api(request: Request) -> bool:
    path = request.url.path
    return path == "/api" or path.startswith(_API_PREFIXES)


def login_redirect(request: Request) -> Response:
    """Send a visitor without a (live) session to the login page, remembering where they were."""
    target = request.url.path
    if request.url.query and request.method == "GET":
        target += "?" + request.url.query
    location = "/login?next=" + quote(target, safe="")
    if getattr(request.state, "session_expired", False):
        location += "&expired=1"
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=401, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def password_change_redirect(request: Request) -> Response:
    """Send a user holding a temporary password to the form that replaces it."""
    location = "/account/password"
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=403, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


def error_page(request: Request, status_code: int, message: str) -> Response:
    """A friendly error page (for htmx requests just its message, shown in #flash)."""
    from web.templating import is_htmx, render  # imported late: templates need the app built

    _reload_viewer(request)
    htmx = is_htmx(request)
    context: dict[str, Any] = {
        "status_code": status_code,
        "title": _ERROR_TITLES.get(status_code, "出错了" if status_code < 500 else "服务器错误"),
        "message": message,
    }
    try:
        return render(
            request,
            "error.html",
            context,
            status_code=status_code,
            block="message" if htmx else None,
            headers={"HX-Retarget": "#flash", "HX-Reswap": "innerHTML"} if htmx else None,
        )
    except Exception:
        log.exception("error page failed")
    # The user's row may be unusable after the failed transaction: render without it once more.
    request.state.user = None
    request.state.login_session = None
    try:
        return render(request, "error.html", context, status_code=status_code)
    except Exception:  # the error page itself failed: say so plainly, still without a trace
        return HTMLResponse(f"<p>{html.escape(message)}</p>", status_code=status_code)


def _reload_viewer(request: Request) -> None:
    """The user and login session of the request, fresh: a failed request's session was rolled
    back and closed before its error page renders, leaving them expired and detached, and the
    page's navigation (which asks the policy about the user) could not read them."""
    for name in ("user", "login_session"):
        row = getattr(request.state, name, None)
        if row is None:
            continue
        state = inspect(row)
        if not (state.detached and state.expired) or state.identity is None:
            continue
        try:
            with Session(request.app.state.engine, expire_on_commit=False) as session:
                fresh = session.get(type(row), state.identity[0])
                if fresh is not None:
                    session.expunge(fresh)
        except Exception:  # the database itself is the error: render without them
            fresh = None
        setattr(request.state, name, fresh)


def respond(
    request: Request, status_code: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    if is_api(request):
        return JSONResponse(body, status_code=status_code, headers=headers)
    if status_code == 401:
        return login_redirect(request)
    return error_page(request, status_code, str(body["detail"]))


class FieldError(BaseModel):
    loc: list[str | int]
    type: str | None = None
    msg: str | None = None


class ErrorBody(BaseModel):
    """Every API error: a Chinese `detail`; `errors` per field for invalid requests."""

    detail: str
    details: Any = None
    errors: list[FieldError] | None = None


# Documented on every operation, so the OpenAPI schema describes the bodies actually sent
# (FastAPI's default 422 schema describes its own handler's list-valued `detail`, not ours).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "提交的数据不符合要求 / invalid input"},
    "4XX": {"model": ErrorBody, "description": "请求被拒绝 / client error"},
}


def install_error_handlers(app: FastAPI) -> None:
    app.router.responses.update(ERROR_RESPONSES)

    @app.exception_handler(DomainError)
    async def _domain_error(request: Request, exc: DomainError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
        if isinstance(exc, PasswordChangeRequired) and not is_api(request):
            return password_change_redirect(request)
        body: dict[str, Any] = {"detail": exc.message}
        if exc.details is not None:
            body["details"] = exc.details
        if exc.code is not None:
            body["code"] = exc.code
        if exc.field is not None:
            body["field"] = exc.field
        return respond(request, exc.status_code, body, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": list(e.get("loc", ())), "type": e.get("type"), "msg": e.get("msg")}
            for e in exc.errors()
        ]
        detail = f"{messages.VALIDATION_FAILED}：{describe_errors(exc.errors())}"
        return respond(request, 422, {"detail": detail, "errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) and not exc.detail.isascii() else None
        message = detail or _HTTP_MESSAGES.get(exc.status_code, "请求无法处理")
        if exc.status_code == 400 and isinstance(exc.__cause__, RecursionError | ValueError):
            # FastAPI's body parsing gave up: JSON nested past Python's recursion limit, or an
            # integer past 4,300 digits.
            message = messages.JSON_NUMBER_OR_NESTING
        if exc.status_code == 404 and not is_api(request):
            message = detail or messages.PAGE_NOT_FOUND
        return respond(request, exc.status_code, {"detail": message}, exc.headers)

    @app.exception_handler(OperationalError)
    async def _database_down(request: Request, exc: OperationalError) -> Response:
        log.warning("database unavailable: %s", exc.__class__.__name__)
        return respond(request, 503, {"detail": messages.DATABASE_UNAVAILABLE})

    # A number past the database's integer range that an input schema let through: SQLite's
    # driver raises OverflowError, PostgreSQL numeric_value_out_of_range (SQLSTATE 22003). The
    # schemas bound ids (RecordId); this keeps any field they miss a 422 instead of a 500.
    @app.exception_handler(OverflowError)
    async def _number_overflow(request: Request, exc: OverflowError) -> Response:
        log.warning("number out of range on %s %s", request.method, request.url.path)
        return respond(request, 422, {"detail": messages.NUMBER_OUT_OF_RANGE})

    # No pooled connection came free within the pool's timeout: busy, not broken.
    @app.exception_handler(PoolTimeout)
    async def _pool_exhausted(request: Request, exc: PoolTimeout) -> Response:
        log.warning("no database connection free on %s %s", request.method, request.url.path)
        headers = {"Retry-After": "5"}
        return respond(request, 503, {"detail": messages.SERVER_BUSY}, headers)

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> Response:
        if exc.connection_invalidated:
            return respond(request, 503, {"detail": messages.DATABASE_UNAVAILABLE})
        if getattr(exc.orig, "sqlstate", None) == "22003":
            log.warning("number out of range on %s %s", request.method, request.url.path)
            return respond(request, 422, {"detail": messages.NUMBER_OUT_OF_RANGE})
        log.exception("database error")
        return respond(request, 500, {"detail": "服务器内部错误"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return respond(request, 500, {"detail": messages.SERVER_ERROR})
