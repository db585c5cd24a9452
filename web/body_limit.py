"""A ceiling on every request body, and a deadline for it, enforced while it streams in, before
anything buffers it.

Routes check their own limits (a library file, an expert import, a calendar), but only after
Starlette has read the whole body: FastAPI buffers a JSON body in memory and a form in memory
or on disk, for anonymous requests too, before authentication runs. Without a ceiling one
300 MB POST held 300 MB of the server's memory. Here a body is refused with 413 (Chinese) as
soon as its declared length, or the bytes received so far, pass the ceiling: file uploads
(multipart) may carry the largest file any route accepts plus room for the other fields;
everything else (JSON, url-encoded forms) at most BODY_MAX_BYTES.

A client trickling its body (a byte every few seconds) held a connection, and once admitted an
admission place and a worker thread, for as long as it liked. Here the body may pause at most
`request_body_seconds` between two parts and must arrive within that plus its size at
`request_body_min_kbps`, else 408 (Chinese) and the connection is closed. That deadline grows
with the size (a 21 MB upload at 16 KB/s: 22 minutes, all of it holding an admission place), so
it is capped at `request_body_max_seconds` (3 minutes) for any body, with its own 408 that says
the limit. This middleware sits outside admission control, so a body read before admission has
the same deadline.
"""

from __future__ import annotations

import asyncio
import math
import time

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from booking.ical import MAX_ICS_BYTES
from marketplace import messages
from marketplace.experts.pool import IMPORT_MAX_BYTES
from web.errors import respond

MIB = 1024 * 1024
# The largest legitimate JSON or url-encoded body is a resource with a 20,000-character body
# (about 60 KB in UTF-8); a MiB leaves room for every form while refusing bulk.
BODY_MAX_BYTES = 1 * MIB
# Besides the file itself: the form's other fields and the multipart framing.
UPLOAD_OVERHEAD_BYTES = 1 * MIB


class BodyTooLarge(HTTPException):
    """413: the request body passed the ceiling (rendered by the app's HTTPException handler)."""

    def __init__(self, limit: int) -> None:
        mb = math.ceil(limit / MIB)
        super().__init__(status_code=413, detail=messages.REQUEST_BODY_TOO_LARGE.format(mb=mb))


# A request's URL (path and query) and its headers. uvicorn's h11 measures a head only while
# it arrives in pieces (a 60 KB URL sent at once was served); these limits hold however it
# arrives, below the connection handler's buffer (web/server_protocol.py, HEAD_BUFFER_BYTES).
# A 1,000-character Chinese search is 9 KB percent-encoded; 16 KB leaves room for its filters.
URL_MAX_BYTES = 16 * 1024
HEADERS_MAX_BYTES = 32 * 1024
HEADERS_MAX_COUNT = 100


def head_refusal(scope: Scope) -> HTTPException | None:
    """414 for a URL past URL_MAX_BYTES, 431 for headers past their size or count; else None."""
    url = len(scope.get("raw_path") or scope.get("path", "").encode()) + len(
        scope.get("query_string", b"")
    )
    if url > URL_MAX_BYTES:
        return HTTPException(414, messages.REQUEST_URL_TOO_LONG.format(kb=URL_MAX_BYTES // 1024))
    headers = scope.get("headers", [])
    size = sum(len(name) + len(value) + 4 for name, value in headers)
    if size > HEADERS_MAX_BYTES or len(headers) > HEADERS_MAX_COUNT:
        detail = messages.REQUEST_HEADERS_TOO_LARGE.format(
            kb=HEADERS_MAX_BYTES // 1024, count=HEADERS_MAX_COUNT
        )
        return HTTPException(431, detail)
    return None


class BodyTooSlow(HTTPException):
    """408: the body did not arrive in time; the connection is closed after the answer."""

    def __init__(self, detail: str = messages.REQUEST_BODY_TOO_SLOW) -> None:
        super().__init__(status_code=408, detail=detail, headers={"Connection": "close"})


def _duration(seconds: float) -> str:
    """ "3 分钟", "90 秒": how a time limit reads in a message."""
    if seconds >= 60 and seconds % 60 == 0:
        return f" {seconds / 60:g} 分钟"
    return f" {seconds:g} 秒"


def body_limit(scope: Scope) -> int:
    """The ceiling for this request's body: uploads the largest accepted file plus framing."""
    headers = dict(scope.get("headers", []))
    content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
    if not content_type.startswith("multipart/form-data"):
        return BODY_MAX_BYTES
    settings = getattr(getattr(scope.get("app"), "state", None), "settings", None)
    library = int(settings.resource_max_mb * MIB) if settings is not None else 20 * MIB
    return max(library, IMPORT_MAX_BYTES, MAX_ICS_BYTES) + UPLOAD_OVERHEAD_BYTES


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimitMiddleware:
    """Counts body bytes as they arrive; refuses the request past `body_limit` or too slow."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        pause_seconds: float,
        min_bytes_per_second: float,
        max_seconds: float,
    ) -> None:
        self.app = app
        self.pause_seconds = pause_seconds
        self.min_rate = min_bytes_per_second
        self.max_seconds = max_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = head_refusal(scope)
        if refusal is not None:
            response = respond(Request(scope), refusal.status_code, {"detail": refusal.detail})
            await response(scope, receive, send)
            return
        limit = body_limit(scope)
        declared = _declared_length(scope)
        received = 0
        complete = False
        began: float | None = None
        started = False

        async def counted() -> Message:
            nonlocal received, complete, began
            if declared is not None and declared > limit:
                raise BodyTooLarge(limit)  # refused before a byte of it is read
            if complete:
                return await receive()  # after the body only a disconnect comes: no deadline
            now = time.monotonic()
            began = now if began is None else began
            expected = max(declared or 0, received)
            by_size = self.pause_seconds + expected / self.min_rate
            deadline = began + min(by_size, self.max_seconds)
            timeout = max(0.0, min(self.pause_seconds, deadline - now))
            try:
                message = await asyncio.wait_for(receive(), timeout=timeout)
            except TimeoutError:
                if by_size > self.max_seconds and timeout < self.pause_seconds:
                    # still arriving, but past the ceiling on any body's time
                    ceiling = _duration(self.max_seconds)
                    raise BodyTooSlow(
                        messages.REQUEST_BODY_TOO_LONG.format(limit=ceiling)
                    ) from None
                raise BodyTooSlow() from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except (BodyTooLarge, BodyTooSlow) as exc:
            # Raised outside a route (a middleware buffering the body, or admission control
            # reading it ahead): answer here, as the app would, unless a response has begun.
            if started:
                raise
            response = respond(Request(scope), exc.status_code, {"detail": exc.detail}, exc.headers)
            await response(scope, receive, send)
