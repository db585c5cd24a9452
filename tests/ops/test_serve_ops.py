"""`heart serve --workers 2`: the scheduler runs inside the server with no cron entry, and
/metrics on whichever worker answers sums the counters of both."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.serving import heart_serve


@pytest.fixture
def served(tmp_path: Path):  # type: ignore[no-untyped-def]
    with heart_serve(tmp_path) as server:
        yield server.url, server.data


def health_requests(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text  # from 127.0.0.1: in the default allowed networks
    pattern = r'heart_http_requests_total\{method="GET",route="/api/health",status="\d+"\} (\S+)'
    return sum(float(v) for v in re.findall(pattern, text))


def test_serve_runs_every_job_by_itself_and_metrics_add_up_across_workers(served):
    url, data = served
    deadline = time.monotonic() + 120  # the first search drain loads the analyzer: slow under load
    while time.monotonic() < deadline:
        body = httpx.get(f"{url}/api/health").json()
        done = {j["name"] for j in body["jobs"] if j["last_success_at"]}
        if len(done) == 8:
            break
        time.sleep(0.5)
    assert len(done) == 8, body
    assert body["scheduler"]["holder"]
    # Concurrent requests, until both workers have answered some (the kernel picks the worker).
    counters = data / "prometheus"
    with ThreadPoolExecutor(8) as pool:
        for _ in range(20):
            if len({p.name for p in counters.glob("counter_*.db")}) == 2:
                break
            # a generous timeout: the burst queues on a loaded machine; latency is not the point
            list(pool.map(lambda _: httpx.get(f"{url}/api/health", timeout=60), range(40)))
        assert len(list(counters.glob("counter_*.db"))) == 2
        before = health_requests(url)
        statuses = list(
            pool.map(lambda _: httpx.get(f"{url}/api/health", timeout=60).status_code, range(30))
        )
    assert statuses == [200] * 30
    # A request is counted once its response went out, so the last few may land a moment later.
    deadline = time.monotonic() + 10
    while health_requests(url) - before < 30 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert health_requests(url) - before == 30
