"""CSRF protection for cookie-authenticated requests (synchroniser token per login session).

The token is checked where the cookie is turned into a user (web/sessions.py), so every route
that accepts the cookie is covered without opting in; bearer-token API calls never reach it.
htmx sends the token in the X-CSRF-Token header (hx-headers on <body>); plain HTML forms send a
`csrf_token` field, which FormTokenMiddleware lifts out of the body before the route runs.
"""

from __future__ import annotations

import hmac
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marketplace import messages
from marketplace.errors import Forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
HEADER = "X-CSRF-Token"
FIELD = "csrf_token"
STATE_KEY = "csrf_form_token"
# Bodies larger than this are not buffered for the field; such requests must use the header.
MAX_BUFFERED_BODY = 5 * 1024 * 1024


class CsrfRejected(Forbidden):
    """A cookie-authenticated state change without the session's token."""


def submitted_token(request: Request) -> str:
    """The token a request carries: the header, else the form field the middleware found."""
    return request.headers.get(HEADER) or request.scope.get("state", {}).get(STATE_KEY, "")


def check_token(request: Request, expected: str) -> None:
    """Refuse a state-changing request whose token is missing or differs from `expected`."""
    if request.method in SAFE_METHODS:
        return
    given = submitted_token(request)
    if not given or not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        raise CsrfRejected(messages.CSRF_FAILED)


class FormTokenMiddleware:
    """Reads the `csrf_token` field of form posts that carry a cookie and replays the body."""

    def __init__(self, app: ASGIApp, *, cookie_names: tuple[str, ...]) -> None:
        self.app = app
        self.cookie_names = cookie_names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in SAFE_METHODS
            or not self._wants_field(scope)
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            more = message.get("more_body", False)
            if size > MAX_BUFFERED_BODY:
                break
        body = b"".join(chunks)
        if not more:
            token = await _field_from_body(scope, body)
            if token:
                scope.setdefault("state", {})[STATE_KEY] = token
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": more}
            return await receive()

        await self.app(scope, replay, send)

    def _wants_field(self, scope: Scope) -> bool:
        headers = dict(scope.get("headers", []))
        if HEADER.lower().encode() in headers:
            return False
        cookie = headers.get(b"cookie", b"").decode("latin-1")
        if not any(f"{name}=" in cookie for name in self.cookie_names):
            return False
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        return content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data"))


async def _field_from_body(scope: Scope, body: bytes) -> str:
    headers = dict(scope.get("headers", []))
    content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
    if content_type.startswith("application/x-www-form-urlencoded"):
        try:
            values = parse_qs(body.decode("utf-8", errors="replace"), max_num_fields=1000).get(
                FIELD
            )
        except ValueError:
            return ""
        return values[0] if values else ""
    sent = False

    async def once() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    request = Request({**scope, "state": {}}, once)
    try:
        form = await request.form()
    except Exception:  # a malformed body: the route will refuse it; the token is simply absent
        return ""
    try:
        value = form.get(FIELD)
        return value if isinstance(value, str) else ""
    finally:
        await form.close()
