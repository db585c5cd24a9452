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

from marketplace.db import make_engine
from marketplace.jobs.scheduler import Scheduler
from web.cli.common import load_settings

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
            scheduler.tick()
            scheduler.run_until_idle(timeout=max(s.budget.total_seconds() for s in scheduler.specs))
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
