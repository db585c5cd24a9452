"""`heart worker`: run the scheduled jobs in a process of their own (no web server).

Several workers (and `heart serve` processes) may run against one database: the lease lets one
of them run the jobs and another take over within a lease period when it dies.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Annotated

import typer
from sqlalchemy import Engine

from marketplace.db import make_engine, session_scope
from marketplace.jobs.scheduler import Scheduler
from marketplace.jobs.service import current_lease, recent_runs
from web.cli.common import console, load_settings

log = logging.getLogger("heart.worker")


def register(app: typer.Typer) -> None:
    app.command(
        "worker",
        help="运行定时任务（危机升级、邮件、索引同步、提醒、过期登记等）/ run the scheduled jobs",
    )(worker_command)


def worker_command(
    once: Annotated[
        bool,
        typer.Option("--once", help="只运行一轮到期任务后退出 / run the due jobs once and exit"),
    ] = False,
) -> None:
    """Run the periodic jobs until stopped (SIGTERM or Ctrl-C)."""
    from logging.config import dictConfig

    from search.service import SearchService
    from web.jobs import all_jobs
    from web.observability import logging_config

    settings = load_settings()
    dictConfig(logging_config(settings.log_format))
    engine = make_engine(settings)
    search = SearchService(settings=settings, engine=engine)
    scheduler = Scheduler(engine=engine, settings=settings, specs=all_jobs(lambda: search))
    try:
        if once:
            started = scheduler.tick()
            scheduler.run_until_idle(timeout=max(s.budget.total_seconds() for s in scheduler.specs))
            _report_round(engine, scheduler, started)
            return
        stopped = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopped.set())
        scheduler.start()
        log.info("worker started", extra={"holder": scheduler.holder})
        stopped.wait()
        log.info("worker stopping", extra={"holder": scheduler.holder})
    finally:
        scheduler.stop()
        engine.dispose()


def _report_round(engine: Engine, scheduler: Scheduler, started: list[str]) -> None:
    """Say what one round did: each job run with its outcome, or why none ran."""
    with session_scope(engine) as session:
        if not scheduler.holding:
            lease = current_lease(session=session)
            holder = lease.holder if lease else "?"
            console.print(
                f"调度租约由 {holder} 持有，本轮没有运行任务（它会按时运行）"
                " / another process holds the scheduler lease: no job ran here"
            )
            return
        if not started:
            console.print("没有到期的任务 / no job was due")
        for name in started:
            [run] = recent_runs(session=session, job=name, limit=1)
            outcome = "成功 ok" if run.status == "ok" else f"失败 failed: {run.error}"
            console.print(f"{name}: {outcome}" + (f" · {run.summary}" if run.summary else ""))
