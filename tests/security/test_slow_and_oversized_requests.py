"""What the HTTP server refuses before the app, and slow clients, against `heart serve` itself.

Attacks by raw socket on a real server (one process, one admission place, 1 s deadlines):
- a 20 KB URL, a flood of headers, a huge cookie, garbage: uvicorn answered all of them
  `400 Invalid HTTP request received.` in English; now 414 / 431 / 400 with a Chinese page;
- a client sending its headers a line at a time forever kept its connection forever; a client
  trickling (or stalling) its body kept the request, and past 1 MB an admission place, forever:
  now 408 in Chinese after the deadline, the connection closed, and the server answering others.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.serving import Served, heart_serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    settings = {
        "HEART_REQUEST_HEAD_SECONDS": "1",
        "HEART_REQUEST_BODY_SECONDS": "1",
        "HEART_REQUEST_BODY_MIN_KBPS": "1",
        "HEART_REQUEST_BODY_MAX_SECONDS": "3",
        "HEART_MAX_CONCURRENT_REQUESTS": "1",
        "HEART_SCHEDULER_ENABLED": "false",
    }
    with heart_serve(tmp_path_factory.mktemp("slow"), workers=1, environment=settings) as served:
        yield served


def connect(served: Served) -> socket.socket:
    host, port = served.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def read_all(sock: socket.socket, limit: float = 10) -> bytes:
    """Everything the server sends until it closes the connection (or `limit` seconds)."""
    sock.settimeout(limit)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except TimeoutError:
        pytest.fail(f"the server kept the connection open: {b''.join(chunks)[:300]!r}")
    return b"".join(chunks)


def status_and_text(raw: bytes) -> tuple[int, str]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body.decode("utf-8")


def still_serving(served: Served) -> None:
    assert httpx.get(f"{served.url}/api/health", timeout=5).status_code == 200
    assert httpx.get(f"{served.url}/login", timeout=5).status_code == 200


def _url_request(query_bytes: int) -> bytes:
    return b"GET /experts?q=" + b"a" * query_bytes + b" HTTP/1.1\r\nHost: x\r\n\r\n"


def _cookie_request(cookie_bytes: int) -> bytes:
    return b"GET / HTTP/1.1\r\nHost: x\r\nCookie: s=" + b"c" * cookie_bytes + b"\r\n\r\n"


MANY_SMALL_HEADERS = (
    b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(500)) + b"\r\n"
)


def _send(sock: socket.socket, data: bytes, pieces: int) -> None:
    step = -(-len(data) // pieces)
    for start in range(0, len(data), step):
        sock.sendall(data[start : start + step])
        if pieces > 1:
            time.sleep(0.1)  # each piece reaches the server on its own


# Past the app's limits (URL 16 KB, headers 32 KB) the app answers, with its error page, however
# the head arrives; past the connection handler's 64 KB buffer, arriving in pieces, h11 gives
# up first and the handler answers.
@pytest.mark.parametrize(
    ("request_bytes", "pieces", "status", "words"),
    [
        (_url_request(20_000), 1, 414, "网址过长（上限 16 KB）"),
        (_url_request(20_000), 4, 414, "网址过长（上限 16 KB）"),
        (_cookie_request(40_000), 1, 431, "Cookie"),
        (_cookie_request(40_000), 4, 431, "Cookie"),
        (_url_request(80_000), 8, 414, "网址过长（上限 64 KB）"),
        (_cookie_request(80_000), 8, 431, "请求头过大（上限 64 KB"),
    ],
    ids=[
        "url-20kb-app",
        "url-20kb-app-in-pieces",
        "cookie-40kb-app",
        "cookie-40kb-app-in-pieces",
        "url-80kb-server",
        "cookie-80kb-server",
    ],
)
def test_an_oversized_head_is_answered_in_chinese_and_closed(
    served, request_bytes, pieces, status, words
):
    with connect(served) as sock:
        _send(sock, request_bytes, pieces)
        got, text = status_and_text(read_all(sock))
    assert got == status
    assert words in text and "返回首页" in text
    assert "Invalid" not in text
    still_serving(served)


def test_a_1000_character_chinese_search_is_not_too_long(served):
    # 9 KB percent-encoded: the search's own limit (1,000 characters) decides, not the URL's.
    answer = httpx.get(f"{served.url}/api/search", params={"q": "焦虑" * 500}, timeout=10)
    assert answer.status_code == 401  # it reached the app's authentication


def test_many_small_headers_are_431_and_garbage_is_400_in_chinese(served):
    with connect(served) as sock:
        sock.sendall(MANY_SMALL_HEADERS)
        got, text = status_and_text(read_all(sock))
    assert got == 431 and "100 项" in text
    with connect(served) as sock:
        sock.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
        got, text = status_and_text(read_all(sock))
    assert got == 400 and "无法识别的请求" in text and "返回首页" in text
    still_serving(served)


def test_headers_sent_a_line_at_a_time_get_408_within_the_deadline(served):
    with connect(served) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        got = b""
        sock.settimeout(0.3)
        for i in range(40):  # 12 s of a header line every 0.3 s
            try:
                sock.sendall(b"X-Slow-%d: y\r\n" % i)
                got = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if got:
                break
        got += read_all(sock)
        elapsed = time.monotonic() - started
    status, text = status_and_text(got)
    assert status == 408 and "超时" in text
    assert elapsed < 4
    still_serving(served)


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(served):
    with connect(served) as sock:
        started = time.monotonic()
        assert read_all(sock) == b""
        assert time.monotonic() - started < 4


def _post_head(length: int, content_type: str = "application/json") -> bytes:
    return (
        f"POST /api/me/password HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\nAccept: application/json\r\n\r\n"
    ).encode()


def _answer_json(raw: bytes) -> tuple[int, dict, bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body), head.lower()


def test_a_stalled_body_gets_408_and_the_connection_is_closed(served):
    with connect(served) as sock:
        sock.sendall(_post_head(100) + b'{"old_password": ')
        started = time.monotonic()
        status, body, head = _answer_json(read_all(sock))
    assert status == 408 and "超时" in body["detail"]
    assert b"connection: close" in head
    assert time.monotonic() - started < 4
    still_serving(served)


def test_a_body_trickled_a_byte_at_a_time_is_cut_off_by_its_size_deadline(served):
    # 1,000 bytes at 1 KB/s minimum: due within 1 s + ~1 s; a byte every 0.5 s never pauses 1 s.
    with connect(served) as sock:
        sock.sendall(_post_head(1000))
        started = time.monotonic()
        sock.settimeout(0.5)
        got = b""
        for _ in range(40):
            try:
                sock.sendall(b" ")
                got = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if got:
                break
        got += read_all(sock)
        elapsed = time.monotonic() - started
    status, body, _ = _answer_json(got)
    assert status == 408 and "超时" in body["detail"]
    assert elapsed < 5


def test_a_stalled_upload_past_the_read_ahead_frees_the_only_admission_place(served):
    # Past the 1 MB read before admission, the rest of an upload is read by the admitted
    # request: stalling there held the server's one place until the client gave up.
    boundary = "heart-boundary"
    length = 3 * 1024 * 1024
    with connect(served) as sock:
        sock.sendall(_post_head(length, f"multipart/form-data; boundary={boundary}"))
        sock.sendall(f"--{boundary}\r\n".encode() + b"x" * (1024 * 1024 + 4096))
        time.sleep(0.3)  # admitted, reading the rest
        started = time.monotonic()
        status, body, _ = _answer_json(read_all(sock))
    assert status == 408 and "超时" in body["detail"]
    assert time.monotonic() - started < 4
    still_serving(served)


def test_an_upload_arriving_steadily_past_the_ceiling_on_body_time_gets_408(served):
    # 3 MB at the 1 KB/s minimum would be due in 51 minutes; sent at ~256 KB/s (never pausing,
    # always above the minimum) it would take 12 s: the 3 s ceiling on any body cuts it off,
    # with a 408 that says the limit, and frees the server's only admission place.
    boundary = "heart-boundary"
    length = 3 * 1024 * 1024
    with connect(served) as sock:
        sock.sendall(_post_head(length, f"multipart/form-data; boundary={boundary}"))
        sock.sendall(f"--{boundary}\r\n".encode())
        started = time.monotonic()
        sock.settimeout(0.25)
        got = b""
        for _ in range(60):
            try:
                sock.sendall(b"x" * 64 * 1024)
                got = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if got:
                break
        got += read_all(sock)
        elapsed = time.monotonic() - started
    status, body, head = _answer_json(got)
    assert status == 408 and "用时超过 3 秒上限" in body["detail"]
    assert b"connection: close" in head
    assert 2.5 < elapsed < 6
    still_serving(served)
