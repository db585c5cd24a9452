"""The HTTP/1.1 connection handler `heart serve` runs: uvicorn's h11 protocol, with answers in
Chinese for what it refuses itself and a deadline for a request's line and headers.

uvicorn answers a request it cannot parse before the app sees it: a URL or header block past
h11's buffer (16 KB by default; `heart serve` sets HEAD_BUFFER_BYTES, above the app's own
limits, so that those answer whenever they can), or a malformed request, got `400 Invalid HTTP
request received.` in English. Here such a request gets 414 (the request line alone passed the limit), 431 (the
headers did) or 400, each with a short Chinese page and the connection closed. (A head that
arrives whole is not measured by h11 at all; the app's own limits refuse it, web/body_limit.py.) uvicorn also
put no time limit on a request's head: a client sending a header byte every few seconds kept
its connection (and a file descriptor) forever. Here the line and headers must arrive within
`request_head_seconds`, else 408 in Chinese (a connection that sent nothing is just closed, as
browsers open spare connections). The body has its own deadline in the app (web/body_limit.py).
"""

from __future__ import annotations

import asyncio
import html
from typing import Any

import h11
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.protocols.http.h11_impl import STATUS_PHRASES, H11Protocol

from marketplace import messages
from marketplace.settings import Settings
from web.body_limit import HEADERS_MAX_COUNT
from web.security_headers import HEADERS

DEFAULT_HEAD_SECONDS = 10.0
# h11's buffer for an incomplete request head (uvicorn's h11_max_incomplete_event_size).
HEAD_BUFFER_BYTES = 64 * 1024


def _settings_of(app: Any) -> Settings | None:
    """The Settings of the app uvicorn serves (looking through wrapping middleware)."""
    for _ in range(10):
        settings = getattr(getattr(app, "state", None), "settings", None)
        if isinstance(settings, Settings):
            return settings
        app = getattr(app, "app", None)
        if app is None:
            break
    return None


def answer_page(status: int, message: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The headers and body of a short Chinese page for an answer the app did not give."""
    body = (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{status} · HEART</title><link rel="stylesheet" href="/static/app.css"></head>'
        '<body><header class="site-header"><div class="container">HEART 专家资源库</div></header>'
        '<main class="container"><section class="card narrow">'
        f'<p class="alert" role="alert">{html.escape(message)}</p>'
        f'<p class="muted">错误代码 {status}</p><div class="form-actions">'
        f'<a class="btn" href="/">{messages.BACK_TO_HOME}</a></div></section></main></body></html>'
    ).encode()
    headers = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
        (
            b"content-security-policy",
            b"default-src 'none'; style-src 'self'; frame-ancestors 'none'",
        ),
        *((name.lower().encode(), value.encode()) for name, value in HEADERS.items()),
        (b"connection", b"close"),
    ]
    return headers, body


class HeartH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with Chinese refusals and a deadline for each request's head."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = _settings_of(self.app)
        self.head_seconds = settings.request_head_seconds if settings else DEFAULT_HEAD_SECONDS
        self.head_limit = (
            self.config.h11_max_incomplete_event_size or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
        )
        self.head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:
            self._cancel_head_timer()  # the head is complete (or refused)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_head_timer()  # the next request on this connection has the same deadline

    def send_400_response(self, msg: str) -> None:
        pending, _ = self.conn.trailing_data
        kb = self.head_limit // 1024
        if len(pending) > self.head_limit and b"\n" not in pending:
            self._refuse(414, messages.REQUEST_URL_TOO_LONG.format(kb=kb))
        elif len(pending) > self.head_limit:
            self._refuse(
                431, messages.REQUEST_HEADERS_TOO_LARGE.format(kb=kb, count=HEADERS_MAX_COUNT)
            )
        else:
            self._refuse(400, messages.REQUEST_MALFORMED)

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self.head_timer = self.loop.call_later(self.head_seconds, self._head_overdue)

    def _cancel_head_timer(self) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None

    def _head_overdue(self) -> None:
        self.head_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # the app is answering a request (its body has a deadline of its own)
        pending, _ = self.conn.trailing_data
        if self.conn.their_state is h11.IDLE and pending:
            self.logger.info("Request head not received within %.0f s", self.head_seconds)
            self._refuse(408, messages.REQUEST_HEAD_TOO_SLOW)
        else:
            self.transport.close()  # idle, or still sending a body nobody reads any more

    def _refuse(self, status: int, message: str) -> None:
        headers, body = answer_page(status, message)
        head = b"HTTP/1.1 %d %s\r\n" % (status, STATUS_PHRASES[status])
        lines = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        # Written directly: after a parse error h11 refuses to send (its state is ERROR).
        self.transport.write(head + lines + b"\r\n" + body)
        self.transport.close()
