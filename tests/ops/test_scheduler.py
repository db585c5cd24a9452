"""The scheduler with an injected clock: one runner (the lease), one run per job and period,
takeover when the holder stops renewing, failures recorded and retried with backoff, the time
budget, "run now"."""

from __future__ import annotations

import random
import threading
from collections import Counter
from datetime import timedelta

from sqlmodel import Session, select

from marketplace.jobs.models import JobRun, JobState, SchedulerLease
from marketplace.jobs.scheduler import Scheduler
from marketplace.jobs.service import JobContext, JobSpec, job_health, request_run


class Calls:
    """A job body that counts its calls (and the `now` each call saw)."""

    def __init__(self, fail_times: int = 0) -> None:
        self.seen: list = []
        self.fail_times = fail_times
        self.lock = threading.Lock()

    def __call__(self, ctx: JobContext) -> str:
        with self.lock:
            self.seen.append(ctx.now)
            if len(self.seen) <= self.fail_times:
                raise RuntimeError(f"boom {len(self.seen)}")
        return f"call {len(self.seen)}"


def spec(name: str, body, minutes: float = 1, **kwargs) -> JobSpec:  # type: ignore[no-untyped-def]
    return JobSpec(name=name, label=name, interval=timedelta(minutes=minutes), run=body, **kwargs)


def scheduler(ops_db, clock, specs, holder: str, **overrides) -> Scheduler:  # type: ignore[no-untyped-def]
    settings = ops_db.settings_with(
        scheduler_lease_seconds=overrides.pop("lease", 30),
        scheduler_poll_seconds=overrides.pop("poll", 5),
    )
    return Scheduler(
        engine=ops_db.engine, settings=settings, specs=specs, clock=clock, holder=holder
    )


def round_(*schedulers: Scheduler) -> None:
    for s in schedulers:
        s.tick()
    for s in schedulers:
        s.run_until_idle()


def runs(ops_db) -> list[JobRun]:  # type: ignore[no-untyped-def]
    with Session(ops_db.engine) as session:
        return list(session.exec(select(JobRun).order_by(JobRun.id)).all())


def test_three_schedulers_run_each_job_once_per_period_from_one_holder(ops_db, clock):
    minute, ten = Calls(), Calls()
    specs = [spec("every_minute", minute), spec("every_ten", ten, minutes=10)]
    a, b, c = (scheduler(ops_db, clock, specs, h) for h in ("A", "B", "C"))
    order = [a, b, c]
    rng = random.Random(7)
    for _ in range(25):  # 25 minutes in 15-second steps, the schedulers in shuffled order
        for _ in range(4):
            rng.shuffle(order)
            round_(*order)
            clock.advance(seconds=15)
    per_job = Counter(r.job for r in runs(ops_db))
    assert per_job == {"every_minute": 25, "every_ten": 3}
    assert len(minute.seen) == 25 and len(ten.seen) == 3
    periods = [r.period_start for r in runs(ops_db) if r.job == "every_minute"]
    assert len(set(periods)) == 25
    assert all(b - a == timedelta(minutes=1) for a, b in zip(periods, periods[1:], strict=False))
    assert len({r.holder for r in runs(ops_db)}) == 1
    assert sum(s.holding for s in (a, b, c)) == 1


def test_when_the_holder_stops_renewing_another_takes_the_lease_after_it_lapses(ops_db, clock):
    calls = Calls()
    specs = [spec("every_minute", calls)]
    a = scheduler(ops_db, clock, specs, "A", lease=20, poll=5)
    b = scheduler(ops_db, clock, specs, "B", lease=20, poll=5)
    round_(a, b)
    assert a.holding and not b.holding
    clock.advance(seconds=15)  # A is gone (no more ticks); its lease is still live
    round_(b)
    assert not b.holding
    clock.advance(seconds=6)  # past A's lease: B takes over; A already served this minute
    round_(b)
    assert b.holding
    with Session(ops_db.engine) as session:
        lease = session.get(SchedulerLease, "scheduler")
        assert lease is not None and lease.holder == "B" and lease.acquired_at == clock.now
    assert [r.holder for r in runs(ops_db)] == ["A"]
    clock.advance(minutes=1)
    round_(b)
    assert [r.holder for r in runs(ops_db)] == ["A", "B"]
    assert len(calls.seen) == 2


def test_a_clean_stop_hands_the_lease_over_at_once(ops_db, clock):
    specs = [spec("every_minute", Calls())]
    a = scheduler(ops_db, clock, specs, "A")
    b = scheduler(ops_db, clock, specs, "B")
    round_(a)
    a.stop()
    round_(b)
    assert b.holding


