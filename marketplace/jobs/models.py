"""Scheduled jobs: one state row per job, one run row per job and period, one lease row.

The lease row names the single process (across workers and machines sharing the database) that
runs the jobs; the unique (job, period_start) of a run makes a period's run happen once even if
a lease changes hands in the middle of it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from marketplace.clock import utcnow

SCHEDULER_LEASE = "scheduler"


class JobState(SQLModel, table=True):
    __tablename__ = "job_state"
    name: str = Field(primary_key=True, max_length=64)
    interval_seconds: int = 60
    created_at: datetime = Field(default_factory=utcnow)
    last_started_at: datetime | None = None
    last_finished_at: datetime | None = None
    last_success_at: datetime | None = None
    last_error_at: datetime | None = None
    last_error: str | None = Field(default=None, max_length=1000)
    last_summary: str | None = Field(default=None, max_length=500)
    last_duration_ms: int | None = None
    consecutive_failures: int = 0
    # When the scheduler will next start it: the next period, or a retry after a failure.
    next_run_at: datetime | None = None
    # Set by "run now" on the admin page; cleared by the run that honours it.
    run_requested_at: datetime | None = None
    run_requested_by: str | None = Field(default=None, max_length=64)


class JobRun(SQLModel, table=True):
    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("job", "period_start", name="uq_job_run_period"),)
    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=64, index=True)
    # The start of the period this run serves (the request time for a manual run).
    period_start: datetime
    trigger: str = Field(default="schedule", max_length=16)  # "schedule" | "manual"
    holder: str = Field(default="", max_length=128)
    status: str = Field(default="running", max_length=16)  # "running" | "ok" | "failed"
    attempts: int = 1
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    retry_at: datetime | None = None
    error: str | None = Field(default=None, max_length=1000)
    summary: str | None = Field(default=None, max_length=500)


class SchedulerLease(SQLModel, table=True):
    __tablename__ = "scheduler_lease"
    name: str = Field(primary_key=True, max_length=32)
    holder: str = Field(default="", max_length=128)
    acquired_at: datetime | None = None
    expires_at: datetime | None = None
