"""`heart serve --workers N`: several processes answer from one configuration and one database."""

from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.serving import children, heart_serve

PASSWORD = "workers-test-2026"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    staff = ["users", "create", "staff", "--role", "staff", "--password", PASSWORD]
    with heart_serve(tmp_path_factory.mktemp("workers"), setup=[staff]) as server:
        yield server.url, server.process


def workers_of(pid: int) -> list[int]:
    """The uvicorn worker processes of `heart serve` (not multiprocessing's resource tracker)."""
    return [
        child
        for child in children(pid)
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def test_serve_with_two_workers_runs_two_processes_that_share_logins_and_writes(served):
    url, process = served

    def login(_: int) -> str:
        response = httpx.post(
            f"{url}/api/auth/token", data={"username": "staff", "password": PASSWORD}, timeout=60
        )
        response.raise_for_status()
        return response.json()["access_token"]

    with ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(login, range(16)))
        # New connections are spread over the workers: each must accept every worker's token.
        me = list(
            pool.map(
                lambda t: httpx.get(f"{url}/api/me", headers={"Authorization": f"Bearer {t}"}),
                tokens * 2,
            )
        )

    assert len(children(process.pid)) >= 2
    assert [r.status_code for r in me] == [200] * 32
    assert {r.json()["username"] for r in me} == {"staff"}


def test_a_worker_that_cannot_answer_for_8_s_is_not_killed_mid_request(served):
    # uvicorn's supervisor killed a worker that missed its 5 s ping: under saturation busy,
    # healthy workers were killed with every request they held (load test on PostgreSQL,
    # --workers 2: workers died five times in 40 s). A stopped process stands in for a busy one.
    url, process = served
    victim = workers_of(process.pid)[0]
    os.kill(victim, signal.SIGSTOP)
    try:
        time.sleep(8)
    finally:
        os.kill(victim, signal.SIGCONT)
    time.sleep(1)
    assert victim in workers_of(process.pid)
    answers = [httpx.get(f"{url}/api/health", timeout=30).status_code for _ in range(10)]
    assert answers == [200] * 10
