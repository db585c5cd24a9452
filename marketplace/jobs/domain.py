"""The marketplace's own scheduled jobs: service expiry and the login-session purge."""

from __future__ import annotations

from datetime import timedelta

from marketplace import messages
from marketplace.accounts.principal import system_principal
from marketplace.allocation.service import expire_lapsed
from marketplace.clock import LOCAL_TZ
from marketplace.db import serialized_write
from marketplace.jobs.service import JobContext, JobSpec
from marketplace.login_sessions.service import purge_sessions


def expire_services(ctx: JobContext) -> str:
    """Lapse the unused balances of services whose validity ended (a no-op when repeated)."""
    on = ctx.now.astimezone(LOCAL_TZ).date()
    with serialized_write(ctx.engine) as session:
        written = expire_lapsed(session=session, user=system_principal("scheduler"), on=on)
    return messages.JOB_SUMMARY_EXPIRY.format(entries=written, on=on.isoformat())


def purge_login_sessions(ctx: JobContext) -> str:
    """Delete login sessions that ended longer ago than their retention."""
    with serialized_write(ctx.engine) as session:
        count = purge_sessions(session=session, now=ctx.now)
    return messages.JOB_SUMMARY_PURGE.format(count=count)


def marketplace_jobs() -> list[JobSpec]:
    day, budget = timedelta(days=1), timedelta(minutes=10)
    return [
        JobSpec.every(
            day, "service_expiry", expire_services, offset=timedelta(minutes=30), budget=budget
        ),
        JobSpec.every(
            day, "session_purge", purge_login_sessions, offset=timedelta(hours=4), budget=budget
        ),
    ]
