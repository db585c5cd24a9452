"""The in-process scheduler: a daemon thread that holds the lease and runs due jobs.

Every `heart serve` worker process and every `heart worker` starts one; only the holder of the
lease runs jobs, the others renew nothing and wait to take over when the holder's lease lapses
(it died or lost the database). Jobs run on a small thread pool, never on the event loop; a job
over its time budget is recorded as failed and is not started again until it returns. A job's
exception is recorded and retried with backoff; nothing a job does stops the scheduler.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from marketplace import messages
from marketplace.clock import utcnow
from marketplace.errors import DomainError
from marketplace.jobs import service
from marketplace.jobs.models import JobRun
from marketplace.jobs.service import JobContext, JobSpec
from marketplace.settings import Settings

log = logging.getLogger("heart.jobs")

Clock = Callable[[], datetime]
# Called after each run: job name, "ok" | "failed", seconds.
RunObserver = Callable[[str, str, float], None]


def holder_id() -> str:
    """This process's name in the lease: host, process id and a random suffix."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class _InFlight:
    spec: JobSpec
    run: JobRun
    future: Future[str]
    started: float  # time.monotonic()
    started_at: datetime
    over_budget_noted: bool = False
    # When the body returned (time.monotonic()), set by the pool thread: a run is collected at
    # the next round, and its duration must not include the wait for that round.
    ended: list[float] = field(default_factory=list)


def _timed(body: Callable[[JobContext], str], context: JobContext, ended: list[float]) -> str:
    try:
        return body(context)
    finally:
        ended.append(time.monotonic())


class Scheduler:
    """Runs `specs` in whichever process holds the lease (see module docstring)."""

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        specs: list[JobSpec],
        clock: Clock = utcnow,
        observer: RunObserver | None = None,
        holder: str | None = None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        overrides = settings.scheduler_intervals
        self.specs = [service.with_interval(s, overrides.get(s.name)) for s in specs]
        self.clock = clock
        self.observer = observer
        self.holder = holder or holder_id()
        self.lease_ttl = timedelta(seconds=settings.scheduler_lease_seconds)
        self.poll_seconds = settings.scheduler_poll_seconds
        self.holding = False
        self._ensured = False
        self._in_flight: dict[str, _InFlight] = {}
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="heart-job")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heart-scheduler", daemon=True)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> Scheduler:
        self._thread.start()
        return self

    def stop(self, wait_seconds: float = 10.0) -> None:
        """Stop taking work, let running jobs finish briefly, and hand the lease back."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=wait_seconds)
        wait([f.future for f in self._in_flight.values()], timeout=wait_seconds)
        self._collect()
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.holding:
            try:
                service.release_lease(engine=self.engine, holder=self.holder, now=self.clock())
            except Exception:
                log.exception("releasing the scheduler lease failed")
            self.holding = False

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:  # the database may be down: try again next round
                log.exception("scheduler round failed")
            self._stop.wait(self.poll_seconds)

    # -- one round -------------------------------------------------------------------------
    def tick(self) -> list[str]:
        """One round: renew the lease, record finished jobs, start the due ones (their names)."""
        now = self.clock()
        was_holding = self.holding
        self.holding = service.acquire_lease(
            engine=self.engine, holder=self.holder, now=now, ttl=self.lease_ttl
        )
        if self.holding and not was_holding:
            log.info("scheduler lease taken", extra={"holder": self.holder})
        self._collect()
        if not self.holding:
            return []
        if not self._ensured:
            service.ensure_jobs(engine=self.engine, specs=self.specs, now=now)
            self._ensured = True
        started = []
        stale_after = self.lease_ttl + max((s.budget for s in self.specs), default=self.lease_ttl)
        # Read first, so a round with nothing due takes no write lock beyond the lease's.
        due = service.due_jobs(engine=self.engine, now=now)
        for spec in self.specs:
            if spec.name in self._in_flight or spec.name not in due:
                continue
            run = service.claim_due_run(
                engine=self.engine,
                spec=spec,
                holder=self.holder,
                now=now,
                stale_after=stale_after,
            )
            if run is None:
                continue
            context = JobContext(engine=self.engine, settings=self.settings, now=now)
            ended: list[float] = []
            # The start is read before the body can run: a body that ends before submit()
            # returns would otherwise be timed from after its end (a negative duration).
            begun = time.monotonic()
            future = self._pool.submit(_timed, spec.run, context, ended)
            self._in_flight[spec.name] = _InFlight(spec, run, future, begun, now, ended=ended)
            started.append(spec.name)
        return started

    def run_until_idle(self, timeout: float = 30.0) -> None:
        """Wait for the jobs started so far and record them (tests and one-shot runs)."""
        wait([f.future for f in self._in_flight.values()], timeout=timeout)
        self._collect()

    def _collect(self) -> None:
        for name, flight in list(self._in_flight.items()):
            elapsed = (flight.ended[0] if flight.ended else time.monotonic()) - flight.started
            if not flight.future.done():
                if elapsed > flight.spec.budget.total_seconds() and not flight.over_budget_noted:
                    flight.over_budget_noted = True
                    self._record(flight, elapsed, error=messages.JOB_OVER_BUDGET)
                continue
            del self._in_flight[name]
            if flight.over_budget_noted:
                continue  # already recorded as failed
            try:
                summary = flight.future.result()
            except DomainError as exc:
                self._record(flight, elapsed, error=exc.message)
            except Exception as exc:
                log.error(
                    "job %s failed",
                    name,
                    exc_info=(type(exc), exc, exc.__traceback__),
                    extra={"job": name},
                )
                self._record(flight, elapsed, error=f"{type(exc).__name__}: {exc}")
            else:
                self._record(flight, elapsed, summary=summary or "")

    def _record(
        self, flight: _InFlight, elapsed: float, *, summary: str = "", error: str | None = None
    ) -> None:
        now = max(self.clock(), flight.started_at)
        try:
            service.finish_run(
                engine=self.engine,
                spec=flight.spec,
                run=flight.run,
                now=now,
                duration=timedelta(seconds=elapsed),
                summary=summary,
                error=error,
            )
        except Exception:
            log.exception("recording job %s failed", flight.spec.name)
        if self.observer is not None:
            self.observer(flight.spec.name, "failed" if error else "ok", elapsed)
        if error is None:
            log.info(
                "job %s ok in %.2fs: %s",
                flight.spec.name,
                elapsed,
                summary,
                extra={"job": flight.spec.name, "duration_ms": round(elapsed * 1000)},
            )
