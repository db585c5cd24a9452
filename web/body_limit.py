"""A ceiling on every request body, enforced while it streams in, before anything buffers it.

Routes check their own limits (a library file, an expert import, a calendar), but only after
Starlette has read the whole body: FastAPI buffers a JSON body in memory and a form in memory
or on disk, for anonymous requests too, before authentication runs. Without a ceiling one
300 MB POST held 300 MB of the server's memory. Here a body is refused with 413 (Chinese) as
soon as its declared length, or the bytes received so far, pass the ceiling: file uploads
(multipart) may carry the largest file any route accepts plus room for the other fields;
everything else (JSON, url-encoded forms) at most BODY_MAX_BYTES.
"""

from __future__ import annotations

import math

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
    """Counts body bytes as they arrive and refuses the request past `body_limit`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope)
        declared = _declared_length(scope)
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            if declared is not None and declared > limit:
                raise BodyTooLarge(limit)  # refused before a byte of it is read
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
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
        except BodyTooLarge as exc:
            # Raised outside a route (a middleware buffering the body): answer here, as the app
            # would, unless a response has already begun.
            if started:
                raise
            response = respond(Request(scope), exc.status_code, {"detail": exc.detail})
            await response(scope, receive, send)
