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
