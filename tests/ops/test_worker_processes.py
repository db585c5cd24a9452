"""Three `heart worker` processes on one database: each job runs once per period (counted in the
jobs table), from one holder; killing the holder lets another take the lease within its lapse.

Periods are shortened to 3 seconds and the lease to 3 (HEART_SCHEDULER_INTERVALS,
HEART_SCHEDULER_LEASE_SECONDS); with the defaults (30-second lease, 5-second rounds) the takeover
comes within 35 seconds, inside the minute the issue asks for.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import Session, select

from marketplace.jobs.models import JobRun, SchedulerLease
from marketplace.jobs.service import JobSpec
from tests.conftest import TEST_SECRET
from tests.ops.conftest import OpsDb

ROOT = Path(__file__).resolve().parents[2]
JOBS = [
    "crisis_escalation",
    "mail_delivery",
    "search_outbox",
    "busy_feeds",
    "reminders",
    "service_expiry",
    "session_purge",
    "index_drift",
]
PERIOD = 3
LEASE = 3


def start_worker(ops_db: OpsDb, log: Path, *args: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HEART_ENVIRONMENT": "test",
        "HEART_SECRET_KEY": TEST_SECRET,
        "HEART_DATABASE_URL": ops_db.url,
        "HEART_DATA_DIR": str(ops_db.data_dir),
        "HEART_EMBED_MODEL": "none",
        "HEART_SCHEDULER_INTERVALS": json.dumps(dict.fromkeys(JOBS, PERIOD)),
        "HEART_SCHEDULER_LEASE_SECONDS": str(LEASE),
        "HEART_SCHEDULER_POLL_SECONDS": "0.25",
        "HEART_LOG_FORMAT": "json",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "web.cli", "worker", *args],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )


def lease(ops_db: OpsDb) -> SchedulerLease | None:
    with Session(ops_db.engine) as session:
        return session.get(SchedulerLease, "scheduler")


def all_runs(ops_db: OpsDb) -> list[JobRun]:
    with Session(ops_db.engine) as session:
        return list(session.exec(select(JobRun).order_by(JobRun.period_start)).all())


def wait_until(condition, timeout: float):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def period_starts(start: datetime, end: datetime) -> list[datetime]:
    """The starts of the periods lying wholly between `start` and `end` (minus a second of slack
    at the end for the run to be recorded)."""
    spec = JobSpec(name="x", label="x", interval=timedelta(seconds=PERIOD), run=lambda _: "")
    first = spec.next_period(start)
    starts = []
    while first + timedelta(seconds=PERIOD + 1) <= end:
        starts.append(first)
        first += timedelta(seconds=PERIOD)
    return starts


def pid_of(holder: str) -> int:
    return int(holder.split(":")[1])


def test_three_workers_run_each_job_once_per_period_and_survive_killing_the_holder(
    ops_db, tmp_path
):
    workers = [start_worker(ops_db, tmp_path / f"worker{i}.log") for i in range(3)]
    try:
        first = wait_until(lambda: (held := lease(ops_db)) and held.holder and held, 60)
        holder_pid = pid_of(first.holder)
        assert holder_pid in {w.pid for w in workers}
        # Warm: every job has run once (the first drain loads the Chinese analyzer).
        wait_until(lambda: {r.job for r in all_runs(ops_db) if r.status == "ok"} >= set(JOBS), 60)
        window_start = datetime.now().astimezone()
        time.sleep(5 * PERIOD)
        before_kill = datetime.now().astimezone()
        runs = all_runs(ops_db)
        assert {r.holder for r in runs} == {first.holder}
        # Every full period inside the window: each job ran in it exactly once.
        full = period_starts(window_start, before_kill)
        assert len(full) >= 3
        for job in JOBS:
            periods = Counter(r.period_start for r in runs if r.job == job)
            assert [periods[p] for p in full] == [1] * len(full), (job, sorted(periods))

        os.kill(holder_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        second = wait_until(
            lambda: (held := lease(ops_db)) and held.holder != first.holder and held, 60
        )
        takeover = time.monotonic() - killed_at
        assert pid_of(second.holder) in {w.pid for w in workers} - {holder_pid}
        assert takeover < LEASE + 2, takeover
        # The new holder goes on running every job.
        wait_until(
            lambda: (
                {r.job for r in all_runs(ops_db) if r.holder == second.holder and r.status == "ok"}
                >= set(JOBS)
            ),
            30,
        )
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
    runs = all_runs(ops_db)
    per_period: dict[str, Counter] = defaultdict(Counter)
    for run in runs:
        per_period[run.job][run.period_start] += 1
    assert all(count == 1 for job in per_period.values() for count in job.values())
    assert {r.holder for r in runs} == {first.holder, second.holder}
    # (a run the kill interrupted stays "running"; none failed)
    assert not [
        (r.job, r.error) for r in runs if r.started_at < before_kill and r.status == "failed"
    ]
    # HEART_LOG_FORMAT=json: every line the workers wrote is a JSON object.
    logged = [
        json.loads(line)
        for i in range(3)
        for line in (tmp_path / f"worker{i}.log").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    assert any(entry.get("msg") == "worker started" for entry in logged)
    assert any(entry.get("job") == "crisis_escalation" for entry in logged)
    print(f"takeover after SIGKILL of the holder: {takeover:.2f} s (lease {LEASE} s)")


def test_worker_once_runs_the_due_jobs_and_exits(ops_db, tmp_path):
    worker = start_worker(ops_db, tmp_path / "once.log", "--once")
    assert worker.wait(timeout=120) == 0, (tmp_path / "once.log").read_text(encoding="utf-8")
    runs = all_runs(ops_db)
    assert sorted(r.job for r in runs) == sorted(JOBS)
    assert {r.status for r in runs} == {"ok"}, [(r.job, r.error) for r in runs]
    assert lease(ops_db).expires_at <= datetime.now().astimezone()  # handed back on exit
    said = (tmp_path / "once.log").read_text(encoding="utf-8")
    for job in JOBS:  # the operator reads what ran
        assert f"{job}: 成功 ok" in said, said


def test_worker_once_says_so_when_another_process_holds_the_lease(ops_db, tmp_path):
    from marketplace.jobs.service import acquire_lease

    holder = "elsewhere:1:serve"
    assert acquire_lease(
        engine=ops_db.engine,
        holder=holder,
        now=datetime.now().astimezone(),
        ttl=timedelta(minutes=5),
    )
    worker = start_worker(ops_db, tmp_path / "held.log", "--once")
    assert worker.wait(timeout=120) == 0
    said = (tmp_path / "held.log").read_text(encoding="utf-8")
    assert f"调度租约由 {holder} 持有，本轮没有运行任务" in said, said
    assert all_runs(ops_db) == []
