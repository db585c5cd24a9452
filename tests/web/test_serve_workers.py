"""`heart serve --workers N`: several processes answer from one configuration and one database."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.serving import children, heart_serve

PASSWORD = "workers-test-2026"


@pytest.fixture
def served(tmp_path: Path):  # type: ignore[no-untyped-def]
    staff = ["users", "create", "staff", "--role", "staff", "--password", PASSWORD]
    with heart_serve(tmp_path, setup=[staff]) as server:
        yield server.url, server.process


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
