"""`heart serve --workers 2` as a real process over a fresh SQLite database, for the tests that
need several worker processes (logins and writes shared, the scheduler's lease, summed metrics)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


@dataclass(frozen=True)
class Served:
    url: str
    process: subprocess.Popen
    data: Path


@contextmanager
def heart_serve(
    tmp_path: Path,
    *,
    setup: Sequence[Sequence[str]] = (),
    workers: int = 2,
    environment: Mapping[str, str] | None = None,
) -> Iterator[Served]:
    """`heart init` and the `setup` commands, then `heart serve --workers N` until every worker
    runs and /api/health answers; stopped on exit (its log is the failure message).
    `environment` adds HEART_* settings to the defaults below."""
    data = tmp_path / "data"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HEART_ENVIRONMENT": "production",
        "HEART_SECRET_KEY": TEST_SECRET,
        "HEART_DATABASE_URL": f"sqlite:///{tmp_path / 'heart.db'}",
        "HEART_DATA_DIR": str(data),
        "HEART_EMBED_MODEL": "none",
        **(environment or {}),
    }
    heart = [sys.executable, "-m", "web.cli"]
    for args in (["init"], *setup):
        subprocess.run([*heart, *args], cwd=ROOT, env=env, check=True, capture_output=True)
    port = free_port()
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [*heart, "serve", "--port", str(port), "--workers", str(workers)],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # workers start slowly on a loaded 2-core machine
        while time.monotonic() < deadline:
            try:
                # One worker is the server process itself; more are its children.
                if (workers == 1 or len(children(process.pid)) >= workers) and httpx.get(
                    f"{url}/api/health"
                ).is_success:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        else:
            pytest.fail((tmp_path / "serve.log").read_text())
        yield Served(url=url, process=process, data=data)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
