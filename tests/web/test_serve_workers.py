"""`heart serve --workers N`: several processes answer from one configuration and one database."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "workers-test-2026"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@pytest.fixture
def served(tmp_path: Path):  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "HEART_ENVIRONMENT": "production",
        "HEART_SECRET_KEY": TEST_SECRET,
        "HEART_DATABASE_URL": f"sqlite:///{tmp_path / 'heart.db'}",
        "HEART_DATA_DIR": str(tmp_path / "data"),
        "HEART_EMBED_MODEL": "none",
    }
    heart = [sys.executable, "-m", "web.cli"]
    for args in (["init"], ["users", "create", "staff", "--role", "staff", "--password", PASSWORD]):
        subprocess.run([*heart, *args], cwd=ROOT, env=env, check=True, capture_output=True)
    port = free_port()
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [*heart, "serve", "--port", str(port), "--workers", "2"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if len(children(process.pid)) >= 2 and httpx.get(f"{url}/api/health").is_success:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            pytest.fail((tmp_path / "serve.log").read_text())
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


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
