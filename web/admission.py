"""Admission control: at most `limit` requests inside the app at once, per process.

Each request takes a database session before it waits for one of anyio's 40 worker threads,
so 200 concurrent clients held all 80 pooled connections while queued for threads: requests
failed with the pool's 30 s timeout (500) and /api/health, needing a thread and a connection
too, stopped answering. Here the excess waits before the app (a coroutine, no thread, no
connection) for up to `wait_seconds`, then gets 503 in Chinese with Retry-After; the health
check, the metrics scrape and static files never wait.

A request's body (its first PRE_READ_BYTES: every JSON or form body the app accepts) is read
before it takes a place, so a client trickling its body slowly waits outside and cannot hold
the places of others; a larger upload streams the rest once admitted (a reverse proxy that
buffers request bodies, as nginx does by default, keeps that fast too).
"""

from __future__ import annotations

import asyncio
import weakref

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from marketplace import messages
from web.body_limit import BODY_MAX_BYTES
from web.errors import respond

EXEMPT_PATHS = frozenset({"/api/health", "/metrics"})
RETRY_AFTER_SECONDS = 5
# Requests allowed to wait at once; past it the 503 is immediate (waiting costs memory only).
MAX_WAITING = 2000
# Read before admission: one byte past the JSON/form ceiling, so the body limit still sees an
# oversized body as such.
PRE_READ_BYTES = BODY_MAX_BYTES + 1


class AdmissionMiddleware:
    """Lets `limit` requests in at once; the rest wait up to `wait_seconds`, then 503."""

    def __init__(self, app: ASGIApp, *, limit: int, wait_seconds: float) -> None:
        self.app = app
        self.limit = limit
        self.wait_seconds = wait_seconds
        self.waiting = 0
        # One semaphore per event loop (tests run several loops over one app).
        self._gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def _gate(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = self._gates[loop] = asyncio.Semaphore(self.limit)
        return gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path in EXEMPT_PATHS or path.startswith("/static/"):
            await self.app(scope, receive, send)
            return
        gate = self._gate()
        if self.waiting >= MAX_WAITING:
            await self._busy(scope, receive, send)
            return
        receive = await _read_ahead(receive)
        self.waiting += 1
        try:
            await asyncio.wait_for(gate.acquire(), timeout=self.wait_seconds)
        except TimeoutError:
            await self._busy(scope, receive, send)
            return
        finally:
            self.waiting -= 1
        try:
            await self.app(scope, receive, send)
        finally:
            gate.release()

    async def _busy(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = respond(
            Request(scope),
            503,
            {"detail": messages.SERVER_BUSY},
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
        await response(scope, receive, send)


async def _read_ahead(receive: Receive) -> Receive:
    """`receive` with the body's first PRE_READ_BYTES already read (replayed as one message)."""
    chunks: list[bytes] = []
    size = 0
    more = True
    while more and size < PRE_READ_BYTES:
        message = await receive()
        if message["type"] != "http.request":  # the client went away: pass that on
            pending: list[Message] = [message]
            break
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more = message.get("more_body", False)
    else:
        pending = [{"type": "http.request", "body": b"".join(chunks), "more_body": more}]

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
