"""Scheduled jobs: the lease, which job is due, claiming a run, recording its outcome.

Every function takes `now`, so schedules, retries and lease expiry are tested with an injected
clock. Writes go through `serialized_write` (BEGIN IMMEDIATE on SQLite, so several processes
queue instead of failing; an ordinary transaction on PostgreSQL, where the conditional UPDATEs
and the unique run key do the arbitration).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from marketplace import messages
from marketplace.clock import LOCAL_TZ
from marketplace.db import serialized_write
from marketplace.jobs.models import SCHEDULER_LEASE, JobRun, JobState, SchedulerLease
from marketplace.settings import Settings

# Schedules are aligned to local midnight of this day (Asia/Shanghai has no daylight saving).
EPOCH = datetime(2026, 1, 1, tzinfo=LOCAL_TZ)
RETRY_BASE = timedelta(seconds=30)
MAX_ATTEMPTS_PER_PERIOD = 5


@dataclass(frozen=True)
class JobContext:
    """What a job needs: the database, the settings and the scheduler's idea of now."""

    engine: Engine
    settings: Settings
    now: datetime


JobFunction = Callable[[JobContext], str]


@dataclass(frozen=True)
class JobSpec:
    """One periodic job: runs once per `interval` (aligned at `offset` past local midnight)."""

    name: str
    label: str  # Chinese, for the admin page
    interval: timedelta
    run: JobFunction = field(compare=False)
    offset: timedelta = timedelta(0)
    budget: timedelta = timedelta(minutes=5)  # longer than this counts as a failure
    max_backoff: timedelta = timedelta(minutes=10)

    @classmethod
    def every(
        cls, interval: timedelta, name: str, run: JobFunction, **timing: timedelta
    ) -> JobSpec:
        """A job labelled on the admin page by its entry in messages.JOB_LABELS; `timing`
        sets offset, budget or max_backoff."""
        return cls(name=name, label=messages.JOB_LABELS[name], interval=interval, run=run, **timing)

    def period_start(self, now: datetime) -> datetime:
        """The start of the period `now` falls in."""
        base = EPOCH + self.offset
        periods = (now - base) // self.interval
        return (base + periods * self.interval).astimezone(now.tzinfo)

    def next_period(self, now: datetime) -> datetime:
        return self.period_start(now) + self.interval

    def backoff(self, failures: int) -> timedelta:
        """Wait before retrying after `failures` failures in a row (doubling, capped)."""
        return min(RETRY_BASE * 2 ** max(failures - 1, 0), self.max_backoff)


def with_interval(spec: JobSpec, seconds: float | None) -> JobSpec:
    """`spec` with its interval replaced (settings override; tests use seconds)."""
    if not seconds:
        return spec
    return replace(
        spec,
        interval=timedelta(seconds=seconds),
        offset=timedelta(0),
        budget=min(spec.budget, timedelta(seconds=max(seconds * 5, 5))),
        max_backoff=min(spec.max_backoff, timedelta(seconds=seconds)),
    )


# --- the lease ------------------------------------------------------------------------------


def acquire_lease(*, engine: Engine, holder: str, now: datetime, ttl: timedelta) -> bool:
    """Take or renew the scheduler lease for `holder`; False while another holder's is live."""
    try:
        with serialized_write(engine) as session:
            lease = session.exec(
                select(SchedulerLease)
                .where(SchedulerLease.name == SCHEDULER_LEASE)
                .with_for_update()
            ).first()
            if lease is None:
                lease = SchedulerLease(name=SCHEDULER_LEASE, holder=holder, acquired_at=now)
            elif lease.holder != holder:
                if lease.expires_at is not None and lease.expires_at > now:
                    return False
                lease.holder = holder
                lease.acquired_at = now
            lease.expires_at = now + ttl
            session.add(lease)
        return True
    except IntegrityError:  # another process inserted the row first: it holds the lease
        return False


def release_lease(*, engine: Engine, holder: str, now: datetime) -> None:
    """Give the lease up at once (clean shutdown), so another process need not wait for expiry."""
    with serialized_write(engine) as session:
        session.execute(
            update(SchedulerLease)
            .where(col(SchedulerLease.name) == SCHEDULER_LEASE)
            .where(col(SchedulerLease.holder) == holder)
            .values(expires_at=now)
        )


def current_lease(*, session: Session) -> SchedulerLease | None:
    return session.get(SchedulerLease, SCHEDULER_LEASE)


# --- job state ------------------------------------------------------------------------------


def ensure_jobs(*, engine: Engine, specs: list[JobSpec], now: datetime) -> None:
    """Create the state row of each job (first run: its current period) and keep intervals; a
    job this release no longer has is dropped (it would look overdue forever)."""
    with serialized_write(engine) as session:
        names = [spec.name for spec in specs]
        session.execute(delete(JobState).where(col(JobState.name).not_in(names)))
        for spec in specs:
            state = session.get(JobState, spec.name)
            seconds = int(spec.interval.total_seconds())
            if state is None:
                session.add(
                    JobState(
                        name=spec.name,
                        interval_seconds=seconds,
                        created_at=now,
                        next_run_at=spec.period_start(now),
                    )
                )
            elif state.interval_seconds != seconds:
                state.interval_seconds = seconds
                state.next_run_at = min(state.next_run_at or now, spec.next_period(now))
                session.add(state)