def test_a_failing_job_is_recorded_retried_with_backoff_and_recovers(ops_db, clock):
    flaky = Calls(fail_times=2)
    steady = Calls()
    s = scheduler(ops_db, clock, [spec("daily", flaky, minutes=24 * 60), spec("ok", steady)], "A")
    round_(s)
    with Session(ops_db.engine) as session:
        state = session.get(JobState, "daily")
        assert state is not None
        assert state.last_error == "RuntimeError: boom 1" and state.last_success_at is None
        assert state.consecutive_failures == 1
        assert state.next_run_at == clock.now + timedelta(seconds=30)
    clock.advance(seconds=20)
    round_(s)
    assert len(flaky.seen) == 1  # backing off
    clock.advance(seconds=15)
    round_(s)
    assert len(flaky.seen) == 2
    with Session(ops_db.engine) as session:
        state = session.get(JobState, "daily")
        assert state is not None and state.consecutive_failures == 2
        assert state.next_run_at == clock.now + timedelta(seconds=60)  # doubled
    clock.advance(seconds=61)
    round_(s)
    assert len(flaky.seen) == 3
    with Session(ops_db.engine) as session:
        state = session.get(JobState, "daily")
        assert state is not None and state.consecutive_failures == 0
        assert state.last_success_at == clock.now and state.last_summary == "call 3"
        run = session.exec(select(JobRun).where(JobRun.job == "daily")).one()
        assert (run.status, run.attempts) == ("ok", 3)  # one period, three attempts
    # The other job kept its schedule throughout.
    assert len(steady.seen) == 2  # minutes 10:00 and 10:01


def test_a_job_over_its_budget_counts_as_failed_and_is_not_started_twice(ops_db, clock):
    release = threading.Event()
    started = []

    def stuck(ctx: JobContext) -> str:
        started.append(ctx.now)
        release.wait(10)
        return "finally"

    s = scheduler(
        ops_db, clock, [spec("stuck", stuck, budget=timedelta(seconds=0.2))], "A", poll=0.1
    )
    s.tick()
    threading.Event().wait(0.4)
    clock.advance(minutes=1)
    s.tick()
    assert len(started) == 1
    with Session(ops_db.engine) as session:
        state = session.get(JobState, "stuck")
        assert state is not None and "超出时间预算" in (state.last_error or "")
    release.set()
    s.run_until_idle()
    clock.advance(minutes=1)
    round_(s)
    assert len(started) == 2


def test_run_now_runs_a_job_outside_its_schedule(ops_db, clock):
    daily = Calls()
    s = scheduler(ops_db, clock, [spec("daily", daily, minutes=24 * 60)], "A")
    round_(s)
    clock.advance(minutes=5)
    round_(s)
    assert len(daily.seen) == 1
    with Session(ops_db.engine) as session:
        assert request_run(session=session, name="daily", by="admin", now=clock.now)
        assert request_run(session=session, name="nope", by="admin", now=clock.now) is None
        session.commit()
    clock.advance(seconds=5)
    round_(s)
    assert len(daily.seen) == 2
    assert [r.trigger for r in runs(ops_db)] == ["schedule", "manual"]
    with Session(ops_db.engine) as session:
        state = session.get(JobState, "daily")
        assert state is not None and state.run_requested_at is None
        assert state.next_run_at is not None and state.next_run_at > clock.now + timedelta(hours=1)


def test_health_calls_a_job_overdue_once_it_is_late_past_the_grace(ops_db, clock):
    s = scheduler(ops_db, clock, [spec("every_minute", Calls(fail_times=100))], "A")
    round_(s)
    grace = timedelta(minutes=10)
    with Session(ops_db.engine) as session:
        [health] = job_health(session=session, now=clock.now, grace=grace)
        assert not health.overdue and health.last_error == "RuntimeError: boom 1"
    for _ in range(12):
        clock.advance(minutes=1)
        round_(s)
    with Session(ops_db.engine) as session:
        [health] = job_health(session=session, now=clock.now, grace=grace)
        assert health.overdue and health.lag_seconds > grace.total_seconds()


def test_a_job_the_release_no_longer_has_is_dropped_so_it_never_looks_overdue(ops_db, clock):
    with Session(ops_db.engine) as session:
        session.add(JobState(name="retired_job", interval_seconds=60, created_at=clock.now))
        session.commit()
    round_(scheduler(ops_db, clock, [spec("every_minute", Calls())], "A"))
    with Session(ops_db.engine) as session:
        assert [s.name for s in session.exec(select(JobState)).all()] == ["every_minute"]


def test_a_runs_duration_is_the_bodys_not_the_wait_for_the_next_round(ops_db, clock):
    import time

    quick = Calls()
    s = scheduler(ops_db, clock, [spec("quick", quick)], "A")
    s.tick()
    time.sleep(1.0)  # the body returned long ago; the next round collects it
    s.tick()
    [run] = runs(ops_db)
    assert run.status == "ok"
    with Session(ops_db.engine) as session:
        state = session.get(JobState, "quick")
        assert state is not None and state.last_duration_ms is not None
        assert state.last_duration_ms < 500, state.last_duration_ms


def test_a_body_that_ends_before_submit_returns_is_never_timed_negative(ops_db, clock, monkeypatch):
    import itertools
    import time
    import types
    from concurrent.futures import Future

    from marketplace.jobs import scheduler as module

    ticks = itertools.count()  # each reading of the clock is one second after the last
    monkeypatch.setattr(
        module, "time", types.SimpleNamespace(monotonic=lambda: float(next(ticks)), time=time.time)
    )

    class AtOnce:
        """An executor that runs the body inside submit(), the race a busy machine makes."""

        def submit(self, fn, *args):
            future: Future = Future()
            future.set_result(fn(*args))
            return future

        def shutdown(self, **_):
            pass

    s = scheduler(ops_db, clock, [spec("instant", Calls())], "A")
    s._pool = AtOnce()
    s.tick()
    s.tick()
    with Session(ops_db.engine) as session:
        state = session.get(JobState, "instant")
        assert state is not None and state.last_duration_ms is not None
        assert state.last_duration_ms >= 0, state.last_duration_ms