def request_run(*, session: Session, name: str, by: str, now: datetime) -> JobState | None:
    """Ask the scheduler to run job `name` at its next round ("run now"); None if unknown."""
    state = session.get(JobState, name)
    if state is None:
        return None
    state.run_requested_at = now
    state.run_requested_by = by[:64]
    session.add(state)
    session.flush()
    return state


def list_states(*, session: Session) -> list[JobState]:
    return list(session.exec(select(JobState).order_by(col(JobState.name))).all())


def recent_runs(*, session: Session, job: str | None = None, limit: int = 20) -> list[JobRun]:
    query = select(JobRun).order_by(col(JobRun.started_at).desc(), col(JobRun.id).desc())
    if job:
        query = query.where(JobRun.job == job)
    return list(session.exec(query.limit(limit)).all())


# --- running --------------------------------------------------------------------------------


def due_jobs(*, engine: Engine, now: datetime) -> set[str]:
    """Names of the jobs that may be due at `now` (claim_due_run decides)."""
    with Session(engine) as session:
        states = list_states(session=session)
    return {
        s.name
        for s in states
        if s.run_requested_at is not None or s.next_run_at is None or s.next_run_at <= now
    }


def claim_due_run(
    *, engine: Engine, spec: JobSpec, holder: str, now: datetime, stale_after: timedelta
) -> JobRun | None:
    """Claim the run of `spec` that is due at `now`, or None when nothing is due.

    Due: a "run now" request, or the job's next_run_at has come. The run is keyed by the period
    it serves, so a period served by an earlier holder is not served again; a failed run is
    retried in its period, and a run whose holder vanished (running past `stale_after`) is
    taken over.
    """
    try:
        with serialized_write(engine) as session:
            state = session.get(JobState, spec.name)
            if state is None:
                return None
            if state.run_requested_at is not None:
                manual = JobRun(
                    job=spec.name,
                    period_start=state.run_requested_at,
                    trigger="manual",
                    holder=holder,
                    started_at=now,
                )
                state.run_requested_at = None
                _mark_started(session, state, manual, now)
                return manual
            if state.next_run_at is not None and now < state.next_run_at:
                return None
            period = spec.period_start(now)
            run = session.exec(
                select(JobRun).where(JobRun.job == spec.name, JobRun.period_start == period)
            ).first()
            if run is None:
                run = JobRun(job=spec.name, period_start=period, holder=holder, started_at=now)
            elif run.status == "ok" or (
                run.status == "failed" and run.attempts >= MAX_ATTEMPTS_PER_PERIOD
            ):
                state.next_run_at = spec.next_period(now)  # this period is done
                session.add(state)
                return None
            elif run.status == "running" and run.started_at > now - stale_after:
                return None  # another holder is still at it
            else:
                run.attempts += 1
                run.holder = holder
                run.started_at = now
                run.status = "running"
                run.error = None
                run.finished_at = None
            _mark_started(session, state, run, now)
            return run
    except IntegrityError:  # another holder inserted this period's run first
        return None


def _mark_started(session: Session, state: JobState, run: JobRun, now: datetime) -> None:
    state.last_started_at = now
    session.add(state)
    session.add(run)
    session.flush()
    session.expunge(run)


def finish_run(
    *,
    engine: Engine,
    spec: JobSpec,
    run: JobRun,
    now: datetime,
    duration: timedelta,
    summary: str = "",
    error: str | None = None,
) -> None:
    """Record a run's outcome on the run and the job; a failure schedules a retry with backoff."""
    with serialized_write(engine) as session:
        row = session.get(JobRun, run.id)
        state = session.get(JobState, spec.name)
        if row is None or state is None:
            return
        if row.holder != run.holder or row.attempts != run.attempts:
            return  # taken over meanwhile: the newer attempt reports
        row.finished_at = now
        row.summary = summary[:500] or None
        state.last_finished_at = now
        state.last_duration_ms = int(duration.total_seconds() * 1000)
        if error is None:
            row.status = "ok"
            state.last_success_at = now
            state.last_summary = row.summary
            state.consecutive_failures = 0
            if row.trigger == "schedule" or state.next_run_at is None or state.next_run_at <= now:
                state.next_run_at = spec.next_period(now)
        else:
            row.status = "failed"
            row.error = error[:1000]
            state.last_error = row.error
            state.last_error_at = now
            state.consecutive_failures += 1
            retry = now + spec.backoff(state.consecutive_failures)
            row.retry_at = retry
            state.next_run_at = retry
        session.add(row)
        session.add(state)


@dataclass(frozen=True)
class JobHealth:
    """A job as /api/health reports it."""

    name: str
    last_success_at: datetime | None
    last_error_at: datetime | None
    last_error: str | None
    next_run_at: datetime | None
    lag_seconds: float
    overdue: bool


def job_health(*, session: Session, now: datetime, grace: timedelta) -> list[JobHealth]:
    """Each known job's lag behind its schedule; overdue once the lag passes `grace`."""
    report = []
    for state in list_states(session=session):
        interval = timedelta(seconds=state.interval_seconds)
        since = state.last_success_at or state.created_at
        lag = max((now - (since + interval)).total_seconds(), 0.0)
        report.append(
            JobHealth(
                name=state.name,
                last_success_at=state.last_success_at,
                last_error_at=state.last_error_at,
                last_error=state.last_error,
                next_run_at=state.next_run_at,
                lag_seconds=lag,
                overdue=lag > grace.total_seconds(),
            )
        )
    return report
